using System.Net;

namespace RagTune.Server;

/// <summary>
/// Settings of the RagTune server, bound from the <c>Server</c> configuration section (appsettings.json,
/// <c>RAGTUNE_Server__*</c> environment variables, then command-line options, later sources winning) and
/// validated before the server starts. Defaults are documented per property.
/// </summary>
public sealed class ServerOptions
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string Section = "Server";

    /// <summary>Address to bind; default <c>127.0.0.1</c> (loopback only). <c>localhost</c>, IPv4/IPv6 literals, <c>0.0.0.0</c> and <c>::</c> are accepted.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>TCP port; default 8080. 0 picks a free port (tests).</summary>
    public int Port { get; set; } = 8080;

    /// <summary>Bearer key required on every <c>/v1</c> request when set; required when <see cref="Host"/> is not loopback.</summary>
    public string? ApiKey { get; set; }

    /// <summary>A folder whose <c>*.gguf</c> files are all served, each under its file name without extension.</summary>
    public string? ModelsDir { get; set; }

    /// <summary>Model files (GGUF, llama2.c .bin, or Hugging Face folders) to serve, each under its file name without extension.</summary>
    public List<string> Models { get; set; } = [];

    /// <summary>
    /// LoRA adapters (PEFT folders) served beside their base, each as the model id <c>{model}+{name}</c>: entries
    /// <c>model=name=folder</c>, or <c>name=folder</c> for the first model. Loaded at start; default none.
    /// </summary>
    public List<string> Adapters { get; set; } = [];

    /// <summary>Passages retrieved per question by the <c>rag:{collection}</c> chat models; default 3. Each must fit the first model's context with the answer.</summary>
    public int RagSources { get; set; } = 3;

    /// <summary>Tokenizer file for models that carry none (llama2.c checkpoints); default none.</summary>
    public string? TokenizerPath { get; set; }

    /// <summary>KV-cache length per model; 0 (default) uses the model's context length, capped at 16,384.</summary>
    public int ContextSize { get; set; }

    /// <summary>Compute threads per model; 0 (default) uses one per processor.</summary>
    public int Threads { get; set; }

    /// <summary>
    /// Requests each local model generates at once, batched into one forward pass per step (continuous batching);
    /// default 4, 1 to 64. Each slot holds a KV cache of <see cref="ContextSize"/> tokens; further requests wait.
    /// </summary>
    public int Slots { get; set; } = 4;

    /// <summary>Largest request body accepted, in bytes; default 1 MiB. Larger bodies get 413.</summary>
    public long MaxRequestBodyBytes { get; set; } = 1 << 20;

    /// <summary><c>/v1</c> requests served at once; default 4.</summary>
    public int MaxConcurrentRequests { get; set; } = 4;

    /// <summary><c>/v1</c> requests waiting for a slot; default 16. Requests beyond it get 429 at once.</summary>
    public int QueueLimit { get; set; } = 16;

    /// <summary>Origins allowed by CORS; empty (default) turns CORS off.</summary>
    public List<string> CorsOrigins { get; set; } = [];

    /// <summary>Console log format: <c>simple</c> (default, one line per event) or <c>json</c> (one JSON object per event, with the structured fields).</summary>
    public string LogFormat { get; set; } = "simple";

    /// <summary>
    /// Where traces and metrics go: <c>none</c> (default), <c>console</c> (through the logger, one event per span and
    /// per metric point) or <c>otlp</c> (OpenTelemetry Protocol to a collector, see <see cref="OtlpEndpoint"/>).
    /// </summary>
    public string Telemetry { get; set; } = "none";

    /// <summary>
    /// The OTLP collector's root URL, e.g. <c>http://localhost:4317</c> (gRPC) or <c>http://localhost:4318</c>
    /// (HTTP); default none: the exporter's own default, or the <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> environment variable.
    /// </summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>OTLP transport: <c>grpc</c> (default) or <c>http/protobuf</c> (signals posted to <c>/v1/traces</c> and <c>/v1/metrics</c>).</summary>
    public string OtlpProtocol { get; set; } = "grpc";

    /// <summary>Seconds between metric exports; default 10.</summary>
    public int TelemetryExportIntervalSeconds { get; set; } = 10;

    /// <summary>The <c>service.name</c> reported with traces and metrics; default <c>ragtune</c>.</summary>
    public string TelemetryServiceName { get; set; } = "ragtune";

    /// <summary>Checks every setting; throws <see cref="ServerOptionsException"/> naming the setting and the fix.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Host)) throw new ServerOptionsException("Server:Host is empty; pass --host 127.0.0.1 (loopback) or an address to bind.");
        if (!string.Equals(Host, "localhost", StringComparison.OrdinalIgnoreCase) && !IPAddress.TryParse(Host, out _))
            throw new ServerOptionsException($"Server:Host '{Host}' is not an IP address; pass an address such as 127.0.0.1, 0.0.0.0 or ::1 (or 'localhost').");
        if (Port is < 0 or > 65535) throw new ServerOptionsException($"Server:Port {Port} is out of range; pass 1-65535 (or 0 for a free port).");
        if (!IsLoopback && string.IsNullOrEmpty(ApiKey))
            throw new ServerOptionsException(
                $"Refusing to listen on {Host} without an API key: any machine that can reach it could use the models. " +
                "Set one with --api-key or the RAGTUNE_Server__ApiKey environment variable, or bind to 127.0.0.1.");
        if (ApiKey is { Length: > 0 and < 8 }) throw new ServerOptionsException("Server:ApiKey is shorter than 8 characters; use a longer, random key.");
        if (MaxRequestBodyBytes < 1024) throw new ServerOptionsException($"Server:MaxRequestBodyBytes {MaxRequestBodyBytes} is below 1024; requests could not carry a message.");
        if (MaxConcurrentRequests < 1) throw new ServerOptionsException($"Server:MaxConcurrentRequests {MaxConcurrentRequests} must be at least 1.");
        if (QueueLimit < 0) throw new ServerOptionsException($"Server:QueueLimit {QueueLimit} must be 0 or more.");
        if (ContextSize < 0) throw new ServerOptionsException($"Server:ContextSize {ContextSize} must be 0 (model default) or positive.");
        if (Slots is < 1 or > 64) throw new ServerOptionsException($"Server:Slots {Slots} must be between 1 and 64 (requests generated at once per model).");
        if (Threads < 0) throw new ServerOptionsException($"Server:Threads {Threads} must be 0 (one per processor) or positive.");
        if (ModelsDir is { Length: > 0 } dir && !Directory.Exists(dir)) throw new ServerOptionsException($"Server:ModelsDir '{dir}' does not exist.");
        if (LogFormat is not ("simple" or "json")) throw new ServerOptionsException($"Server:LogFormat '{LogFormat}' is not 'simple' or 'json'.");
        if (Telemetry is not ("none" or "console" or "otlp"))
            throw new ServerOptionsException($"Server:Telemetry '{Telemetry}' is not one of none, console, otlp (this build has no other exporter).");
        if (OtlpProtocol is not ("grpc" or "http/protobuf"))
            throw new ServerOptionsException($"Server:OtlpProtocol '{OtlpProtocol}' is not 'grpc' or 'http/protobuf'.");
        if (OtlpEndpoint is { Length: > 0 } otlp && !(Uri.TryCreate(otlp, UriKind.Absolute, out var otlpUri) && otlpUri.Scheme is "http" or "https"))
            throw new ServerOptionsException($"Server:OtlpEndpoint '{otlp}' is not an http(s) URL; pass the collector's root, e.g. http://localhost:4317.");
        if (TelemetryExportIntervalSeconds is < 1 or > 3600)
            throw new ServerOptionsException($"Server:TelemetryExportIntervalSeconds {TelemetryExportIntervalSeconds} must be 1 to 3600.");
        if (string.IsNullOrWhiteSpace(TelemetryServiceName)) throw new ServerOptionsException("Server:TelemetryServiceName is empty.");
        for (int i = 0; i < Adapters.Count; i++) ParseAdapter(i);
        if (RagSources is < 1 or > 100) throw new ServerOptionsException($"Server:RagSources {RagSources} must be 1 to 100.");
        foreach (var origin in CorsOrigins)
            if (origin != "*" && !Uri.TryCreate(origin, UriKind.Absolute, out _))
                throw new ServerOptionsException($"Server:CorsOrigins entry '{origin}' is not an absolute origin such as https://example.com.");
    }

    /// <summary>Splits <see cref="Adapters"/>[<paramref name="index"/>] into (model or null for the first, name, folder).</summary>
    internal (string? Model, string Name, string Folder) ParseAdapter(int index)
    {
        var entry = Adapters[index] ?? "";
        var parts = entry.Split('=', 3);
        var (model, name, folder) = parts.Length switch
        {
            2 => ((string?)null, parts[0], parts[1]),
            3 => (parts[0], parts[1], parts[2]),
            _ => throw new ServerOptionsException($"Server:Adapters:{index} '{entry}' is not 'name=folder' or 'model=name=folder'; pass e.g. --adapter support=runs/support/adapter."),
        };
        if (model is { Length: 0 } || name.Length == 0 || name.Contains('+', StringComparison.Ordinal) || folder.Length == 0)
            throw new ServerOptionsException($"Server:Adapters:{index} '{entry}' has an empty model, name or folder, or a name with '+'; pass 'name=folder' or 'model=name=folder'.");
        if (!Directory.Exists(folder))
            throw new ServerOptionsException($"Server:Adapters:{index} '{entry}': the folder '{folder}' does not exist; pass a PEFT adapter folder (adapter_config.json + adapter_model.safetensors).");
        return (model, name, folder);
    }

    /// <summary>True when <see cref="Host"/> is a loopback address (or <c>localhost</c>).</summary>
    public bool IsLoopback =>
        string.Equals(Host, "localhost", StringComparison.OrdinalIgnoreCase) || IPAddress.TryParse(Host, out var ip) && IPAddress.IsLoopback(ip);
}

/// <summary>A server setting is invalid; the message names the setting and the fix.</summary>
public sealed class ServerOptionsException(string message) : Exception(message);
