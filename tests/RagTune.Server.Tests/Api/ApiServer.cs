using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using RagTune.Models.Local;
using RagTune.TestKit;

namespace RagTune.Server.Tests.Api;

/// <summary>
/// The real server with a data directory of its own and stories260K served (as chat model and fine-tuning base),
/// plus small helpers for the RagTune API's requests.
/// </summary>
internal sealed class ApiServer : IAsyncDisposable
{
    public const string Model = "stories260K";
    public const string Pets = "# Cats\n\nCats sleep sixteen hours a day. They purr when they are content.\n\n# Dogs\n\nDogs bark at strangers and love long walks in the park.\n";

    private readonly TempDir _dir;
    private readonly ModelRegistry _models;

    private ApiServer(TempDir dir, ModelRegistry models, RunningServer server)
    {
        _dir = dir;
        _models = models;
        Server = server;
    }

    public RunningServer Server { get; }
    public HttpClient Http => Server.Http;
    public string Root => _dir.Path;
    public string DataDir => Path.Combine(_dir.Path, "data");

    public static string StoriesPath => SharedData.File("models", "stories260k", "stories260K.gguf");

    public static Task<ApiServer> StartAsync(params (string Key, string Value)[] settings) =>
        StartAsync(new ModelRegistry().AddChat(Model, new LocalChatClient(StoriesPath, new LocalChatClientOptions { Threads = 1, ContextSize = 512 }), StoriesPath), settings);

    /// <summary>The server with <paramref name="models"/> (disposed with it) instead of stories260K.</summary>
    public static async Task<ApiServer> StartAsync(ModelRegistry models, params (string Key, string Value)[] settings)
    {
        var dir = new TempDir();
        var server = await RunningServer.StartAsync(models,
            [("RagTune:DataDirectory", Path.Combine(dir.Path, "data")), ("RagTune:TrainingThreads", "1"), .. settings]);
        return new ApiServer(dir, models, server);
    }

    public async Task<JsonElement> JsonAsync(HttpResponseMessage response, System.Net.HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public Task<HttpResponseMessage> PostJsonAsync(string path, object body) => Http.PostAsJsonAsync(path, body);

    /// <summary>A small LoRA fine-tuning request on the served model: eight cat sentences, validated every second step.</summary>
    public static object TuneBody(int steps) => new
    {
        model = Model,
        examples = Enumerable.Range(0, 8).Select(i => new { instruction = $"Tell me about cat {i}.", output = $"Cat {i} was happy in the sun." }),
        steps,
        batchSize = 2,
        gradAccum = 1,
        seqLen = 48,
        evalEvery = 2,
        validationSplit = 0.25,
        learningRate = 1e-3,
    };

    public static MultipartFormDataContent Files(params (string Name, string Text)[] files)
    {
        var form = new MultipartFormDataContent();
        foreach (var (name, text) in files)
        {
            var part = new ByteArrayContent(Encoding.UTF8.GetBytes(text));
            // Set the header by hand: HttpClient would otherwise quote and normalise the name we want to send raw.
            part.Headers.Add("Content-Disposition", $"form-data; name=\"file\"; filename=\"{name}\"");
            form.Add(part);
        }
        return form;
    }

    /// <summary>Creates <paramref name="collection"/>, uploads the pets document and waits for its ingestion.</summary>
    public async Task<JsonElement> CreateAndIngestAsync(string collection = "docs", string name = "pets.md", string text = Pets)
    {
        await JsonAsync(await PostJsonAsync("/api/collections", new { name = collection }), System.Net.HttpStatusCode.Created);
        var upload = await JsonAsync(await Http.PostAsync($"/api/collections/{collection}/documents", Files((name, text))), System.Net.HttpStatusCode.Accepted);
        return await FinalAsync(upload.GetProperty("job").GetProperty("id").GetString()!);
    }

    /// <summary>The job's final state, read from its event stream (which ends when the job does).</summary>
    public async Task<JsonElement> FinalAsync(string jobId)
    {
        using var events = new SseStream(await Http.GetAsync($"/api/jobs/{jobId}/events", HttpCompletionOption.ResponseHeadersRead));
        var all = await events.ToEndAsync();
        var end = all[^1];
        Assert.Equal("end", end.Name);
        return end.Data;
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        _models.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }
}
