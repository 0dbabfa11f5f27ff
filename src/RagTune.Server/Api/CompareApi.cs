using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using RagTune.Hosting.Compare;
using RagTune.Hosting.Jobs;

namespace RagTune.Server.Api;

/// <summary>
/// <c>/api/compare</c>: comparisons as jobs (start from a spec or from form fields, list, status, cancel, delete), the
/// spec template a form describes, and the reports (report.html, report.md, results.json, the spec). Request bodies are
/// <see cref="ComparisonRequest"/> as JSON. Progress streams from <c>/api/jobs/{id}/events</c> like every job.
/// </summary>
internal static class CompareApi
{
    // The report is self-contained (inline CSS and SVG, no scripts): it gets nothing else, and only this server may frame it.
    private const string ReportPolicy =
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; base-uri 'none'; form-action 'none'";

    public static void Map(IEndpointRouteBuilder app, ServerOptions options, ModelRegistry models)
    {
        var api = app.MapGroup("/api/compare");
        api.MapGet("", (CompareService s) => Results.Json(s.List(), ApiJson.Options));
        api.MapPost("", async (HttpContext c, CompareService s) =>
        {
            var r = await RequestBody.ReadAsync<ComparisonRequest>(c, options, ApiJson.Options).ConfigureAwait(false);
            var job = s.Start(r, ServedFiles(models));
            return Results.Json(s.Get(job.Id), ApiJson.Options, statusCode: StatusCodes.Status202Accepted);
        });
        api.MapPost("/template", async (HttpContext c, CompareService s) =>
        {
            var r = await RequestBody.ReadAsync<ComparisonRequest>(c, options, ApiJson.Options).ConfigureAwait(false);
            return Results.Json(new { spec = s.Template(r) }, ApiJson.Options);
        });
        api.MapGet("/{id}", (string id, CompareService s) => Results.Json(s.Get(id), ApiJson.Options));
        api.MapPost("/{id}/cancel", (string id, CompareService s, JobQueue jobs) =>
        {
            s.Get(id);
            var job = jobs.Get(id) ?? throw new OpenAIErrorException(StatusCodes.Status409Conflict, $"Comparison '{id}' is not running.", "invalid_request_error", "id");
            return JobsApi.Cancel(jobs, job);
        });
        api.MapDelete("/{id}", (string id, CompareService s) =>
        {
            s.Delete(id);
            return Results.NoContent();
        });
        api.MapPost("/{id}/ticket", (string id, CompareService s, ReportTickets tickets) =>
        {
            s.FilePath(id, "report.html");
            return Results.Json(new { url = $"{ReportTickets.ReportPath(id)}?ticket={tickets.Issue(id)}", expiresInSeconds = ReportTickets.Lifetime.TotalSeconds }, ApiJson.Options);
        });
        api.MapGet("/{id}/{file}", (string id, string file, HttpContext c, CompareService s) =>
        {
            var path = s.FilePath(id, file);
            c.Response.Headers.XContentTypeOptions = "nosniff";
            c.Response.Headers.CacheControl = "no-cache";
            if (file == "report.html") c.Response.Headers.ContentSecurityPolicy = ReportPolicy;
            return Results.File(path, Path.GetExtension(file) switch
            {
                ".html" => "text/html; charset=utf-8",
                ".md" => "text/markdown; charset=utf-8",
                ".json" => "application/json; charset=utf-8",
                _ => "application/yaml; charset=utf-8",
            });
        });
    }

    private static Dictionary<string, string> ServedFiles(ModelRegistry models) =>
        models.TunableIds.ToDictionary(id => id, id => models.TryGetFile(id, out var path) ? path : throw new InvalidOperationException(id), StringComparer.Ordinal);
}
