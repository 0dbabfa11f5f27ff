using System.ClientModel;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using OpenAI.Chat;
using RagTune.Models.Local;
using RagTune.Server.Telemetry;
using RagTune.TestKit;

namespace RagTune.Server.Tests.Telemetry;

/// <summary>
/// The server's spans and metrics for real chat requests (the official OpenAI client, the real stories260K model):
/// seen in-process through <see cref="ActivityListener"/> / <see cref="MeterListener"/>, and as the OTLP exporter
/// sends them to a collector on loopback.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ServerTelemetryTests
{
    private const string Model = "stories260K";

    private static ModelRegistry Models() => new ModelRegistry().AddChat(Model,
        new LocalChatClient(SharedData.File("models", "stories260k", "stories260K.gguf"), new LocalChatClientOptions { Threads = 1, ContextSize = 128 }));

    private static ChatClient Chat(RunningServer server) => new(Model, new ApiKeyCredential("unused-key"),
        new OpenAIClientOptions { Endpoint = new Uri(server.BaseUrl + "/v1"), NetworkTimeout = TimeSpan.FromMinutes(2) });

    private static async Task<string> StreamOnce(RunningServer server)
    {
        var text = new StringBuilder();
        await foreach (var u in Chat(server).CompleteChatStreamingAsync([new UserChatMessage("Once upon a time")], new ChatCompletionOptions { MaxOutputTokenCount = 8, Temperature = 0 }))
            foreach (var part in u.ContentUpdate) text.Append(part.Text);
        return text.ToString();
    }

    private sealed record Measurement(string Instrument, double Value, Dictionary<string, object?> Tags);

    [Fact]
    public async Task A_streaming_chat_request_gives_a_request_span_the_middleware_s_gen_ai_span_and_the_request_metrics()
    {
        using var models = Models();
        await using var server = await RunningServer.StartAsync(models);
        var telemetry = server.Services.GetRequiredService<ServerTelemetry>();

        // This server's request spans come from its ServerTelemetry.Source; the model call's span from the
        // Microsoft.Extensions.AI OpenTelemetry middleware on a source of the same name (found below by its parent).
        var spans = new ConcurrentQueue<Activity>();
        var calls = new ConcurrentQueue<Activity>();
        using var activities = new ActivityListener
        {
            ShouldListenTo = source => source.Name == ServerTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => (ReferenceEquals(a.Source, telemetry.Source) ? spans : calls).Enqueue(a),
        };
        ActivitySource.AddActivityListener(activities);
        var measurements = new ConcurrentQueue<Measurement>();
        using var meters = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (ReferenceEquals(instrument.Meter, telemetry.Meter)) listener.EnableMeasurementEvents(instrument);
            },
        };
        meters.SetMeasurementEventCallback<long>((i, v, tags, _) => measurements.Enqueue(new(i.Name, v, ToDictionary(tags))));
        meters.SetMeasurementEventCallback<int>((i, v, tags, _) => measurements.Enqueue(new(i.Name, v, ToDictionary(tags))));
        meters.SetMeasurementEventCallback<double>((i, v, tags, _) => measurements.Enqueue(new(i.Name, v, ToDictionary(tags))));
        meters.Start();

        var text = await StreamOnce(server);
        Assert.False(string.IsNullOrEmpty(text));
        using (var missing = await server.Http.PostAsync("/v1/chat/completions",
            new StringContent("""{"model":"nope","messages":[{"role":"user","content":"hi"}]}""", Encoding.UTF8, "application/json")))
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        meters.RecordObservableInstruments();

        // Spans end after the response's last byte: wait for both requests' spans.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (spans.Count(s => s.Kind == ActivityKind.Server) < 2 && DateTime.UtcNow < deadline) await Task.Delay(20);
        var requests = spans.Where(s => s.Kind == ActivityKind.Server).ToList();
        Assert.Equal(2, requests.Count);
        var ok = requests.Single(s => (int?)s.GetTagItem("http.response.status_code") == 200);
        Assert.Equal("POST /v1/chat/completions", ok.DisplayName);
        Assert.Equal(Model, ok.GetTagItem("gen_ai.request.model"));
        int input = Assert.IsType<int>(ok.GetTagItem("gen_ai.usage.input_tokens"));
        int output = Assert.IsType<int>(ok.GetTagItem("gen_ai.usage.output_tokens"));
        Assert.True(input > 0);
        Assert.InRange(output, 1, 8);
        Assert.Equal(ActivityStatusCode.Unset, ok.Status);

        var generation = Assert.Single(calls, s => s.ParentSpanId == ok.SpanId);
        Assert.Equal($"chat {Model}", generation.DisplayName);
        Assert.Equal(ActivityKind.Client, generation.Kind);
        Assert.Equal("chat", generation.GetTagItem("gen_ai.operation.name"));
        Assert.Equal(Model, generation.GetTagItem("gen_ai.request.model"));
        Assert.Equal(8, Convert.ToInt32(generation.GetTagItem("gen_ai.request.max_tokens"), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(output, Convert.ToInt32(generation.GetTagItem("gen_ai.usage.output_tokens"), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(input, Convert.ToInt32(generation.GetTagItem("gen_ai.usage.input_tokens"), System.Globalization.CultureInfo.InvariantCulture));
        Assert.NotNull(generation.GetTagItem("gen_ai.response.time_to_first_chunk"));
        // Ours: the first token as seen from the request's arrival (queue wait included) marks the request's span.
        Assert.Contains(ok.Events, e => e.Name == "gen_ai.first_token");

        var failed = requests.Single(s => (int?)s.GetTagItem("http.response.status_code") == 404);
        Assert.Equal(ActivityStatusCode.Error, failed.Status);
        Assert.Equal("model_not_found", failed.GetTagItem("error.type"));

        var all = measurements.ToList();
        var counted = all.Where(m => m.Instrument == ServerTelemetry.RequestsMetric).ToList();
        Assert.Equal(2, counted.Count);
        Assert.Contains(counted, m => m.Value == 1 && Equals(m.Tags["http.route"], "/v1/chat/completions") && Equals(m.Tags["http.response.status_code"], 200)
            && Equals(m.Tags["gen_ai.request.model"], Model));
        var error = Assert.Single(all, m => m.Instrument == ServerTelemetry.ErrorsMetric);
        Assert.Equal("model_not_found", error.Tags["error.type"]);
        Assert.Equal(input, all.Single(m => m.Instrument == ServerTelemetry.TokensMetric && Equals(m.Tags["gen_ai.token.type"], "input")).Value);
        Assert.Equal(output, all.Single(m => m.Instrument == ServerTelemetry.TokensMetric && Equals(m.Tags["gen_ai.token.type"], "output")).Value);
        var ttft = Assert.Single(all, m => m.Instrument == ServerTelemetry.TimeToFirstTokenMetric);
        Assert.True(ttft.Value > 0);
        Assert.Equal(Model, ttft.Tags["gen_ai.request.model"]);
        Assert.Equal(2, all.Count(m => m.Instrument == ServerTelemetry.DurationMetric));
        Assert.Equal(0, Assert.Single(all, m => m.Instrument == ServerTelemetry.QueueLengthMetric).Value);   // nothing waits now
        Assert.Equal(0, Assert.Single(all, m => m.Instrument == ServerTelemetry.ActiveRequestsMetric).Value);

        // Names and the route tag use the route template, so distinct URLs do not make distinct metric streams.
        using (var model = await server.Http.GetAsync("/v1/models/some-unknown-id")) Assert.Equal(HttpStatusCode.NotFound, model.StatusCode);
        deadline = DateTime.UtcNow.AddSeconds(10);
        while (spans.Count(s => s.Kind == ActivityKind.Server) < 3 && DateTime.UtcNow < deadline) await Task.Delay(20);
        var lookup = spans.Single(s => s.DisplayName.StartsWith("GET ", StringComparison.Ordinal));
        Assert.Equal("GET /v1/models/{id}", lookup.DisplayName);
        Assert.Equal("/v1/models/some-unknown-id", lookup.GetTagItem("url.path"));
        Assert.Contains(measurements, m => m.Instrument == ServerTelemetry.RequestsMetric && Equals(m.Tags["http.route"], "/v1/models/{id}"));
    }

    [Fact]
    public async Task Otlp_over_http_sends_the_spans_and_metrics_to_the_collector()
    {
        // A collector stand-in on loopback: records what the real OTLP exporter posts.
        var received = new ConcurrentQueue<(string Path, string ContentType, byte[] Body)>();
        var collectorBuilder = WebApplication.CreateSlimBuilder();
        collectorBuilder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var collector = collectorBuilder.Build();
        collector.MapPost("/{**signal}", async (HttpContext c) =>
        {
            using var body = new MemoryStream();
            await c.Request.Body.CopyToAsync(body);
            received.Enqueue((c.Request.Path.Value!, c.Request.ContentType ?? "", body.ToArray()));
            c.Response.ContentType = "application/x-protobuf";
        });
        await collector.StartAsync();
        var collectorUrl = RagTuneServer.Addresses(collector).Single();

        using var models = Models();
        await using (var server = await RunningServer.StartAsync(models,
            ("Server:Telemetry", "otlp"), ("Server:OtlpProtocol", "http/protobuf"), ("Server:OtlpEndpoint", collectorUrl), ("Server:TelemetryExportIntervalSeconds", "1")))
        {
            Assert.False(string.IsNullOrEmpty(await StreamOnce(server)));
            await server.StopAsync(); // flushes the batched spans and the last metrics
        }

        var traces = received.Where(r => r.Path == "/v1/traces").ToList();
        var metrics = received.Where(r => r.Path == "/v1/metrics").ToList();
        Assert.NotEmpty(traces);
        Assert.NotEmpty(metrics);
        Assert.All(traces.Concat(metrics), r => Assert.Equal("application/x-protobuf", r.ContentType));
        // Protobuf carries strings as plain UTF-8: the names and keys can be found in the payloads.
        var traceBytes = string.Concat(traces.Select(t => Encoding.UTF8.GetString(t.Body)));
        Assert.Contains("POST /v1/chat/completions", traceBytes);
        Assert.Contains($"chat {Model}", traceBytes);
        Assert.Contains("gen_ai.usage.output_tokens", traceBytes);
        Assert.Contains("ragtune", traceBytes);                                  // service.name
        var metricBytes = string.Concat(metrics.Select(m => Encoding.UTF8.GetString(m.Body)));
        foreach (var name in new[] { ServerTelemetry.RequestsMetric, ServerTelemetry.TokensMetric, ServerTelemetry.TimeToFirstTokenMetric, ServerTelemetry.QueueLengthMetric })
            Assert.Contains(name, metricBytes);
    }

    [Theory]
    [InlineData("Server:Telemetry", "zipkin", "Server:Telemetry 'zipkin'")]
    [InlineData("Server:OtlpProtocol", "udp", "Server:OtlpProtocol 'udp'")]
    [InlineData("Server:OtlpEndpoint", "localhost:4317", "Server:OtlpEndpoint 'localhost:4317'")]
    public void A_bad_telemetry_setting_is_refused_at_start_naming_it(string key, string value, string expected)
    {
        var e = Assert.Throws<ServerOptionsException>(() => RagTuneServer.Build([], new Dictionary<string, string?> { [key] = value }, new ModelRegistry()));
        Assert.Contains(expected, e.Message);
    }

    private static Dictionary<string, object?> ToDictionary(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var d = new Dictionary<string, object?>();
        foreach (var (k, v) in tags) d[k] = v;
        return d;
    }
}
