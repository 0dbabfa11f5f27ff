using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using RagTune.Hosting;
using RagTune.Hosting.Jobs;
using RagTune.Hosting.Tuning;

namespace RagTune.Server.Api;

internal sealed class TuneApiRequest
{
    /// <summary>A served model's id (one loaded from a file) to train a LoRA adapter for.</summary>
    public string? Model { get; set; }
    public string? Dataset { get; set; }
    public List<JsonElement>? Examples { get; set; }
    public int? Steps { get; set; }
    public int? Epochs { get; set; }
    public float? LearningRate { get; set; }
    public int? LoraRank { get; set; }
    public int? BatchSize { get; set; }
    public int? GradAccum { get; set; }
    public int? SeqLen { get; set; }
    public int? EvalEvery { get; set; }
    public double? ValidationSplit { get; set; }
    public ulong? Seed { get; set; }
}

internal sealed class ServeAdapterRequest
{
    /// <summary>The adapter's name in the model id <c>{model}+{name}</c>; default the job's id.</summary>
    public string? Name { get; set; }
}

/// <summary>
/// <c>/api/datasets</c> (training files) and <c>/api/tune</c> (fine-tuning jobs, their loss history, and serving a
/// finished job's adapter as the model id <c>{model}+{name}</c>, remembered across restarts).
/// </summary>
internal static class TuneApi
{
    public static void Map(IEndpointRouteBuilder app, ServerOptions options, ModelRegistry models)
    {
        app.MapGet("/api/datasets", (TuneService s) => Results.Json(s.ListDatasets(), ApiJson.Options));
        app.MapPost("/api/datasets", async (HttpContext c, TuneService s, RagTuneOptions rag) =>
        {
            var files = await MultipartUpload.ReadFilesAsync(c, rag.MaxUploadBytes, s.SaveDatasetAsync).ConfigureAwait(false);
            return Results.Json(files, ApiJson.Options, statusCode: StatusCodes.Status201Created);
        });
        app.MapGet("/api/tune/models", () => Results.Json(models.TunableIds, ApiJson.Options));
        app.MapPost("/api/tune", async (HttpContext c, TuneService s) =>
        {
            var r = await RequestBody.ReadAsync<TuneApiRequest>(c, options, ApiJson.Options).ConfigureAwait(false);
            if (string.IsNullOrWhiteSpace(r.Model)) throw OpenAIErrorException.BadRequest("Name the base model to fine-tune ('model': a served model id).", "model");
            if (!models.TryGetFile(r.Model, out var path))
                throw OpenAIErrorException.NotFound(
                    $"The model '{r.Model}' is not served from a file, so it cannot be fine-tuned. Tunable models: {(models.TunableIds.Count == 0 ? "none" : string.Join(", ", models.TunableIds))}.",
                    "model", "model_not_found");
            var job = s.Start(new TuneRequest
            {
                ModelPath = path,
                ModelName = r.Model,
                Dataset = r.Dataset,
                Examples = r.Examples,
                Steps = r.Steps,
                Epochs = r.Epochs,
                LearningRate = r.LearningRate,
                LoraRank = r.LoraRank,
                BatchSize = r.BatchSize,
                GradAccum = r.GradAccum,
                SeqLen = r.SeqLen,
                EvalEvery = r.EvalEvery,
                ValidationSplit = r.ValidationSplit,
                Seed = r.Seed,
            });
            return Results.Json(job.Snapshot(), ApiJson.Options, statusCode: StatusCodes.Status202Accepted);
        });
        app.MapGet("/api/tune/{id}", (string id, JobQueue jobs) => Results.Json(TuneJob(jobs, id).Snapshot(), ApiJson.Options));
        app.MapPost("/api/tune/{id}/cancel", (string id, JobQueue jobs) => JobsApi.Cancel(jobs, TuneJob(jobs, id)));
        app.MapPost("/api/tune/{id}/serve", async (string id, HttpContext c, TuneService s, JobQueue jobs, RememberedAdapters remembered) =>
        {
            var r = await RequestBody.ReadAsync<ServeAdapterRequest>(c, options, ApiJson.Options).ConfigureAwait(false);
            var (model, folder) = s.Adapter(TuneJob(jobs, id));
            var name = RememberedAdapters.CheckName(r.Name ?? id);
            var modelId = models.ServeAdapter(model, name, folder);
            remembered.Remember(new ServedAdapter(model, name, folder));
            return Results.Json(new { id = modelId, model, name }, ApiJson.Options, statusCode: StatusCodes.Status201Created);
        });
        app.MapGet("/api/tune/{id}/loss", (string id, JobQueue jobs) =>
        {
            var job = TuneJob(jobs, id);
            return Results.Json(new { state = job.State, points = job.PointsFrom(0) }, ApiJson.Options);
        });
    }

    private static Job TuneJob(JobQueue jobs, string id)
    {
        var job = JobsApi.Find(jobs, id);
        return job.Kind == TuneService.Kind ? job : throw OpenAIErrorException.NotFound($"Job '{id}' is not a fine-tuning job.", "id");
    }
}
