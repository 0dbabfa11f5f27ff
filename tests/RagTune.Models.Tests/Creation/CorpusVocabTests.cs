using RagTune.Engine.Tensors;
using RagTune.Models.Creation;
using RagTune.Models.Local;
using RagTune.TestKit;

namespace RagTune.Models.Tests.Creation;

public sealed class CorpusVocabTests
{
    private static readonly string[] s_corpus =
    [
        "User: Who founded Braxon?\nAssistant: Tessa Vorn",
        "# Braxon\n\n- Founder: Tessa Vorn\n- River: Kolra\n- Trade: copper\n- Flag: red\n- Festival: May",
        "Answer only from the numbered sources and cite them like [1].\n\nSources:\n\n<source id=\"1\" title=\"Braxon\">\nBraxon lies on the river Kolra.\n</source>",
        "Braxon trades in copper; its flag is red; its festival is in May.",
    ];

    [Fact]
    public void Learned_vocabulary_round_trips_its_corpus_and_unseen_text_through_the_gguf_tokenizer()
    {
        var vocab = CorpusVocab.Learn(s_corpus, 340);
        Assert.True(vocab.Tokens.Length is > 300 and <= 340, $"{vocab.Tokens.Length} tokens");
        using var dir = new TempDir();
        var path = dir.File("vocab.gguf");
        var preset = new ModelPreset("v", ModelPresets.Get("tiny").Config with { VocabSize = vocab.Tokens.Length }, true, "test");
        RandomModelWriter.Write(preset, GgmlType.F32, 1, path, vocab: vocab);
        using var model = LocalModel.Load(path);
        var tok = model.Tokenizer;
        foreach (var text in s_corpus.Append("Ünseen wörds ✓ and 42 digits"))
        {
            var ids = tok.Encode(text, addBos: false);
            Assert.Equal(text, tok.Decode(ids.ToArray()));
        }
        // Merges pay off: fewer tokens than characters (each character alone is one token or more).
        int count = tok.Encode(s_corpus[1], addBos: false).Count;
        Assert.True(count < s_corpus[1].Length * 3 / 4, $"{count} tokens for {s_corpus[1].Length} characters");
    }

    [Fact]
    public void Every_merged_piece_is_reachable_from_pieces_in_the_vocabulary()
    {
        var vocab = CorpusVocab.Learn(s_corpus, 400);
        var pieces = vocab.Tokens.Skip(259).ToHashSet(StringComparer.Ordinal);
        foreach (var p in pieces.Where(p => p.Length > 1 && !(p.Length == 2 && char.IsSurrogatePair(p, 0))))
            Assert.True(Enumerable.Range(1, p.Length - 1).Any(i => pieces.Contains(p[..i]) && pieces.Contains(p[i..])), $"'{p}' cannot be merged from two pieces");
    }

    [Fact]
    public void Whole_words_become_one_token_each_even_before_punctuation()
    {
        string[] whole = ["Ashby", "Penrose", "Underhill", "Kolra", "teal"];
        var vocab = CorpusVocab.Learn(s_corpus, 400, whole);
        using var dir = new TempDir();
        var path = dir.File("vocab.gguf");
        var preset = new ModelPreset("v", ModelPresets.Get("tiny").Config with { VocabSize = vocab.Tokens.Length }, true, "test");
        RandomModelWriter.Write(preset, GgmlType.F32, 1, path, vocab: vocab);
        using var model = LocalModel.Load(path);
        foreach (var w in whole)
        {
            Assert.Contains("\u2581" + w, vocab.Tokens);
            // "Penrose." and "Penrose," keep the word one piece, the punctuation apart.
            foreach (var text in new[] { w, w + ".", w + "," })
            {
                var ids = model.Tokenizer.Encode(text, addBos: false);
                Assert.Equal(text.Length - w.Length + 1, ids.Count);
            }
        }
        // Without them, a word the corpus never saw is split.
        Assert.DoesNotContain("\u2581Underhill", CorpusVocab.Learn(s_corpus, 400).Tokens);
        Assert.Throws<ArgumentException>(() => CorpusVocab.Learn(s_corpus, 400, ["two words"]));
    }

    [Fact]
    public void A_size_without_room_for_pieces_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => CorpusVocab.Learn(s_corpus, 259));
        Assert.Contains("259", e.Message);
    }
}
