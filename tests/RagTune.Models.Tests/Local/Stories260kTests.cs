using RagTune.Engine.Models;
using RagTune.Engine.Sampling;
using RagTune.Models.Local;
using RagTune.TestKit;

namespace RagTune.Models.Tests.Local;

/// <summary>The real pretrained stories260K model, from both of its file formats.</summary>
public sealed class Stories260kTests
{
    private const string Expected = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";

    private static string Gguf => SharedData.File("models", "stories260k", "stories260K.gguf");
    private static string LlamaCBin => SharedData.File("models", "stories260k", "stories260K.bin");
    private static string Tok512 => SharedData.File("models", "stories260k", "tok512.bin");

    private static (string Text, List<int> Tokens) Greedy(string model, string? tokenizer, int maxTokens = 40)
    {
        using var local = LocalModel.Load(model, tokenizer);
        using var session = new InferenceSession(local.Engine, new SessionOptions(256, Threads: 2));
        var generator = new TextGenerator(local, session);
        var text = new System.Text.StringBuilder();
        var tokens = new List<int>();
        generator.Generate([local.Tokenizer.BosId], new GenerationSettings(SamplerOptions.Greedy, maxTokens), s => text.Append(s), onToken: tokens.Add);
        return (text.ToString(), tokens);
    }

    [Fact]
    public void Greedy_decoding_from_BOS_tells_the_story_from_the_gguf_file()
    {
        var (text, _) = Greedy(Gguf, null);
        Assert.StartsWith(Expected, text);
    }

    [Fact]
    public void Greedy_decoding_from_BOS_tells_the_story_from_the_llama2c_checkpoint()
    {
        var (text, _) = Greedy(LlamaCBin, Tok512);
        Assert.StartsWith(Expected, text);
    }

    [Fact]
    public void Both_formats_produce_identical_token_ids()
    {
        var (_, fromGguf) = Greedy(Gguf, null, 60);
        var (_, fromBin) = Greedy(LlamaCBin, Tok512, 60);
        Assert.Equal(fromGguf, fromBin);
    }

    [Fact]
    public void The_llama2c_tokenizer_is_found_beside_the_checkpoint()
    {
        // tok512.bin sits beside stories260K.bin, so no --tokenizer is needed.
        using var local = LocalModel.Load(LlamaCBin);
        Assert.EndsWith("tok512.bin", local.TokenizerSource);
    }

    [Fact]
    public void Greedy_token_ids_match_the_pytorch_reference()
    {
        var golden = Golden.Load("stories260k_greedy.json");
        // The reference lists BOS first, then the generated ids.
        var expected = golden.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()).Skip(1).ToArray();
        var (_, tokens) = Greedy(Gguf, null, expected.Length);
        Assert.Equal(expected, tokens.ToArray());
    }
}
