using Microsoft.Extensions.VectorData;
using RagTune.Rag.Sqlite;
using RagTune.Rag.Store;
using RagTune.Samples.VectorSearch;
using RagTune.TestKit;

namespace RagTune.VectorData.Tests;

/// <summary>A record with one metadata field of each kind the provider stores, and a 3-dimensional vector.</summary>
public sealed class Note
{
    [VectorStoreKey]
    public string Id { get; set; } = "";

    [VectorStoreData(IsFullTextIndexed = true)]
    public string Body { get; set; } = "";

    [VectorStoreData]
    public string Lang { get; set; } = "";

    [VectorStoreData]
    public int Year { get; set; }

    [VectorStoreData]
    public bool Draft { get; set; }

    [VectorStoreData(StorageName = "written_at")]
    public DateTimeOffset WrittenAt { get; set; }

    [VectorStoreVector(3)]
    public ReadOnlyMemory<float> Vector { get; set; }
}

/// <summary>Everything through the Microsoft.Extensions.VectorData abstraction, on real SQLite files.</summary>
public sealed class RagTuneVectorStoreTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly VectorStore _store;

    public RagTuneVectorStoreTests() => _store = new RagTuneVectorStore(new RagTuneVectorStoreOptions { DataDirectory = _dir.Path });

    public void Dispose()
    {
        _store.Dispose();
        _dir.Dispose();
    }

    private static Note N(string id, string body, string lang, int year, bool draft, params float[] v) =>
        new() { Id = id, Body = body, Lang = lang, Year = year, Draft = draft, WrittenAt = new DateTimeOffset(2024, 5, year % 28 + 1, 9, 30, 0, TimeSpan.FromHours(2)), Vector = v };

    private async Task<VectorStoreCollection<string, Note>> Filled()
    {
        var c = _store.GetCollection<string, Note>("notes");
        await c.EnsureCollectionExistsAsync();
        await c.UpsertAsync([
            N("a", "the harbour lighthouse keeps ships safe", "en", 2021, false, 1, 0, 0),
            N("b", "le phare du port guide les bateaux", "fr", 2022, false, 0.9f, 0.1f, 0),
            N("c", "a recipe for apple pie with cinnamon", "en", 2022, true, 0, 1, 0),
            N("d", "winter storms close the harbour road", "en", 2023, false, 0, 0, 1),
        ]);
        return c;
    }

    private static async Task<List<string>> Ids(IAsyncEnumerable<VectorSearchResult<Note>> results) =>
        await results.Select(r => r.Record.Id).ToListAsync();

    [Fact]
    public async Task The_sample_application_finds_what_each_search_should()
    {
        using var store = new RagTuneVectorStore(new RagTuneVectorStoreOptions { DataDirectory = _dir.Path, EmbeddingGenerator = new WordHashEmbedder() });
        var output = new StringWriter();
        var found = await Handbook.RunAsync(store, output);
        Assert.Equal(["refunds", "shipping"], found["vector, public support entries"]);
        Assert.Equal("deploys", found["hybrid, engineering"][0]);
        Assert.All(found["hybrid, engineering"], id => Assert.Contains(id, new[] { "deploys", "oncall" }));
        Assert.Equal(["expenses"], found["filter, finance"]);
        Assert.Contains("filter, finance: expenses", output.ToString());
        Assert.True(File.Exists(Path.Combine(_dir.Path, "collections", "handbook.db")));
    }

    [Fact]
    public async Task Records_round_trip_with_their_metadata_and_can_be_deleted()
    {
        var c = await Filled();
        var b = await c.GetAsync("b");
        Assert.NotNull(b);
        Assert.Equal("le phare du port guide les bateaux", b.Body);
        Assert.Equal(("fr", 2022, false), (b.Lang, b.Year, b.Draft));
        Assert.Equal(new DateTimeOffset(2024, 5, 2022 % 28 + 1, 9, 30, 0, TimeSpan.FromHours(2)), b.WrittenAt);
        Assert.Null(await c.GetAsync("zz"));
        Assert.Equal(["a", "c"], await c.GetAsync(["c", "a", "zz"]).Select(n => n.Id).Order().ToListAsync());

        await c.UpsertAsync(N("b", "changed", "fr", 2025, true, 0, 1, 0));
        Assert.Equal(("changed", 2025, true), ((await c.GetAsync("b"))!.Body, (await c.GetAsync("b"))!.Year, (await c.GetAsync("b"))!.Draft));
        await c.DeleteAsync("b");
        Assert.Null(await c.GetAsync("b"));
        Assert.Equal(["a", "c", "d"], await c.GetAsync(n => n.Lang == "en", 10).Select(n => n.Id).ToListAsync());
    }

    [Fact]
    public async Task Vector_search_ranks_by_cosine_and_applies_metadata_filters_before_the_top_k()
    {
        var c = await Filled();
        Assert.Equal(["a", "b"], (await Ids(c.SearchAsync(new ReadOnlyMemory<float>([1, 0.05f, 0]), 4)))[..2]);
        Assert.Equal(["a", "b"], (await Ids(c.SearchAsync(new float[] { 1, 0.05f, 0 }, 2))));
        // The two nearest are a (en) and b (fr); filtered to French the only answer is b, even with top 1.
        Assert.Equal(["b"], await Ids(c.SearchAsync(new float[] { 1, 0, 0 }, 1, new() { Filter = n => n.Lang == "fr" })));
        string lang = "en";
        Assert.Equal(["a", "d"], await Ids(c.SearchAsync(new float[] { 1, 0, 0 }, 3, new() { Filter = n => n.Lang == lang && !n.Draft })));
        Assert.Equal(["c"], await Ids(c.SearchAsync(new float[] { 1, 0, 0 }, 3, new() { Filter = n => n.Draft && n.Year == 2022 })));
        Assert.Empty(await Ids(c.SearchAsync(new float[] { 1, 0, 0 }, 3, new() { Filter = n => n.Lang == "en" && n.Lang == "fr" })));
        var skipped = await c.SearchAsync(new float[] { 1, 0, 0 }, 1, new() { Skip = 1 }).ToListAsync();
        Assert.Equal("b", skipped.Single().Record.Id);
        Assert.True(skipped[0].Score is > 0.9 and < 1);
    }

    [Theory]
    [InlineData("year")]
    [InlineData("not-equal")]
    [InlineData("or")]
    [InlineData("method")]
    public async Task Unsupported_filters_are_refused_naming_the_expression(string which)
    {
        var c = await Filled();
        System.Linq.Expressions.Expression<Func<Note, bool>> filter = which switch
        {
            "year" => n => n.Year > 2021,
            "not-equal" => n => n.Lang != "en",
            "or" => n => n.Lang == "en" || n.Lang == "fr",
            _ => n => n.Lang.StartsWith('e'),
        };
        var e = await Assert.ThrowsAsync<NotSupportedException>(async () => await c.SearchAsync(new float[] { 1, 0, 0 }, 2, new() { Filter = filter }).ToListAsync());
        var shown = which switch { "year" => "(n.Year > 2021)", "not-equal" => "(n.Lang != \"en\")", "or" => "OrElse", _ => "StartsWith" };
        Assert.Contains(shown, e.Message, StringComparison.Ordinal);
        Assert.Contains("not supported", e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<NotSupportedException>(async () => await c.GetAsync(filter, 5).ToListAsync());
        var key = await Assert.ThrowsAsync<NotSupportedException>(async () => await c.GetAsync(n => n.Id == "a", 5).ToListAsync());
        Assert.Contains("GetAsync", key.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hybrid_search_fuses_keyword_and_vector_rankings()
    {
        var c = await Filled();
        var hybrid = (IKeywordHybridSearchable<Note>)c.GetService(typeof(IKeywordHybridSearchable<Note>))!;
        // The vector points at a (lighthouse); the keywords name d (storms, road). Both are found, d's keywords and
        // a's vector each winning one ranking; c matches neither and is last or absent.
        var results = await hybrid.HybridSearchAsync(new float[] { 1, 0, 0 }, ["storms", "road"], 4).ToListAsync();
        var ids = results.Select(r => r.Record.Id).ToList();
        Assert.Contains("a", ids[..2]);
        Assert.Contains("d", ids[..2]);
        Assert.True(results[0].Score >= results[1].Score);
        // A filter holds for both rankings.
        var french = await hybrid.HybridSearchAsync(new float[] { 1, 0, 0 }, ["harbour"], 4, new() { Filter = n => n.Lang == "fr" }).ToListAsync();
        Assert.Equal(["b"], french.Select(r => r.Record.Id));
        // Keywords alone find a record the vector does not point at.
        var keywordOnly = await hybrid.HybridSearchAsync(new float[] { 0, 0, 1 }, ["cinnamon"], 1, new() { Filter = n => n.Draft }).ToListAsync();
        Assert.Equal("c", keywordOnly.Single().Record.Id);
    }

    [Fact]
    public async Task Collections_are_listed_checked_and_deleted_through_the_store()
    {
        await Filled();
        Assert.Equal(["notes"], await _store.ListCollectionNamesAsync().ToListAsync());
        Assert.True(await _store.CollectionExistsAsync("notes"));
        Assert.False(await _store.CollectionExistsAsync("other"));
        var missing = _store.GetCollection<string, Note>("other");
        Assert.Empty(await missing.SearchAsync(new float[] { 1, 0, 0 }, 3).ToListAsync());
        Assert.False(await missing.CollectionExistsAsync());
        await _store.EnsureCollectionDeletedAsync("notes");
        Assert.False(await _store.CollectionExistsAsync("notes"));
        Assert.Throws<NotSupportedException>(() => _store.GetCollection<int, Note>("notes"));
    }

    [Fact]
    public async Task A_collection_written_by_ragtune_ingest_is_read_chunk_by_chunk()
    {
        // What IngestPipeline writes: one document split into chunks, with metadata and vectors of its model.
        using (var s = SqliteChunkStore.Open("ingested", new SqliteStoreOptions { DataDirectory = _dir.Path }))
        {
            const string text = "Alpha chapter about boats. Beta chapter about trains.";
            var doc = new SourceDocument("guide.md", "guide.md", "Guide", text, "h", new Dictionary<string, string> { ["ext"] = "md" });
            Chunk[] chunks = [new(0, "Alpha chapter about boats.", 0, 26, ["Guide"], 6), new(1, "Beta chapter about trains.", 27, text.Length, ["Guide"], 6)];
            await s.WriteBatchAsync([new DocumentWrite(doc, chunks, [[1f, 0f], [0f, 1f]])], new EmbeddingInfo("some-model", 2));
        }
        var definition = new VectorStoreCollectionDefinition
        {
            Properties =
            [
                new VectorStoreKeyProperty("Key", typeof(string)),
                new VectorStoreDataProperty("Text", typeof(string)) { IsFullTextIndexed = true },
                new VectorStoreDataProperty("ext", typeof(string)),
                new VectorStoreVectorProperty("Vector", typeof(ReadOnlyMemory<float>), 2),
            ],
        };
        var c = _store.GetDynamicCollection("ingested", definition);
        var trains = await c.SearchAsync(new float[] { 0, 1 }, 1, new() { Filter = r => (string)r["ext"]! == "md" }).SingleAsync();
        Assert.Equal("guide.md#1", trains.Record["Key"]);
        Assert.Equal("Beta chapter about trains.", trains.Record["Text"]);
        Assert.Equal("md", trains.Record["ext"]);
        var boats = await c.GetAsync("guide.md");
        Assert.Equal("Alpha chapter about boats.", boats!["Text"]);
        await Assert.ThrowsAsync<NotSupportedException>(() => c.DeleteAsync("guide.md#1"));
        await Assert.ThrowsAsync<ArgumentException>(() => c.UpsertAsync(new Dictionary<string, object?> { ["Key"] = "x", ["Text"] = "t", ["Vector"] = new ReadOnlyMemory<float>([1f, 0f, 0f]) }));
    }
}
