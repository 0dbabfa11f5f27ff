using System.Text.Json;
using RagTune.Rag.Store;
using RagTune.TestKit;
using RagTune.TestKit.Stores;

namespace RagTune.Rag.Sqlite.Tests;

/// <summary>
/// The in-memory keyword index against FTS5's own <c>bm25()</c> (the reference path, same file): the same chunks,
/// in the same order, with bit-identical scores.
/// </summary>
public sealed class KeywordIndexTests
{
    private static readonly string[] s_vocabulary =
    [
        "cell", "cells", "cellular", "protein", "proteins", "gene", "genes", "expression", "expressed", "mouse", "mice",
        "tumor", "tumour", "growth", "signal", "signaling", "signalling", "run", "running", "runs", "naïve", "café",
        "x2", "2024", "β-cell", "in", "the", "of", "and", "dna", "rna", "αβ", "over-expression", "trade", "trades", "กิน",
    ];

    [Theory]
    [InlineData(1.0)]
    [InlineData(0.37)] // a weight whose repeated sum differs from a product
    [InlineData(2.5)]
    public async Task Random_corpus_matches_fts5_bm25_exactly(double titleWeight)
    {
        using var dir = new TempDir();
        var rng = new Random(7);
        using var fast = SqliteChunkStore.Open("c", new SqliteStoreOptions { DataDirectory = dir.Path, TitleWeight = titleWeight });
        using var reference = SqliteChunkStore.Open("c", new SqliteStoreOptions { DataDirectory = dir.Path, TitleWeight = titleWeight, InMemoryKeywordIndex = false });
        var docs = Enumerable.Range(0, 300).Select(i => StoreData.Write("d" + i, Sentences(rng, 1 + rng.Next(4)), Words(rng, 1 + rng.Next(5)),
            new Dictionary<string, string> { ["ext"] = i % 3 == 0 ? "md" : "txt" })).ToList();
        await fast.WriteBatchAsync(docs, null);
        await AssertSame(fast, reference, rng);

        // A write moves the version: the index is read again (deleted and rewritten documents included).
        await fast.DeleteDocumentsAsync(["d1", "d2", "d50"]);
        await fast.WriteBatchAsync([StoreData.Write("d3", Sentences(rng, 2), "cells"), StoreData.Write("new", "trade trades running", "gene")], null);
        await AssertSame(fast, reference, rng);
    }

    [Fact]
    public async Task SciFact_titles_match_fts5_bm25_exactly()
    {
        using var dir = new TempDir();
        using var fast = SqliteChunkStore.Open("c", new SqliteStoreOptions { DataDirectory = dir.Path });
        using var reference = SqliteChunkStore.Open("c", new SqliteStoreOptions { DataDirectory = dir.Path, InMemoryKeywordIndex = false });
        var lines = File.ReadLines(SharedData.File("data", "beir-scifact", "corpus.jsonl")).Take(1500).ToList();
        var docs = new List<(string Title, string Text)>();
        var writes = new List<DocumentWrite>();
        foreach (var line in lines)
        {
            using var j = JsonDocument.Parse(line);
            string id = j.RootElement.GetProperty("_id").GetString()!, title = j.RootElement.GetProperty("title").GetString()!;
            string text = j.RootElement.GetProperty("text").GetString()!;
            docs.Add((title, text));
            writes.Add(new DocumentWrite(StoreData.Doc(id, text, title), [new Chunk(0, text, 0, text.Length, [], 1)], null));
        }
        await fast.WriteBatchAsync(writes, null);
        foreach (var (title, text) in docs.Take(150))
        {
            await AssertSameQuery(fast, reference, title, 50, SearchFilter.None);
            await AssertSameQuery(fast, reference, text[..Math.Min(200, text.Length)], 10, SearchFilter.None);
        }
    }

    private static async Task AssertSame(SqliteChunkStore fast, SqliteChunkStore reference, Random rng)
    {
        var md = new SearchFilter(new Dictionary<string, string> { ["ext"] = "md" });
        for (int q = 0; q < 150; q++)
        {
            var query = Words(rng, 1 + rng.Next(8));
            await AssertSameQuery(fast, reference, query, 1 + rng.Next(60), q % 4 == 0 ? md : SearchFilter.None);
        }
        await AssertSameQuery(fast, reference, "absentword cell", 10, SearchFilter.None);
        await AssertSameQuery(fast, reference, "trades trade", 400, SearchFilter.None); // two phrases, one term
        // Words FTS5 splits in two ("กิน": ก, น) or drops (a lone combining mark) are phrase queries: FTS5 answers those.
        await AssertSameQuery(fast, reference, "กิน cell", 20, SearchFilter.None);
        await AssertSameQuery(fast, reference, "\u0301 cell", 20, SearchFilter.None);
        Assert.NotNull(fast.HeldKeywordIndex);
        Assert.Null(reference.HeldKeywordIndex);
    }

    private static async Task AssertSameQuery(SqliteChunkStore fast, SqliteChunkStore reference, string query, int k, SearchFilter filter)
    {
        var want = await reference.SearchKeywordAsync(query, k, filter);
        var got = await fast.SearchKeywordAsync(query, k, filter);
        Assert.True(want.Select(h => h.Chunk.ChunkId).SequenceEqual(got.Select(h => h.Chunk.ChunkId)), $"'{query}' k={k}: other chunks or order");
        Assert.Equal(want.Select(h => h.Score), got.Select(h => h.Score)); // exact doubles
        Assert.Equal(want.Select(h => h.Rank), got.Select(h => h.Rank));
        Assert.Equal(want.Select(h => h.Chunk.Chunk.Text), got.Select(h => h.Chunk.Chunk.Text));
    }

    private static string Words(Random rng, int n) => string.Join(' ', Enumerable.Range(0, n).Select(_ => s_vocabulary[rng.Next(s_vocabulary.Length)]));

    private static string Sentences(Random rng, int n) => string.Join(". ", Enumerable.Range(0, n).Select(_ => Words(rng, 1 + rng.Next(30))));

    [Fact]
    public void Query_words_are_analysed_by_the_index_tokenizer()
    {
        var terms = Fts5QueryTerms.Shared.Terms(["trades", "running", "café", "naïve", "x2", "กิน", "\u0301"]);
        Assert.Equal("trade run cafe naiv x2 - -", string.Join(' ', terms.Select(t => t ?? "-")));
    }

    [Fact]
    public void Varints_decode_as_sqlite_writes_them()
    {
        byte[] data = [0x05, 0x81, 0x00, 0xff, 0x7f];
        int at = 0;
        Assert.Equal(5, Fts5Varint.Read(data, ref at));
        Assert.Equal(128, Fts5Varint.Read(data, ref at));
        Assert.Equal(16383, Fts5Varint.Read(data, ref at));
        Assert.Equal(data.Length, at);
    }
}
