using System.Text.Json;
using RagTune.TestKit;

namespace RagTune.Tokenizers.Tests;

/// <summary>
/// The hand-written split matchers against Python's <c>re</c> engine running the real regexes with Unicode
/// classes spelled out (dev/reference/tokenizers/bpe_golden.py --splits).
/// </summary>
public sealed class ByteLevelPreTokenizerTests
{
    public static TheoryData<string, string, string[]> Cases()
    {
        var path = SharedData.Repo("dev", "reference", "tokenizers", "golden", "pretokenizer_splits.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var data = new TheoryData<string, string, string[]>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            foreach (var kind in new[] { "gpt2", "llama3", "qwen2" })
                data.Add(kind, c.GetProperty("text").GetString()!, [.. c.GetProperty(kind).EnumerateArray().Select(e => e.GetString()!)]);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Splits_like_the_regex(string kind, string text, string[] expected)
    {
        var k = kind switch
        {
            "gpt2" => ByteLevelPreTokenizerKind.Gpt2,
            "llama3" => ByteLevelPreTokenizerKind.Llama3,
            _ => ByteLevelPreTokenizerKind.Qwen2,
        };
        Assert.Equal(expected, Split(k, text));
    }

    [Fact]
    public void Digits_then_gpt2_isolates_every_digit()
    {
        Assert.Equal(["a", " ", "1", "2", " b", "3"], Split(ByteLevelPreTokenizerKind.DigitsThenGpt2, "a 12 b3"));
    }

    internal static List<string> Split(ByteLevelPreTokenizerKind kind, string text)
    {
        var pieces = new List<(int Start, int Length)>();
        ByteLevelPreTokenizer.Split(kind, text, ref pieces, static (ref List<(int, int)> p, int start, int length) => p.Add((start, length)));
        return [.. pieces.Select(p => text.Substring(p.Start, p.Length))];
    }
}
