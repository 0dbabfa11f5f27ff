using System.Text.Json;
using System.Text.RegularExpressions;
using RagTune.Evaluation.Experiments;
using RagTune.Hosting.Collections;
using RagTune.Hosting.Jobs;

namespace RagTune.Hosting.Compare;

/// <summary>
/// Comparisons as jobs: the spec is checked and stored in <c>&lt;data&gt;/compares/&lt;id&gt;/experiment.yaml</c>,
/// then <see cref="Comparison"/> runs it on the job queue, reporting each stage, and leaves results.json,
/// report.md, report.html and summary.json in that folder, where they outlive the job and the server.
/// </summary>
public sealed partial class CompareService(RagTuneOptions options, JobQueue jobs, CollectionService collections)
{
    /// <summary>The <see cref="Job.Kind"/> of a comparison job.</summary>
    public const string Kind = "compare";
    /// <summary>The stored spec's file name in a comparison's folder.</summary>
    public const string SpecFileName = "experiment.yaml";
    /// <summary>The summary's file name in a comparison's folder (<see cref="ComparisonSummary"/>).</summary>
    public const string SummaryFileName = "summary.json";

    // The summary is read by people too: printable characters ("ft+rag") unescaped.
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web) { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The report files a client may fetch, by the name it asks for.</summary>
    public static readonly IReadOnlyDictionary<string, string> Files = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["report.html"] = ExperimentReport.HtmlFileName,
        ["report.md"] = ExperimentReport.MarkdownFileName,
        ["results.json"] = ExperimentReport.ResultsFileName,
        [SpecFileName] = SpecFileName,
    };

    /// <summary>The spec a request's fields describe, for a front end to show and let the user edit.</summary>
    public string Template(ComparisonRequest request) => ComparisonTemplate.Build(request, options.TrainingThreads, options.EmbeddingModel);

    /// <summary>
    /// Checks the request's spec against what the server holds (<paramref name="servedModels"/>: served model ids
    /// to files) and queues the comparison. A bad spec is refused here, naming its line and field.
    /// </summary>
    public Job Start(ComparisonRequest request, IReadOnlyDictionary<string, string> servedModels)
    {
        if (request.Spec != null && request.HasFields)
            throw HostingException.Invalid("Send either 'spec' (a whole experiment spec) or the fields (collection, model, questions, …), not both.", "spec");
        if (request.Spec == null && (request.Collection == null || request.Model == null))
            throw HostingException.Invalid("Name the collection to compare on and the served model ('collection' and 'model'), or send a whole 'spec'.",
                request.Collection == null ? "collection" : "model");
        var yaml = request.Spec ?? Template(request);
        var id = JobQueue.NewId(Kind);
        var dir = Folder(id);
        Directory.CreateDirectory(dir);
        var specPath = Path.Combine(dir, SpecFileName);
        File.WriteAllText(specPath, yaml);
        ExperimentSpec spec;
        try
        {
            spec = ExperimentSpecReader.Parse(yaml, specPath, Names(servedModels));
        }
        catch (ExperimentSpecException e)
        {
            Directory.Delete(dir, recursive: true);
            throw HostingException.Invalid($"{SpecFileName} line {e.Line}: {e.Field}: {e.Reason}", "spec");
        }
        try
        {
            return jobs.Enqueue(Kind, $"Compare {spec.Name}", null, (job, ct) => RunAsync(job, spec, dir, ct), id);
        }
        catch
        {
            Directory.Delete(dir, recursive: true);
            throw;
        }
    }

    /// <summary>Every comparison the server knows: queued and running jobs, and the folders kept on disk; newest first.</summary>
    public IReadOnlyList<ComparisonListing> List()
    {
        var byId = new Dictionary<string, ComparisonListing>(StringComparer.Ordinal);
        if (Directory.Exists(options.ComparesDirectory))
            foreach (var dir in Directory.EnumerateDirectories(options.ComparesDirectory))
                if (IsId(Path.GetFileName(dir)) && Listing(Path.GetFileName(dir)) is { } listing)
                    byId[listing.Id] = listing;
        foreach (var job in jobs.List().Where(j => j.Kind == Kind))
            if (Listing(job.Id) is { } listing)
                byId[listing.Id] = listing;
        return [.. byId.Values.OrderByDescending(l => l.Created)];
    }

    /// <summary>One comparison's state, progress and summary.</summary>
    public ComparisonStatus Get(string id)
    {
        var listing = Listing(CheckId(id)) ?? throw NotFound(id);
        var dir = Folder(id);
        var files = Files.Where(f => File.Exists(Path.Combine(dir, f.Value))).Select(f => f.Key).ToList();
        return new ComparisonStatus(listing, jobs.Get(id)?.Snapshot(), ReadSummary(id), files);
    }

    /// <summary>The path of one of a comparison's <see cref="Files"/>; not found until the comparison has written it.</summary>
    public string FilePath(string id, string name)
    {
        if (!Files.TryGetValue(name, out var file))
            throw HostingException.NotFound($"A comparison has no file '{name}'; ask for one of {string.Join(", ", Files.Keys)}.", "file");
        var path = Path.Combine(Folder(CheckId(id)), file);
        if (!File.Exists(path))
        {
            if (Listing(id) is not { } listing) throw NotFound(id);
            throw HostingException.NotFound($"Comparison '{id}' has no {name} yet (it is {listing.State}); reports are written when it succeeds.", "file");
        }
        return path;
    }

    /// <summary>Deletes a finished comparison's folder; refused while its job is queued or running.</summary>
    public void Delete(string id)
    {
        if (Listing(CheckId(id)) is not { } listing) throw NotFound(id);
        if (listing.State is "queued" or "running")
            throw HostingException.Conflict($"Comparison '{id}' is {listing.State}; cancel it first (POST /api/compare/{id}/cancel).", "id");
        var dir = Folder(id);
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    private async Task<object?> RunAsync(Job job, ExperimentSpec spec, string dir, CancellationToken ct)
    {
        job.Report("prepare", 0, 0, message: $"loading {Path.GetFileName(spec.Model.Path)}");
        var outcome = await Comparison.RunAsync(spec, dir, options.ResolvedDataDirectory, null, new StageProgress(job), ct).ConfigureAwait(false);
        var summary = ComparisonSummary.From(job.Id, outcome.Results);
        File.WriteAllText(Path.Combine(dir, SummaryFileName), JsonSerializer.Serialize(summary, s_json));
        return summary;
    }

    private SpecNames Names(IReadOnlyDictionary<string, string> servedModels) => new(
        Collection: name =>
        {
            if (!collections.Names().Contains(name, StringComparer.Ordinal))
                throw new ArgumentException($"there is no collection '{name}'; create it and upload documents first (collections: {Join(collections.Names())}).");
            var uploads = collections.UploadFolder(name);
            // Uploaded files can be copied and edited (freshness); a collection ingested elsewhere is used as it is.
            return Directory.Exists(uploads) && Directory.EnumerateFiles(uploads, "*", SearchOption.AllDirectories).Any()
                ? new DocumentsSpec([uploads], null)
                : new DocumentsSpec([], name);
        },
        Dataset: name =>
        {
            var safe = UploadStore.SanitizeFileName(name);
            var path = safe == null ? null : Path.Combine(options.DatasetsDirectory, safe);
            if (safe != name || path == null || !File.Exists(path))
                throw new ArgumentException($"there is no uploaded questions file '{name}'; upload it first (POST /api/datasets) and give the name it returns.");
            return path;
        },
        Model: id => servedModels.TryGetValue(id, out var path)
            ? path
            : throw new ArgumentException($"'{id}' is not a served model loaded from a file; served models: {Join(servedModels.Keys)}."),
        EmbedModel: name =>
            name == options.EmbeddingModel || !(name.Contains('/', StringComparison.Ordinal) || name.Contains('\\', StringComparison.Ordinal))
                ? name
                : throw new ArgumentException($"'{name}': the server loads embedding models by catalog or cache name (`ragtune model list`), not by path."));

    private static string Join(IEnumerable<string> names) => names.Any() ? string.Join(", ", names) : "none";

    private ComparisonListing? Listing(string id)
    {
        var summary = ReadSummary(id);
        var job = jobs.Get(id);
        // A finished job whose folder was deleted is gone, even while the queue (or its journal) still remembers it.
        if (!Directory.Exists(Folder(id)) && (job == null || job.Snapshot().IsFinal)) return null;
        if (job != null)
        {
            var s = job.Snapshot();
            return new ComparisonListing(id, summary?.Name ?? job.Title["Compare ".Length..], s.State.ToString().ToLowerInvariant(), s.Created,
                summary?.Recommended, summary?.Recommendation, s.Error);
        }
        var dir = Folder(id);
        if (!Directory.Exists(dir)) return null;
        var created = Directory.GetCreationTimeUtc(dir);
        return summary != null
            ? new ComparisonListing(id, summary.Name, "succeeded", summary.Started, summary.Recommended, summary.Recommendation, null)
            : new ComparisonListing(id, id, "incomplete", new DateTimeOffset(created, TimeSpan.Zero), null, null,
                "This comparison did not finish (it failed, was cancelled, or the server stopped); its spec and work files are kept.");
    }

    private ComparisonSummary? ReadSummary(string id)
    {
        var path = Path.Combine(Folder(id), SummaryFileName);
        if (!File.Exists(path)) return null;
        try
        {
            return JsonSerializer.Deserialize<ComparisonSummary>(File.ReadAllText(path), s_json);
        }
        catch (JsonException)
        {
            return null; // a damaged summary lists the comparison as incomplete; the reports stay readable
        }
    }

    private string Folder(string id) => Path.Combine(options.ComparesDirectory, id);

    private static bool IsId(string id) => IdPattern().IsMatch(id);

    private static string CheckId(string id) =>
        IsId(id) ? id : throw HostingException.NotFound($"'{id}' is not a comparison id (they look like compare-0123456789ab).", "id");

    private static HostingException NotFound(string id) =>
        HostingException.NotFound($"There is no comparison '{id}' (GET /api/compare lists them).", "id");

    [GeneratedRegex("^compare-[0-9a-f]{12}$", RegexOptions.CultureInvariant)]
    private static partial Regex IdPattern();

    /// <summary>
    /// Each stage of the runner (ingest, questions, each arm's training and answers, the experiments) becomes the
    /// job's stage with its counts and an ETA from the stage's rate so far.
    /// </summary>
    private sealed class StageProgress(Job job) : IProgress<ExperimentProgress>
    {
        private string? _stage;
        private DateTime _stageStarted;

        public void Report(ExperimentProgress p)
        {
            var now = DateTime.UtcNow;
            lock (this)
            {
                if (p.Stage != _stage) (_stage, _stageStarted) = (p.Stage, now);
            }
            double seconds = (now - _stageStarted).TotalSeconds;
            TimeSpan? eta = p.Done > 0 && p.Done < p.Total && seconds > 0 ? TimeSpan.FromSeconds((p.Total - p.Done) * seconds / p.Done) : null;
            job.Report(p.Stage, p.Done, p.Total, eta, p.Detail, p.Loss, p.ValLoss);
        }
    }
}
