using System.Text;
using RagTune.Engine.Formats;
using RagTune.TestKit;

namespace RagTune.Tokenizers.Tests;

/// <summary>
/// llama.cpp's tokenizer test vectors for the Llama 2 SentencePiece vocabulary (models/ggml-vocab-llama-spm.gguf
/// with its .inp/.out files), read exactly as tests/test-tokenizer-0.cpp does: inputs are separated by
/// "\n__ggml_vocab_test__\n", the .out file has one line of space-separated ids per input, and each input is
/// encoded with add_special = false (no BOS) and parse_special = false, with the vocabulary's default
/// add_space_prefix = true (the GGUF has no tokenizer.ggml.add_space_prefix key).
/// </summary>
public sealed class LlamaCppVocabTests
{
    private const string Separator = "\n__ggml_vocab_test__\n";

    private static readonly Lazy<SentencePieceTokenizer> s_llama = new(() =>
        LoadFromGguf(SharedData.File("tokenizers", "llamacpp-vocab", "ggml-vocab-llama-spm.gguf")));

    /// <summary>The constructor call the GGUF model loader makes, with llama.cpp's defaults for absent keys.</summary>
    internal static SentencePieceTokenizer LoadFromGguf(string path)
    {
        using var gguf = GgufFile.Open(path);
        Assert.Equal("llama", gguf.GetString("tokenizer.ggml.model"));
        var vocab = new SentencePieceVocab(
            gguf.GetStringArray("tokenizer.ggml.tokens")!,
            gguf.GetFloatArray("tokenizer.ggml.scores")!,
            gguf.GetIntArray("tokenizer.ggml.token_type"),
            BosId: (int)(gguf.GetInt("tokenizer.ggml.bos_token_id") ?? 1),
            EosId: (int)(gguf.GetInt("tokenizer.ggml.eos_token_id") ?? 2),
            UnknownId: (int)(gguf.GetInt("tokenizer.ggml.unknown_token_id") ?? 0),
            AddSpacePrefix: gguf.GetBool("tokenizer.ggml.add_space_prefix") ?? true);
        return new SentencePieceTokenizer(vocab, path);
    }

    public static TheoryData<int, string, int[]> Vectors()
    {
        var inp = File.ReadAllText(SharedData.File("tokenizers", "llamacpp-vocab", "ggml-vocab-llama-spm.gguf.inp"), Encoding.UTF8);
        var outLines = File.ReadAllLines(SharedData.File("tokenizers", "llamacpp-vocab", "ggml-vocab-llama-spm.gguf.out"), Encoding.UTF8);

        var inputs = new List<string>();
        for (var pos = 0; pos < inp.Length;)
        {
            var next = inp.IndexOf(Separator, pos, StringComparison.Ordinal);
            if (next < 0)
            {
                inputs.Add(inp[pos..]);
                break;
            }
            inputs.Add(inp[pos..next]);
            pos = next + Separator.Length;
        }
        Assert.Equal(outLines.Length, inputs.Count);

        var data = new TheoryData<int, string, int[]>();
        for (var i = 0; i < inputs.Count; i++)
            data.Add(i, inputs[i], [.. outLines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)]);
        return data;
    }

    [Fact]
    public void Test_files_hold_46_vectors()
    {
        Assert.Equal(46, Vectors().Count);
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Reproduces_llama_cpp_test_vector(int index, string input, int[] expected)
    {
        var actual = s_llama.Value.Encode(input, addBos: false);
        Assert.True(expected.SequenceEqual(actual),
            $"vector {index}: expected [{string.Join(' ', expected)}] got [{string.Join(' ', actual)}]");
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Decodes_test_vector_back_to_its_input(int index, string input, int[] expected)
    {
        Assert.True(input == s_llama.Value.Decode(expected), $"vector {index}");
        Assert.Equal(input, s_llama.Value.Decode([s_llama.Value.BosId, .. expected]));
    }

    [Fact]
    public void Llama_vocabulary_specials_and_known_pieces()
    {
        var tok = s_llama.Value;
        Assert.Equal(32000, tok.VocabSize);
        Assert.Equal((1, 2, 0), (tok.BosId, tok.EosId, tok.UnknownId));
        Assert.True(tok.AddSpacePrefix);
        Assert.Equal("\u2581Hello", tok.TokenText(15043));
        Assert.Equal("<0x0A>", tok.TokenText(13));
        Assert.Equal([1, 15043, 3186], tok.Encode("Hello world", addBos: true));
        // Literal control text stays text (SentencePiece behaviour), never the BOS id.
        Assert.DoesNotContain(1, tok.Encode("<s>hi</s>", addBos: false));
    }
}
