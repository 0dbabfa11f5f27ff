using System.Text.Json.Nodes;
using RagTune.TestKit;
using RagTune.TestKit.Fuzzing;

namespace RagTune.Tokenizers.Tests;

/// <summary>
/// Seeded mutants of real tokenizer.json files (smollm2's byte-level BPE, all-MiniLM-L6-v2's WordPiece), cut to
/// their first few hundred ids so the mutations hit structure rather than the long vocabulary: each loads, and then
/// encodes and decodes text, or fails with <see cref="TokenizerFormatException"/> naming the file. Counts are in
/// docs/reliability.md.
/// </summary>
public sealed class TokenizerJsonFuzzTests
{
    private const string Sample = "Hello world, naïve café: 1234 <|im_start|>user [CLS] ünïcödé 日本語 🙂";

    private static bool Documented(Exception e) => e is TokenizerFormatException;

    /// <summary>A real tokenizer.json with only ids below <paramref name="keep"/> (and the merges among them).</summary>
    private static byte[] Trimmed(string shared, int keep)
    {
        var root = JsonNode.Parse(File.ReadAllText(SharedData.File("tokenizers", shared, "tokenizer.json")))!.AsObject();
        var model = root["model"]!.AsObject();
        var vocab = model["vocab"]!.AsObject();
        var kept = new JsonObject();
        foreach (var (token, id) in vocab.ToList())
            if (id!.GetValue<int>() < keep) kept[token] = id.GetValue<int>();
        model["vocab"] = kept;
        if (model["merges"] is JsonArray merges)
        {
            var keptMerges = new JsonArray();
            foreach (var m in merges)
            {
                var parts = m!.GetValue<string>().Split(' ');
                if (kept.ContainsKey(parts[0]) && kept.ContainsKey(parts[1]) && kept.ContainsKey(parts[0] + parts[1])) keptMerges.Add(m.GetValue<string>());
            }
            model["merges"] = keptMerges;
        }
        var added = new JsonArray();
        foreach (var a in root["added_tokens"]!.AsArray())
            if (a!["id"]!.GetValue<int>() < keep) added.Add(a.DeepClone());
        root["added_tokens"] = added;
        if (root["post_processor"] is JsonObject) root.Remove("post_processor"); // names ids the cut may have dropped
        return System.Text.Encoding.UTF8.GetBytes(root.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
    }

    private static void Use(ITokenizer tokenizer)
    {
        var ids = tokenizer.Encode(Sample, addBos: true);
        _ = tokenizer.Decode([.. ids]);
    }

    [Fact]
    public void Mutated_byte_level_bpe_tokenizer_json_loads_or_is_refused_by_name()
    {
        using var dir = new TempDir();
        var valid = Trimmed("smollm2-135m-instruct", 700);
        var path = dir.File("tokenizer.json");
        File.WriteAllBytes(path, valid);
        Use(ByteLevelBpeTokenizer.FromTokenizerJson(path)); // the trimmed file itself is valid
        var opened = FuzzRun.Run(path, seed: 30, count: 1500, r => Mutants.Text(r, valid), p => Use(ByteLevelBpeTokenizer.FromTokenizerJson(p)), Documented);
        Assert.InRange(opened, 1, 1499); // some mutants still load, some are refused: the mutations reach both sides
    }

    [Fact]
    public void Mutated_wordpiece_tokenizer_json_loads_or_is_refused_by_name()
    {
        using var dir = new TempDir();
        var valid = Trimmed("all-minilm-l6-v2", 2500);
        var path = dir.File("tokenizer.json");
        File.WriteAllBytes(path, valid);
        Use(WordPieceTokenizer.FromTokenizerJson(path));
        var opened = FuzzRun.Run(path, seed: 31, count: 1500, r => Mutants.Text(r, valid), p => Use(WordPieceTokenizer.FromTokenizerJson(p)), Documented);
        Assert.InRange(opened, 1, 1499);
    }

    /// <summary>What the fuzz runs found (each surfaced as a bare FormatException or InvalidOperationException before).</summary>
    [Theory]
    [InlineData("smollm2-135m-instruct", 700, "\"!\": 17", "\"!\": 1e99", "model.vocab[\"!\"] is number 1e99; it must be a whole number")]
    [InlineData("smollm2-135m-instruct", 700, "\"id\": 0", "\"id\": \"0\"", "added_tokens[0].id is string \"0\"; it must be a whole number")]
    [InlineData("all-minilm-l6-v2", 2500, "\"[PAD]\": 0", "\"[PAD]\": 99999999999", "model.vocab[\"[PAD]\"] is number 99999999999")]
    [InlineData("all-minilm-l6-v2", 2500, "\"type\": \"WordPiece\"", "\"type\": 7", "model.type is number 7; it must be a string")]
    public void Wrong_field_types_are_named(string shared, int keep, string find, string replace, string expected)
    {
        using var dir = new TempDir();
        var path = dir.File("tokenizer.json");
        var text = System.Text.Encoding.UTF8.GetString(Trimmed(shared, keep));
        Assert.Contains(find, text);
        File.WriteAllText(path, text.Replace(find, replace, StringComparison.Ordinal));
        var e = Assert.Throws<TokenizerFormatException>(() =>
            _ = shared == "all-minilm-l6-v2" ? WordPieceTokenizer.FromTokenizerJson(path) : (ITokenizer)ByteLevelBpeTokenizer.FromTokenizerJson(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Invalid_utf8_is_refused_with_its_byte_offset()
    {
        using var dir = new TempDir();
        var path = dir.File("tokenizer.json");
        var bytes = Trimmed("smollm2-135m-instruct", 700);
        int at = Array.IndexOf(bytes, (byte)'!');
        bytes[at] = 0xC3; // a lead byte followed by '"', not a continuation byte
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<TokenizerFormatException>(() => ByteLevelBpeTokenizer.FromTokenizerJson(path));
        Assert.Contains($"at byte offset {at}: not valid UTF-8", e.Message);
    }
}
