using System.Diagnostics;
using System.Text.Json;
using RagTune.Hosting.Stores;
using RagTune.Rag.Store;
using RagTune.TestKit;

namespace RagTune.Cli.Tests.Rag;

/// <summary>The RAG commands end to end: the real CLI over a temp folder of documents and a real SQLite collection.</summary>
public sealed class RagCommandTests : IDisposable
{
    private readonly TempDir _dir = new();
    private string Docs => Path.Combine(_dir.Path, "docs");
    private string Data => Path.Combine(_dir.Path, "data");

    public RagCommandTests()
    {
        Directory.CreateDirectory(Docs);
        File.WriteAllText(Path.Combine(Docs, "cats.md"), "# Cats\n\nCats purr when they are happy. A cat sleeps sixteen hours a day.\n\n## Food\n\nCats eat fish and mice.\n");
        File.WriteAllText(Path.Combine(Docs, "dogs.txt"), "Dogs bark at strangers. The dog was domesticated fifteen thousand years ago.\n");
        File.WriteAllText(Path.Combine(Docs, "birds.html"), "<html><head><title>Birds</title></head><body><h1>Birds</h1><p>Penguins are birds that cannot fly. They swim in cold seas.</p></body></html>");
        File.WriteAllBytes(Path.Combine(Docs, "broken.txt"), [0x62, 0x61, 0x64, 0x00, 0x01, 0xFF, 0xFE]);
    }

    private CliProcess.Result Run(params string[] args) => CliProcess.Run([.. args, "--data-dir", Data]);

    [GhostscriptFact]
    public void Pdf_pages_reach_search_and_ask_output_through_the_sqlite_collection()
    {
        var docs = Path.Combine(_dir.Path, "pdfs");
        Directory.CreateDirectory(docs);
        GhostscriptPdf.Write(GhostscriptPdf.TextPages(
            [new(72, 700, "The first page is about the weather in spring.")],
            [new(72, 700, "Penguins huddle together through the polar winter.")]), Path.Combine(docs, "field-notes.pdf"));
        File.WriteAllText(Path.Combine(docs, "locked.pdf"), "%PDF-1.4 not really a pdf");
        // Small chunks, so each page's sentence is a chunk of its own (a chunk spanning both would say "pp. 1–2").
        var ingest = Run("ingest", docs, "--collection", "pdf", "--chunk-tokens", "12", "--overlap", "0");
        Assert.Equal(0, ingest.ExitCode);
        Assert.Contains("added 1", ingest.Stdout);
        Assert.Contains("locked.pdf", ingest.Stdout);
        Assert.Contains("not a readable PDF", ingest.Stdout);

        var search = Run("search", "penguins polar winter", "--collection", "pdf", "--json");
        using (var json = JsonDocument.Parse(search.Stdout))
        {
            Assert.Equal("field-notes.pdf", json.RootElement[0].GetProperty("documentId").GetString());
            Assert.Equal("p. 2", json.RootElement[0].GetProperty("pages").GetString());
        }
        var ask = Run("ask", "What do penguins do in the polar winter?", "--collection", "pdf", "--extractive");
        Assert.Equal(0, ask.ExitCode);
        Assert.Matches(@"\[1\] \S*field-notes\.pdf \[\d+-\d+\] p\. 2 ", ask.Stdout);
    }

    [Fact]
    public void Json_output_keeps_printable_characters_unescaped()
    {
        var docs = Path.Combine(_dir.Path, "plus");
        Directory.CreateDirectory(docs);
        File.WriteAllText(Path.Combine(docs, "arms.txt"), "C++ & <Rust>: the ft+rag arm answers \"quoted\" text about arms.\n");
        Assert.Equal(0, Run("ingest", docs, "--collection", "plus").ExitCode);
        var search = Run("search", "ft+rag arm", "--collection", "plus", "--json");
        Assert.Equal(0, search.ExitCode);
        Assert.Contains("C++ & <Rust>: the ft+rag arm answers \\\"quoted\\\" text", search.Stdout);
        Assert.DoesNotContain("\\u00", search.Stdout);
        using (var json = JsonDocument.Parse(search.Stdout))
            Assert.StartsWith("C++ & <Rust>: the ft+rag arm", json.RootElement[0].GetProperty("text").GetString());
        var ask = Run("ask", "What does the ft+rag arm answer?", "--collection", "plus", "--extractive", "--json");
        Assert.Equal(0, ask.ExitCode);
        Assert.Contains("\"What does the ft+rag arm answer?\"", ask.Stdout);
        Assert.DoesNotContain("\\u00", ask.Stdout);
    }

