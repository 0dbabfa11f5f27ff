using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using RagTune.Hosting;
using RagTune.Hosting.Middleware;
using RagTune.Hosting.Tuning;
using RagTune.Server.Api;
using RagTune.Server.Telemetry;

namespace RagTune.Server;

/// <summary>
/// Builds the RagTune HTTP server: OpenAI-compatible endpoints over the models of a <see cref="ModelRegistry"/>,
/// the RagTune API (<c>/api</c>: collections, ingestion, search, ask, fine-tuning and comparison jobs with live progress), the
/// MCP tools (<c>/mcp</c>, streamable HTTP) and the web UI, an API key check, a concurrency limit with a bounded queue, a request body limit and optional CORS.
/// </summary>
public static class RagTuneServer
{
    /// <summary>
    /// Binds <see cref="ServerOptions"/> from appsettings.json, environment (<c>RAGTUNE_Server__Port</c>, …),
    /// <paramref name="args"/> (<c>--Server:Port=8081</c>) and finally <paramref name="overrides"/> (keys such as
    /// <c>Server:Port</c>), validates them and builds the application. When <paramref name="models"/> is null the
    /// configured model files are loaded and disposed with the application; a given registry stays the caller's.
    /// </summary>
    /// <exception cref="ServerOptionsException">A setting is invalid (e.g. a non-loopback host without an API key).</exception>
    public static WebApplication Build(string[] args, IEnumerable<KeyValuePair<string, string?>>? overrides = null, ModelRegistry? models = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args });
        // Lowest-priority defaults: our own request lines at Information, ASP.NET Core's per-request chatter off.
        builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?>
            {
                ["Logging:LogLevel:Default"] = "Information",
                ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
            },
        });
        builder.Configuration.AddEnvironmentVariables("RAGTUNE_");
        if (overrides != null) builder.Configuration.AddInMemoryCollection(overrides);
        builder.Configuration.AddCommandLine(args);

        var options = builder.Configuration.GetSection(ServerOptions.Section).Get<ServerOptions>() ?? new ServerOptions();
        options.Validate();
        var rag = builder.Configuration.GetSection(RagTuneOptions.Section).Get<RagTuneOptions>() ?? new RagTuneOptions();
        try
        {
            builder.Services.AddRagTune(rag);
        }
        catch (RagTuneOptionsException e)
        {
            throw new ServerOptionsException(e.Message);
        }
        bool ownsModels = models is null;
        models ??= ModelRegistry.LoadLocal(options);
        try
        {
            return Compose(builder, options, rag, models, ownsModels);
        }
        catch
        {
            if (ownsModels) models.Dispose();
            throw;
        }
    }

    /// <summary>The addresses the started <paramref name="app"/> listens on (with the real port when 0 was asked for).</summary>
    public static IReadOnlyList<string> Addresses(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return [.. app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []];
    }

    private static WebApplication Compose(WebApplicationBuilder builder, ServerOptions options, RagTuneOptions rag, ModelRegistry models, bool ownsModels)
    {
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            if (string.Equals(options.Host, "localhost", StringComparison.OrdinalIgnoreCase))
            {
                if (options.Port == 0) k.Listen(IPAddress.Loopback, 0);
                else k.ListenLocalhost(options.Port);
            }
            else
            {
                k.Listen(IPAddress.Parse(options.Host), options.Port);
            }
        });
        builder.Logging.ClearProviders();
        if (options.LogFormat == "json")
            builder.Logging.AddJsonConsole(j => { j.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ"; j.UseUtcTimestamp = true; });
        else
            builder.Logging.AddSimpleConsole(c => { c.SingleLine = true; c.TimestampFormat = "HH:mm:ss "; });
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(models);
        builder.Services.AddSingleton<ServerTelemetry>();
        builder.Services.AddSingleton<ReportTickets>();
        McpEndpoint.AddServices(builder.Services, models);
        builder.Services.ConfigureHttpJsonOptions(j =>
        {
            j.SerializerOptions.PropertyNamingPolicy = OpenAIWire.Json.PropertyNamingPolicy;
            j.SerializerOptions.DefaultIgnoreCondition = OpenAIWire.Json.DefaultIgnoreCondition;
            j.SerializerOptions.Encoder = OpenAIWire.Json.Encoder;
        });
        builder.Services.AddRateLimiter(r =>
        {
            r.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            r.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                IsLimited(context.Request.Path)
                    ? RateLimitPartition.GetConcurrencyLimiter("v1", _ => new ConcurrencyLimiterOptions
                    {
                        PermitLimit = options.MaxConcurrentRequests,
                        QueueLimit = options.QueueLimit,
                        QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
                    })
                    : RateLimitPartition.GetNoLimiter("open"));
            r.OnRejected = (rejected, ct) =>
            {
                rejected.HttpContext.Response.Headers.RetryAfter = "1";
                return new ValueTask(OpenAIErrorException.WriteAsync(rejected.HttpContext, StatusCodes.Status429TooManyRequests,
                    $"The server is busy: {options.MaxConcurrentRequests} requests are running and {options.QueueLimit} are queued. Retry shortly.",
                    "rate_limit_exceeded", null, "rate_limit_exceeded"));
            };
        });
        if (options.CorsOrigins.Count > 0)
            builder.Services.AddCors(c => c.AddDefaultPolicy(p =>
            {
                if (options.CorsOrigins.Contains("*")) p.AllowAnyOrigin(); else p.WithOrigins([.. options.CorsOrigins]);
                p.AllowAnyHeader().AllowAnyMethod();
            }));

        var app = builder.Build();
        if (ownsModels) app.Lifetime.ApplicationStopped.Register(models.Dispose);
        var telemetry = app.Services.GetRequiredService<ServerTelemetry>();
        var exporters = TelemetrySetup.Start(options, app.Services.GetRequiredService<ILoggerFactory>());
        models.UseMiddleware(new ClientMiddlewareOptions { SourceName = ServerTelemetry.Name, Loggers = app.Services.GetRequiredService<ILoggerFactory>() });
        // Flush the exporters before the source and meter go away with the container.
        if (exporters != null) app.Lifetime.ApplicationStopped.Register(exporters.Dispose);
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("RagTune.Server");
        ServeRemembered(models, app.Services.GetRequiredService<RememberedAdapters>(), log);
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            log.LogInformation("Serving {ModelCount} model(s) [{Models}] on {Addresses}; API key {ApiKeyState}; at most {MaxConcurrent} concurrent + {Queue} queued",
                models.Ids.Count, string.Join(", ", models.Ids), string.Join(", ", Addresses(app)),
                string.IsNullOrEmpty(options.ApiKey) ? "not required" : "required", options.MaxConcurrentRequests, options.QueueLimit);
            log.LogInformation("Web UI at {Url}; data in {DataDirectory}; at most {Jobs} job(s) at once + {QueuedJobs} queued",
                Addresses(app).FirstOrDefault() + "/", rag.ResolvedDataDirectory, rag.MaxConcurrentJobs, rag.MaxQueuedJobs);
        });

        app.UseMiddleware<RequestTelemetryMiddleware>();
        if (options.CorsOrigins.Count > 0) app.UseCors();
        app.UseMiddleware<OpenAIErrorMiddleware>();
        app.Use(RequireApiKey(options, app.Services.GetRequiredService<ReportTickets>()));
        app.UseRateLimiter();
        app.UseMiddleware<SlotTelemetryMiddleware>();

        app.MapGet("/health", () => Results.Json(new { status = "ok", models = models.Ids.Count }));
        var collections = app.Services.GetRequiredService<RagTune.Hosting.Collections.CollectionService>();
        IEnumerable<string> AllIds() => models.Ids.Concat(RagChatCompletions.Ids(models, collections));
        app.MapGet("/v1/models", () => Results.Json(new ModelList([.. AllIds().Select(id => new ModelEntry(id, s_started))]), OpenAIWire.Json));
        app.MapGet("/v1/models/{id}", (string id) => AllIds().Contains(id)
            ? Results.Json(new ModelEntry(id, s_started), OpenAIWire.Json)
            : throw OpenAIErrorException.NotFound($"The model '{id}' does not exist or is not loaded.", "model", "model_not_found"));
        var chatLog = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("RagTune.Server.ChatCompletions");
        app.MapPost("/v1/chat/completions", (HttpContext c) => ChatCompletionsEndpoint.HandleAsync(c, models, options, chatLog, telemetry, collections));
        app.MapPost("/v1/embeddings", (HttpContext c) => EmbeddingsEndpoint.HandleAsync(c, models, options, telemetry));
        CollectionsApi.Map(app, options, models);
        JobsApi.Map(app);
        TuneApi.Map(app, options, models);
        CompareApi.Map(app, options, models);
        McpEndpoint.Map(app);
        app.MapFallback("/api/{**rest}", (HttpContext c) => OpenAIErrorException.WriteAsync(c, StatusCodes.Status404NotFound,
            $"Unknown request URL: {c.Request.Method} {c.Request.Path}.", "invalid_request_error", null, "unknown_url"));
        WebUi.Map(app);
        app.MapFallback("/v1/{**rest}", (HttpContext c) => OpenAIErrorException.WriteAsync(c, StatusCodes.Status404NotFound,
            $"Unknown request URL: {c.Request.Method} {c.Request.Path}.", "invalid_request_error", null, "unknown_url"));
        return app;
    }

    private static readonly long s_started = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>Serves again the adapters an earlier run was asked to serve; one that no longer loads is skipped with a warning.</summary>
    private static void ServeRemembered(ModelRegistry models, RememberedAdapters remembered, ILogger log)
    {
        IReadOnlyList<ServedAdapter> adapters;
        try
        {
            adapters = remembered.Load();
        }
        catch (InvalidDataException e)
        {
            log.LogWarning("Remembered adapters not served: {Message}", e.Message);
            return;
        }
        foreach (var a in adapters)
        {
            try
            {
                log.LogInformation("Serving remembered adapter {ModelId} from {Folder}", models.ServeAdapter(a.Model, a.Name, a.Folder), a.Folder);
            }
            catch (HostingException e)
            {
                log.LogWarning("Remembered adapter {Model}+{Name} not served: {Message}", a.Model, a.Name, e.Message);
            }
        }
    }

    private static Func<HttpContext, RequestDelegate, Task> RequireApiKey(ServerOptions options, ReportTickets tickets)
    {
        byte[]? expected = string.IsNullOrEmpty(options.ApiKey) ? null : Encoding.UTF8.GetBytes(options.ApiKey);
        return (context, next) =>
        {
            if (expected is null || !IsProtected(context.Request.Path) || tickets.Admits(context.Request)) return next(context);
            string header = context.Request.Headers.Authorization.ToString();
            if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
                return Unauthorized(context, "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.");
            var given = Encoding.UTF8.GetBytes(header.AsSpan(7).Trim().ToString());
            if (!CryptographicOperations.FixedTimeEquals(given, expected))
                return Unauthorized(context, "Incorrect API key provided.");
            return next(context);
        };
    }

    // The web UI's static files are public (the page asks for the key); everything that reads or changes data is not.
    private static bool IsProtected(PathString path) =>
        path.StartsWithSegments("/v1") || path.StartsWithSegments("/api") || path.StartsWithSegments(McpEndpoint.Path);

    // Progress streams stay open for a job's whole life: they would hold a request slot each, so they are not counted.
    private static bool IsLimited(PathString path) =>
        IsProtected(path) && !(path.StartsWithSegments("/api/jobs") && path.Value!.EndsWith("/events", StringComparison.Ordinal));

    private static Task Unauthorized(HttpContext context, string message)
    {
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return OpenAIErrorException.WriteAsync(context, StatusCodes.Status401Unauthorized, message, "invalid_request_error", null, "invalid_api_key");
    }
}
