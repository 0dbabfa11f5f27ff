using Microsoft.AspNetCore.Builder;

namespace RagTune.Server.Tests;

/// <summary>The real server on 127.0.0.1 and a free port, for one test; stopped on dispose.</summary>
public sealed class RunningServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RunningServer(WebApplication app, string baseUrl)
    {
        _app = app;
        BaseUrl = baseUrl;
        Http = new HttpClient { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromMinutes(2) };
    }

    public string BaseUrl { get; }

    public HttpClient Http { get; }

    /// <summary>The application's services (its <c>ServerTelemetry</c>, the real job queue).</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>Stops the server (flushing its telemetry exporters) before <see cref="DisposeAsync"/>.</summary>
    public Task StopAsync() => _app.StopAsync();

    internal static async Task<RunningServer> StartAsync(ModelRegistry models, params (string Key, string Value)[] settings)
    {
        var all = new Dictionary<string, string?>
        {
            ["Server:Host"] = "127.0.0.1",
            ["Server:Port"] = "0",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (k, v) in settings) all[k] = v;
        var app = RagTuneServer.Build([], all, models);
        await app.StartAsync();
        var address = RagTuneServer.Addresses(app).Single();
        return new RunningServer(app, address.TrimEnd('/'));
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