    [Fact]
    public void Ingest_search_ask_reingest_and_sync()
    {
        var first = Run("ingest", Docs, "--collection", "kb");
        Assert.Equal(0, first.ExitCode);
        Assert.Contains("added 3, updated 0, unchanged 0, deleted 0, failed 1", first.Stdout);
        Assert.Contains("broken.txt", first.Stdout);                 // the corrupt file is reported with its reason …
        Assert.Contains("binary", first.Stdout);
        Assert.DoesNotContain("\u001b[", first.Stdout);              // … as plain text when piped

        var search = Run("search", "penguins swim", "--collection", "kb", "--json");
        Assert.Equal(0, search.ExitCode);
        using (var json = JsonDocument.Parse(search.Stdout))
        {
            var top = json.RootElement[0];
            Assert.Equal("birds.html", top.GetProperty("documentId").GetString());
            Assert.Equal(1, top.GetProperty("rank").GetInt32());
            Assert.True(top.GetProperty("score").GetDouble() > 0);
            Assert.Contains("Penguins", top.GetProperty("text").GetString());
        }
        var text = Run("search", "what do cats eat", "--collection", "kb", "--k", "1");
        Assert.Matches(@"^ 1\.\s+[\d.]+\s+\S*cats\.md \[\d+-\d+\]  ""Cats""  § Cats > Food", text.Stdout);

        var ask = Run("ask", "How many hours a day does a cat sleep?", "--collection", "kb", "--extractive");
        Assert.Equal(0, ask.ExitCode);
        Assert.StartsWith("A cat sleeps sixteen hours a day. [1]", ask.Stdout);
        Assert.Matches(@"\[1\] \S*cats\.md \[\d+-\d+\] ""Cats""", ask.Stdout);
        var fallback = Run("ask", "How many hours a day does a cat sleep?", "--collection", "kb");
        Assert.Contains("no model configured", fallback.Stderr);
        Assert.StartsWith("A cat sleeps sixteen hours a day.", fallback.Stdout);

        File.AppendAllText(Path.Combine(Docs, "dogs.txt"), "Some dogs herd sheep.\n");
        var second = Run("ingest", Docs, "--collection", "kb");
        Assert.Contains("added 0, updated 1, unchanged 2, deleted 0, failed 1", second.Stdout);
        Assert.Contains("dogs.txt", Run("search", "herd sheep", "--collection", "kb").Stdout);

        File.Delete(Path.Combine(Docs, "birds.html"));
        var synced = Run("ingest", Docs, "--collection", "kb", "--sync");
        Assert.Contains("added 0, updated 0, unchanged 2, deleted 1, failed 1", synced.Stdout);
        Assert.Equal("no results", Run("search", "penguins", "--collection", "kb").Stdout.Trim());

        var stats = Run("collections", "stats", "kb");
        Assert.Contains("documents:   2", stats.Stdout);
        Assert.Contains("ragtune-collection v1", stats.Stdout);
        Assert.Contains("kb", Run("collections", "list").Stdout);
        Assert.Equal(0, Run("collections", "delete", "kb").ExitCode);
        Assert.False(File.Exists(Path.Combine(Data, "collections", "kb.db")));
        var missing = Run("search", "cats", "--collection", "kb");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no collection 'kb'", missing.Stderr);
    }

    [Fact]
    public void Ask_with_a_local_model_streams_its_answer_then_flags_what_the_sources_do_not_support()
    {
        Assert.Equal(0, Run("ingest", Docs, "--collection", "kb").ExitCode);
        // stories260K writes children's stories, not grounded answers: every sentence must come out flagged.
        var r = Run("ask", "What do cats eat?", "--collection", "kb", "--model", SharedData.File("models", "stories260k", "stories260K.gguf"),
            "--max-tokens", "30", "--threads", "1");
        Assert.Equal(0, r.ExitCode);
        Assert.DoesNotContain("no model configured", r.Stderr);
        Assert.Contains("Sources:", r.Stdout);
        Assert.Matches(@"\[1\] \S*cats\.md \[\d+-\d+\]", r.Stdout);
        Assert.Contains("! unsupported", r.Stdout);
    }

