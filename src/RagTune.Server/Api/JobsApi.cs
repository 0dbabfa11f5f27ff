using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using RagTune.Hosting.Jobs;

namespace RagTune.Server.Api;

/// <summary>One progress event: the job's state and the curve points the subscriber has not seen yet.</summary>
internal sealed record JobEvent(JobSnapshot Job, IReadOnlyList<LossSample> Points);

/// <summary>
/// <c>/api/jobs</c>: list, status, cancel, and progress as server-sent events. The events endpoint first replays
/// the current state (with every curve point so far), then sends each change until the job is final; a client
/// that disconnects only stops its own stream, the job runs on.
/// </summary>
internal static class JobsApi
{
    private static readonly TimeSpan s_keepAlive = TimeSpan.FromSeconds(15);

    public static void Map(IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/jobs");
        api.MapGet("", (JobQueue jobs) => Results.Json(jobs.List().Select(j => j.Snapshot()), ApiJson.Options));
        api.MapGet("/{id}", (string id, JobQueue jobs) => Results.Json(Find(jobs, id).Snapshot(), ApiJson.Options));
        api.MapPost("/{id}/cancel", (string id, JobQueue jobs) => Cancel(jobs, Find(jobs, id)));
        api.MapGet("/{id}/events", (string id, HttpContext c, JobQueue jobs) => StreamAsync(Find(jobs, id), c));
    }

    /// <summary>Cancels the job: 202 with its state (final once the work has stopped), 409 when it had already finished.</summary>
    internal static IResult Cancel(JobQueue jobs, Job job)
    {
        if (!jobs.Cancel(job.Id))
            throw new OpenAIErrorException(StatusCodes.Status409Conflict, $"Job '{job.Id}' has already finished ({job.State.ToString().ToLowerInvariant()}).", "invalid_request_error", "id");
        return Results.Json(job.Snapshot(), ApiJson.Options, statusCode: StatusCodes.Status202Accepted);
    }

    internal static Job Find(JobQueue jobs, string id) =>
        jobs.Get(id) ?? throw OpenAIErrorException.NotFound($"There is no job '{id}' (finished jobs are kept for a while, then forgotten).", "id");

    private static async Task StreamAsync(Job job, HttpContext c)
    {
        var ct = c.RequestAborted;
        ServerSentEvents.Start(c.Response);
        long seen = -1;
        int sentPoints = 0;
        while (true)
        {
            var snapshot = job.Snapshot();
            if (snapshot.Version != seen)
            {
                var points = job.PointsFrom(sentPoints);
                sentPoints += points.Count;
                await ServerSentEvents.WriteAsync(c.Response, "progress", new JobEvent(snapshot, points), snapshot.Version, ct).ConfigureAwait(false);
                seen = snapshot.Version;
            }
            if (snapshot.IsFinal)
            {
                await ServerSentEvents.WriteAsync(c.Response, "end", snapshot, snapshot.Version, ct).ConfigureAwait(false);
                return;
            }
            try
            {
                await job.WaitForChangeAsync(seen, ct).WaitAsync(s_keepAlive, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                await ServerSentEvents.KeepAliveAsync(c.Response, ct).ConfigureAwait(false);
            }
        }
    }
}
