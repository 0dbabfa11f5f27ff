using System.Text.Json;

namespace RagTune.Hosting.Models;

/// <summary>A named OpenAI-compatible endpoint from the RagTune configuration file.</summary>
internal sealed record RemoteEndpoint(string Url, string? Model, string? ApiKeyEnv);

/// <summary>
/// Named endpoints in <c>$RAGTUNE_CONFIG</c> or <c>~/.ragtune/config.json</c>:
/// <c>{"endpoints": {"local-vllm": {"url": "http://127.0.0.1:8000/v1", "model": "…", "api_key_env": "VLLM_KEY"}}}</c>.
/// </summary>
internal static class RemoteEndpoints
{
    public const string ConfigVariable = "RAGTUNE_CONFIG";

    public static string ConfigPath =>
        Environment.GetEnvironmentVariable(ConfigVariable) is { Length: > 0 } p
            ? p
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".ragtune", "config.json");

    /// <summary>
    /// Turns a remote setting, its model and the name of the variable holding its key into a URL, model and key: a
    /// value with <c>://</c> is a URL, anything else an endpoint name from the configuration file. Settings win over
    /// the file. Problems are <see cref="HostingException"/>s (Invalid) naming the setting
    /// (<see cref="ChatModelSettings.Remote"/>, <see cref="ChatModelSettings.ApiKeyEnv"/>).
    /// </summary>
    public static (Uri Url, string? Model, string? ApiKey) Resolve(string remote, string? model, string? apiKeyEnv)
    {
        string url;
        if (remote.Contains("://", StringComparison.Ordinal))
        {
            url = remote;
        }
        else
        {
            var endpoint = Load(ConfigPath).GetValueOrDefault(remote)
                ?? throw HostingException.Invalid($"remote '{remote}' is neither a URL nor an endpoint in {ConfigPath}; "
                    + "add it under \"endpoints\" or give a URL such as http://127.0.0.1:8080/v1.", nameof(ChatModelSettings.Remote));
            url = endpoint.Url;
            model ??= endpoint.Model;
            apiKeyEnv ??= endpoint.ApiKeyEnv;
        }
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw HostingException.Invalid($"remote: '{url}' is not an http(s) URL such as http://127.0.0.1:8080/v1.", nameof(ChatModelSettings.Remote));
        string? key = null;
        if (apiKeyEnv != null)
        {
            key = Environment.GetEnvironmentVariable(apiKeyEnv);
            if (string.IsNullOrEmpty(key)) throw HostingException.Invalid($"api key: environment variable {apiKeyEnv} is not set.", nameof(ChatModelSettings.ApiKeyEnv));
        }
        return (uri, model, key);
    }

    internal static Dictionary<string, RemoteEndpoint> Load(string path)
    {
        if (!File.Exists(path)) return [];
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            var result = new Dictionary<string, RemoteEndpoint>(StringComparer.Ordinal);
            if (!doc.RootElement.TryGetProperty("endpoints", out var endpoints)) return result;
            foreach (var e in endpoints.EnumerateObject())
            {
                string? Str(string name) => e.Value.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
                var url = Str("url") ?? throw new IOException($"{path}: endpoint '{e.Name}' has no \"url\".");
                result[e.Name] = new RemoteEndpoint(url, Str("model"), Str("api_key_env"));
            }
            return result;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new IOException($"{path}: not valid configuration JSON ({e.Message}).", e);
        }
    }
}