    [Fact]
    public void Remote_embeddings_and_a_remote_model_serve_dense_search_and_a_streamed_verified_answer()
    {
        using var server = new FakeOpenAIEndpoint("Cats eat fish and mice [1]. Cats can fly [7].");
        var ingest = Run("ingest", Docs, "--collection", "dense", "--embed-remote", server.BaseUrl, "--embed-model", "bow-64");
        Assert.Equal(0, ingest.ExitCode);
        Assert.Contains("(bow-64, 64 dims)", ingest.Stdout);
        Assert.True(server.EmbeddingRequests > 0);

        var dense = Run("search", "penguins swim", "--collection", "dense", "--mode", "dense", "--embed-remote", server.BaseUrl, "--embed-model", "bow-64", "--json");
        Assert.Equal(0, dense.ExitCode);
        using (var json = JsonDocument.Parse(dense.Stdout))
        {
            Assert.Equal("birds.html", json.RootElement[0].GetProperty("documentId").GetString());
            Assert.Equal("dense", json.RootElement[0].GetProperty("retriever").GetString());
        }
        var hybrid = Run("search", "penguins swim", "--collection", "dense", "--mode", "hybrid", "--embed-remote", server.BaseUrl, "--embed-model", "bow-64");
        Assert.Contains("birds.html", hybrid.Stdout.Split('\n')[0]);
        var wrongModel = Run("search", "penguins", "--collection", "dense", "--mode", "dense", "--embed-remote", server.BaseUrl, "--embed-model", "other");
        Assert.NotEqual(0, wrongModel.ExitCode);
        Assert.Contains("bow-64", wrongModel.Stderr);

        var ask = Run("ask", "What do cats eat?", "--collection", "dense", "--remote", server.BaseUrl, "--remote-model", "chat");
        Assert.Equal(0, ask.ExitCode);
        Assert.Equal(1, server.ChatRequests);
        Assert.StartsWith("Cats eat fish and mice [1]. Cats can fly [7].", ask.Stdout);
        Assert.Contains("! cites missing source [7]", ask.Stdout);
        Assert.DoesNotContain("unsupported (support", ask.Stdout.Split("[7]:")[0].Split("Sources:")[1]); // sentence 1 is supported
    }

    [Fact]
    public void Bad_arguments_give_one_line_errors()
    {
        var badName = Run("ingest", Docs, "--collection", "../x");
        Assert.Equal(1, badName.ExitCode);
        Assert.Contains("not a valid collection name", badName.Stderr);
        Assert.Equal(0, Run("ingest", Path.Combine(Docs, "cats.md"), "--collection", "one").ExitCode);
        var dense = Run("search", "cats", "--collection", "one", "--mode", "dense");
        Assert.Equal(2, dense.ExitCode);
        Assert.Contains("--embed-remote", dense.Stderr);
        var filter = Run("search", "cats", "--collection", "one", "--filter", "nokey");
        Assert.Contains("expected key=value", filter.Stderr);
        Assert.Contains("cats.md", Run("search", "cats", "--collection", "one", "--filter", "ext=md").Stdout);
        Assert.Equal("no results", Run("search", "cats", "--collection", "one", "--filter", "ext=txt").Stdout.Trim());
        var gate = Run("search", "cats", "--collection", "one", "--dense-agreement", "-1");
        Assert.Equal(2, gate.ExitCode);
        Assert.Contains("--dense-agreement must be 0 (no gate) or positive", gate.Stderr);
        Assert.Contains("cats.md", Run("search", "cats", "--collection", "one", "--dense-agreement", "0").Stdout);
    }

    [Fact]
    public async Task An_ingest_killed_mid_write_leaves_whole_batches_and_a_rerun_completes_it()
    {
        var many = Path.Combine(_dir.Path, "many");
        Directory.CreateDirectory(many);
        var words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda".Split(' ');
        for (int i = 0; i < 1500; i++)
            File.WriteAllText(Path.Combine(many, $"doc{i:D4}.md"),
                $"# Doc {i}\n\n" + string.Join(' ', Enumerable.Range(0, 600).Select(j => words[(i + j) % words.Length] + j)) + $" unique{i}\n");

        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "RagTune.Cli.dll"), "ingest", many, "--collection", "big", "--data-dir", Data }) psi.ArgumentList.Add(a);
        using (var p = Process.Start(psi)!)
        {
            // Kill as soon as the write stage has committed something: the pipeline is then inside later batches.
            var deadline = Stopwatch.StartNew();
            string? line;
            while ((line = p.StandardOutput.ReadLine()) != null && !line.StartsWith("write", StringComparison.Ordinal))
                Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(90), "ingest too slow");
            Assert.NotNull(line);
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        using (var store = CollectionStores.Catalog(Data).Open("big", create: false))
        {
            var states = await store.GetDocumentStatesAsync();
            Assert.InRange(states.Count, 1, 1499);                   // killed midway
            Assert.Equal(0, states.Count % 64);                      // whole batches (IngestOptions.BatchSize) only
            Assert.All(states.Values, s => Assert.True(s.ChunkCount > 0));
        }
        var rerun = Run("ingest", many, "--collection", "big");
        Assert.Equal(0, rerun.ExitCode);
        Assert.Matches(@"added \d+, updated 0, unchanged \d+, deleted 0, failed 0", rerun.Stdout);
        using var done = CollectionStores.Catalog(Data).Open("big", create: false);
        Assert.Equal(1500, (await done.GetStatsAsync()).Documents);
        Assert.Equal("doc0777.md", (await done.SearchKeywordAsync("unique777", 5, SearchFilter.None))[0].Chunk.DocumentId);
    }

    public void Dispose() => _dir.Dispose();
}

/// <summary>A fact that runs when Ghostscript's ps2pdf is installed (CI installs it) to make the test's PDFs.</summary>
public sealed class GhostscriptFactAttribute : FactAttribute
{
    public GhostscriptFactAttribute() => Skip = GhostscriptPdf.SkipReason;
}
