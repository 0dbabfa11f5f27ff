using System.Diagnostics;
using System.Text;
using System.Text.Json;
using RagTune.TestKit;
using Xunit.Abstractions;

namespace RagTune.Tokenizers.Tests;

/// <summary>
/// SmolLM2-135M-Instruct's Hugging Face tokenizer.json, against golden ids from the independent Python BPE in
/// dev/reference/tokenizers/bpe_golden.py, plus round trips and special-token splitting.
/// </summary>
public sealed class ByteLevelBpeSmolLm2Tests(ITestOutputHelper output)
{
    private static readonly Lazy<ByteLevelBpeTokenizer> s_smol = new(() =>
        ByteLevelBpeTokenizer.FromTokenizerJson(SharedData.File("tokenizers", "smollm2-135m-instruct", "tokenizer.json")));

    internal static ByteLevelBpeTokenizer Smol => s_smol.Value;

    private static JsonElement LoadGolden(string name)
    {
        var path = SharedData.Repo("dev", "reference", "tokenizers", "golden", name);
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.Clone();
    }

    public static TheoryData<int, string, int[]> GoldenIds()
    {
        var data = new TheoryData<int, string, int[]>();
        var i = 0;
        foreach (var c in LoadGolden("smollm2_ids.json").GetProperty("cases").EnumerateArray())
            data.Add(i++, c.GetProperty("text").GetString()!, [.. c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32())]);
        return data;
    }

    [Theory]
    [MemberData(nameof(GoldenIds))]
    public void Encodes_like_the_independent_python_reference(int index, string text, int[] expected)
    {
        var actual = Smol.Encode(text, addBos: false);
        Assert.True(expected.SequenceEqual(actual), $"case {index}: expected [{string.Join(' ', expected)}] got [{string.Join(' ', actual)}]");
    }

    [Theory]
    [InlineData("def f(x):\n    return {'a': [1, 2, 3]}  # comment\n")]
    [InlineData("0123456789 3.14159 1,000,000 ٣٤٥ ½")]
    [InlineData("Ünïcödé àccents: Ærøskøbing, Straße, Ελληνικά, русский")]
    [InlineData("emoji 😀🐶👍🏽👨‍👩‍👧 flags 🇯🇵")]
    [InlineData("中文测试：你好，世界！日本語のテキスト。한국어 𠀀𠀁")]
    [InlineData("  \t\n\n   lots   of\r\n whitespace \u00a0\u3000 end   ")]
    [InlineData("")]
    public void Round_trips_plain_text(string text)
    {
        var ids = Smol.Encode(text, addBos: false);
        Assert.Equal(text, Smol.Decode([.. ids]));
        Assert.Equal(text, Stream(Smol, ids));
    }

    [Fact]
    public void Special_tokens_inside_text_become_their_ids()
    {
        var ids = Smol.Encode("<|im_start|>user\nhi<|im_end|>", addBos: false);
        Assert.Equal(1, ids[0]);
        Assert.Equal(2, ids[^1]);
        Assert.Equal([.. Smol.Encode("user\nhi", addBos: false)], ids.Skip(1).Take(ids.Count - 2));
        Assert.Equal("user\nhi", Smol.Decode([.. ids])); // control tokens decode to nothing
        Assert.True(Smol.IsControl(1) && Smol.IsControl(2));
        Assert.Equal("<|im_start|>", Smol.TokenText(1));

        // parseSpecial: false keeps written control tokens as text.
        var literal = new List<int>();
        Smol.Encode("<|im_end|>", addBos: false, parseSpecial: false, literal);
        Assert.DoesNotContain(2, literal);
        Assert.Equal("<|im_end|>", Smol.Decode([.. literal]));
    }

    [Fact]
    public void Smol_vocabulary_shape_and_special_ids()
    {
        Assert.Equal(49152, Smol.VocabSize);
        Assert.Equal(ByteLevelPreTokenizerKind.DigitsThenGpt2, Smol.PreTokenizer);
        Assert.Equal((1, 2), (Smol.BosId, Smol.EosId)); // from config.json beside tokenizer.json
        Assert.Equal(-1, Smol.UnknownId);
        Assert.Equal(1, Smol.TokenToId("<|im_start|>"));
        Assert.Equal(198, Smol.TokenToId("Ċ"));
        Assert.Equal(-1, Smol.TokenToId("no such token"));
    }

    [Fact]
    public void Streaming_holds_partial_utf8_until_complete()
    {
        // "😀" is four bytes; byte tokens arrive one at a time when the emoji is not a single token.
        var ids = Smol.Encode("😀", addBos: false);
        var decoder = Smol.CreateStreamingDecoder();
        var outputs = ids.Select(decoder.Append).ToList();
        Assert.Equal("😀", string.Concat(outputs) + decoder.Flush());
        Assert.All(outputs.Take(outputs.Count - 1), o => Assert.Equal("", o));

        var rng = new Random(7);
        for (var round = 0; round < 300; round++)
        {
            var random = new int[rng.Next(0, 30)];
            for (var i = 0; i < random.Length; i++)
                random[i] = rng.Next(Smol.VocabSize);
            Assert.Equal(Smol.Decode(random), Stream(Smol, random));
        }
    }

    [Fact]
    public void A_100_kb_text_round_trips()
    {
        var sb = new StringBuilder();
        var rng = new Random(3);
        string[] words = ["the", "tokenizer", "splits", "words", "123", "x=42;", "naïve", "你好", "😀", "\n", "  ", "Straße", "foo_bar(baz)"];
        while (sb.Length < 100_000)
            sb.Append(words[rng.Next(words.Length)]).Append(rng.Next(3) == 0 ? "" : " ").Append(rng.Next(1000));
        var text = sb.ToString();
        var load = Stopwatch.StartNew();
        var fresh = ByteLevelBpeTokenizer.FromTokenizerJson(SharedData.File("tokenizers", "smollm2-135m-instruct", "tokenizer.json"));
        load.Stop();
        var watch = Stopwatch.StartNew();
        var ids = fresh.Encode(text, addBos: false); // cold cache
        watch.Stop();
        var warm = Stopwatch.StartNew();
        fresh.Encode(text, addBos: false);
        warm.Stop();
        output.WriteLine($"load {load.Elapsed.TotalMilliseconds:F0} ms; encode {text.Length} chars → {ids.Count} ids: cold {watch.Elapsed.TotalMilliseconds:F0} ms, warm {warm.Elapsed.TotalMilliseconds:F0} ms");
        Assert.Equal(text, fresh.Decode([.. ids]));
    }

    [Fact]
    public void Long_word_without_cache_merges_correctly()
    {
        var word = string.Concat(Enumerable.Repeat("abcdefghij", 50)); // 500 chars: too long for the cache
        var ids = Smol.Encode(word, addBos: false);
        Assert.Equal(word, Smol.Decode([.. ids]));
        Assert.Equal(ids, Smol.Encode(word, addBos: false));
    }

    internal static string Stream(ITokenizer tokenizer, IEnumerable<int> ids)
    {
        var decoder = tokenizer.CreateStreamingDecoder();
        var text = new StringBuilder();
        foreach (var id in ids)
            text.Append(decoder.Append(id));
        return text.Append(decoder.Flush()).ToString();
    }
}
