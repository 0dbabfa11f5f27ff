using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using RagTune.Hosting.Jobs;

namespace RagTune.Server.Tests.Api;

[Trait("Category", "Slow")]
public sealed class JobEventsTests
{
    [Fact]
    public async Task A_job_survives_its_subscriber_disconnecting_and_a_late_subscriber_gets_the_final_state_and_whole_curve()
    {
        await using var api = await ApiServer.StartAsync(("RagTune:MaxConcurrentJobs", "1"));
        // Hold the only job slot with a job on the real queue, so the fine-tuning job is still queued when we subscribe.
        var queue = api.Server.Services.GetRequiredService<JobQueue>();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        queue.Enqueue("hold", "hold the slot", null, async (_, _) => { await gate.Task; return null; });

        var started = await api.JsonAsync(await api.PostJsonAsync("/api/tune", ApiServer.TuneBody(steps: 6)), HttpStatusCode.Accepted);
        var id = started.GetProperty("id").GetString()!;
        Assert.Equal("queued", started.GetProperty("state").GetString());

        using (var first = new SseStream(await api.Http.GetAsync($"/api/jobs/{id}/events", HttpCompletionOption.ResponseHeadersRead)))
        {
            var (name, data) = (await first.NextAsync())!.Value;
            Assert.Equal("progress", name);
            Assert.Equal("queued", data.GetProperty("job").GetProperty("state").GetString());
        } // the subscriber goes away while the job has not even started

        gate.SetResult();
        var job = queue.Get(id)!;
        using (var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3)))
            while (!job.Snapshot().IsFinal) await job.WaitForChangeAsync(job.Snapshot().Version, timeout.Token);

        using var late = new SseStream(await api.Http.GetAsync($"/api/jobs/{id}/events", HttpCompletionOption.ResponseHeadersRead));
        var events = await late.ToEndAsync();
        Assert.Equal(["progress", "end"], events.Select(e => e.Name));
        var replay = events[0].Data;
        Assert.Equal("succeeded", replay.GetProperty("job").GetProperty("state").GetString());
        Assert.Equal([1, 2, 3, 4, 5, 6], replay.GetProperty("points").EnumerateArray().Select(p => p.GetProperty("step").GetInt32()));
        Assert.Equal(6, events[1].Data.GetProperty("result").GetProperty("steps").GetInt32());

        var loss = await api.JsonAsync(await api.Http.GetAsync($"/api/tune/{id}/loss"), HttpStatusCode.OK);
        Assert.Equal(6, loss.GetProperty("points").GetArrayLength());
        Assert.Equal(3, loss.GetProperty("points").EnumerateArray().Count(p => p.GetProperty("valLoss").ValueKind == JsonValueKind.Number));
        var adapter = events[1].Data.GetProperty("result").GetProperty("adapterDir").GetString()!;
        Assert.True(File.Exists(Path.Combine(api.DataDir, adapter, "adapter_config.json")));
    }

    [Fact]
    public async Task A_live_subscriber_sees_every_step_and_a_running_job_can_be_cancelled()
    {
        await using var api = await ApiServer.StartAsync();
        var id = (await api.JsonAsync(await api.PostJsonAsync("/api/tune", ApiServer.TuneBody(steps: 4)), HttpStatusCode.Accepted)).GetProperty("id").GetString()!;
        using (var events = new SseStream(await api.Http.GetAsync($"/api/jobs/{id}/events", HttpCompletionOption.ResponseHeadersRead)))
        {
            var all = await events.ToEndAsync();
            // However the updates were coalesced, the points received add up to the whole curve, in order.
            var steps = all.Where(e => e.Name == "progress").SelectMany(e => e.Data.GetProperty("points").EnumerateArray()).Select(p => p.GetProperty("step").GetInt32());
            Assert.Equal([1, 2, 3, 4], steps);
            var versions = all.Select(e => e.Data.TryGetProperty("job", out var j) ? j.GetProperty("version").GetInt64() : e.Data.GetProperty("version").GetInt64()).ToList();
            Assert.Equal(versions.Order(), versions);
        }

        var endless = await api.JsonAsync(await api.PostJsonAsync("/api/tune", ApiServer.TuneBody(steps: 100_000)), HttpStatusCode.Accepted);
        var endlessId = endless.GetProperty("id").GetString()!;
        using (var events = new SseStream(await api.Http.GetAsync($"/api/jobs/{endlessId}/events", HttpCompletionOption.ResponseHeadersRead)))
        {
            // Wait for the first training step, then cancel while it runs.
            while (await events.NextAsync() is { } e && !(e.Data.GetProperty("job").GetProperty("done").GetInt32() >= 1)) { }
            await api.JsonAsync(await api.Http.PostAsync($"/api/tune/{endlessId}/cancel", null), HttpStatusCode.Accepted);
            var rest = await events.ToEndAsync();
            Assert.Equal("cancelled", rest[^1].Data.GetProperty("state").GetString());
        }
        await api.JsonAsync(await api.Http.PostAsync($"/api/jobs/{endlessId}/cancel", null), HttpStatusCode.Conflict);
        await api.JsonAsync(await api.Http.GetAsync("/api/jobs/nope/events"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Fine_tuning_requests_name_what_is_wrong()
    {
        await using var api = await ApiServer.StartAsync();
        var unknown = await api.JsonAsync(await api.PostJsonAsync("/api/tune", new { model = "gpt-9", examples = new[] { new { instruction = "a", output = "b" } } }), HttpStatusCode.NotFound);
        Assert.Contains(ApiServer.Model, unknown.GetProperty("error").GetProperty("message").GetString());
        var noData = await api.JsonAsync(await api.PostJsonAsync("/api/tune", new { model = ApiServer.Model }), HttpStatusCode.BadRequest);
        Assert.Equal("dataset", noData.GetProperty("error").GetProperty("param").GetString());
        var steps = await api.JsonAsync(await api.PostJsonAsync("/api/tune", ApiServer.TuneBody(steps: 0)), HttpStatusCode.BadRequest);
        Assert.Contains("steps 0", steps.GetProperty("error").GetProperty("message").GetString());
        var models = await api.JsonAsync(await api.Http.GetAsync("/api/tune/models"), HttpStatusCode.OK);
        Assert.Equal([ApiServer.Model], models.EnumerateArray().Select(m => m.GetString()));
    }
}
