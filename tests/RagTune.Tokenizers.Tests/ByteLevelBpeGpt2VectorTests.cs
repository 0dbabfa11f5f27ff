using System.Text;
using RagTune.Engine.Formats;
using RagTune.TestKit;

namespace RagTune.Tokenizers.Tests;

/// <summary>
/// llama.cpp's GPT-2 vocabulary test vectors (models/ggml-vocab-gpt-2.gguf with .inp/.out, produced by Hugging
/// Face tokenizers), read as tests/test-tokenizer-0.cpp does: add_special = false, parse_special = false.
/// </summary>
public sealed class ByteLevelBpeGpt2VectorTests
{
    private const string Separator = "\n__ggml_vocab_test__\n";

    private static readonly Lazy<ByteLevelBpeTokenizer> s_gpt2 = new(() =>
        LoadFromGguf(SharedData.File("tokenizers", "llamacpp-vocab", "ggml-vocab-gpt-2.gguf")));

    /// <summary>The constructor call the GGUF model loader makes.</summary>
    internal static ByteLevelBpeTokenizer LoadFromGguf(string path)
    {
        using var gguf = GgufFile.Open(path);
        Assert.Equal("gpt2", gguf.GetString("tokenizer.ggml.model"));
        var pre = gguf.GetString("tokenizer.ggml.pre");
        var vocab = new ByteLevelBpeVocab(
            gguf.GetStringArray("tokenizer.ggml.tokens")!,
            ByteLevelBpeVocab.ParseMerges(gguf.GetStringArray("tokenizer.ggml.merges")!, path),
            gguf.GetIntArray("tokenizer.ggml.token_type"),
            ByteLevelBpeVocab.PreTokenizerFromGgufName(pre, path),
            BosId: (int)(gguf.GetInt("tokenizer.ggml.bos_token_id") ?? -1),
            EosId: (int)(gguf.GetInt("tokenizer.ggml.eos_token_id") ?? -1),
            IgnoreMerges: ByteLevelBpeVocab.GgufIgnoresMerges(pre));
        return new ByteLevelBpeTokenizer(vocab, path);
    }

    public static TheoryData<int, string, int[]> Vectors()
    {
        var inp = File.ReadAllText(SharedData.File("tokenizers", "llamacpp-vocab", "ggml-vocab-gpt-2.gguf.inp"), Encoding.UTF8);
        var outLines = File.ReadAllLines(SharedData.File("tokenizers", "llamacpp-vocab", "ggml-vocab-gpt-2.gguf.out"), Encoding.UTF8);
        var inputs = inp.Split(Separator);
        if (inp.EndsWith(Separator, StringComparison.Ordinal))
            inputs = inputs[..^1]; // the file ends with a separator, as test-tokenizer-0 reads it
        Assert.Equal(outLines.Length, inputs.Length);
        var data = new TheoryData<int, string, int[]>();
        for (var i = 0; i < inputs.Length; i++)
            data.Add(i, inputs[i], [.. outLines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)]);
        return data;
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Reproduces_llama_cpp_test_vector(int index, string input, int[] expected)
    {
        var actual = new List<int>();
        s_gpt2.Value.Encode(input, addBos: false, parseSpecial: false, actual);
        Assert.True(expected.SequenceEqual(actual),
            $"vector {index} '{input}': expected [{string.Join(' ', expected)}] got [{string.Join(' ', actual)}]");
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Decodes_test_vector_back_to_its_input(int index, string input, int[] expected)
    {
        Assert.True(input == s_gpt2.Value.Decode(expected), $"vector {index}");
    }

    [Fact]
    public void Gpt2_vocabulary_shape()
    {
        var tok = s_gpt2.Value;
        Assert.Equal(50257, tok.VocabSize);
        Assert.Equal((50256, 50256), (tok.BosId, tok.EosId));
        Assert.Equal(TokenizerKind.ByteLevelBpe, tok.Kind);
        Assert.Equal(ByteLevelPreTokenizerKind.Gpt2, tok.PreTokenizer);
        Assert.True(tok.IsControl(50256));
        Assert.Equal([15496, 995], tok.Encode("Hello world", addBos: false));
    }
}
