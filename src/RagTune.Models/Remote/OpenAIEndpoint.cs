using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Sockets;
using OpenAI;

namespace RagTune.Models.Remote;

/// <summary>
/// One OpenAI-compatible base URL with its key and pipeline settings, and the translation of client failures
/// into <see cref="RemoteModelException"/>s that say what to fix.
/// </summary>
internal sealed class OpenAIEndpoint
{
    /// <summary>Local servers (llama.cpp, vLLM without --api-key, Ollama) ignore the key, but the client requires one.</summary>
    internal const string PlaceholderKey = "ragtune-no-key";

    public OpenAIEndpoint(Uri baseUrl, string model, string? apiKey, OpenAICompatibleClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(baseUrl);
        ArgumentException.ThrowIfNullOrWhiteSpace(model);
        if (!baseUrl.IsAbsoluteUri || (baseUrl.Scheme != Uri.UriSchemeHttp && baseUrl.Scheme != Uri.UriSchemeHttps))
            throw new ArgumentException($"Base URL '{baseUrl}' must be an absolute http:// or https:// URL such as http://127.0.0.1:8080/v1.", nameof(baseUrl));
        options.Validate();
        BaseUrl = baseUrl;
        Model = model;
        HasKey = !string.IsNullOrEmpty(apiKey);
        Client = new OpenAIClient(new ApiKeyCredential(HasKey ? apiKey! : PlaceholderKey), new OpenAIClientOptions
        {
            Endpoint = baseUrl,
            RetryPolicy = new ClientRetryPolicy(options.MaxRetries),
            NetworkTimeout = options.NetworkTimeout,
        });
    }

    public Uri BaseUrl { get; }

    public string Model { get; }

    public bool HasKey { get; }

    public OpenAIClient Client { get; }

    /// <summary>The full URL of an operation, for messages (<c>…/v1</c> + <c>/chat/completions</c>).</summary>
    public Uri Url(string path) => new(BaseUrl.AbsoluteUri.TrimEnd('/') + path);

    /// <summary>
    /// Turns an exception from the OpenAI client into a <see cref="RemoteModelException"/>; null for exceptions that
    /// must pass unchanged (cancellation the caller asked for, argument errors).
    /// </summary>
    public RemoteModelException? Translate(Exception e, string path, string model, CancellationToken cancellationToken)
    {
        if (e is RemoteModelException) return null;
        if (e is OperationCanceledException && cancellationToken.IsCancellationRequested) return null;
        var url = Url(path);
        if (e is OperationCanceledException or TimeoutException)
            return new RemoteModelException($"{url} did not answer in time; the server may be overloaded, or raise the network timeout.", url, null, e);
        if (e is ClientResultException cre)
        {
            if (cre.Status == 0) return Unreachable(url, e);
            var detail = ServerMessage(cre);
            var message = cre.Status switch
            {
                401 => $"{url} answered 401 Unauthorized: the API key was {(HasKey ? "rejected" : "missing")}; "
                       + "pass it with --api-key-env <VAR> (or api_key_env in the endpoint's configuration).",
                403 => $"{url} answered 403 Forbidden: the API key may not use model '{model}'.",
                404 => $"{url} answered 404 Not Found: check the model name '{model}' (see {Url("/models")}) "
                       + "and that the base URL ends with the API root, usually /v1.",
                _ => $"{url} answered {cre.Status} {ReasonPhrase(cre.Status)}.",
            };
            return new RemoteModelException(detail is null ? message : $"{message} Server said: {detail}", url, cre.Status, e);
        }
        if (e is HttpRequestException or SocketException or IOException)
            return Unreachable(url, e);
        return null;
    }

    private static RemoteModelException Unreachable(Uri url, Exception e)
    {
        for (var inner = e; inner != null; inner = inner.InnerException)
            if (inner is SocketException { SocketErrorCode: SocketError.ConnectionRefused } or HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError })
                return new RemoteModelException($"cannot reach {url}: is the server running? ({Innermost(e).Message})", url, null, e);
        return new RemoteModelException($"cannot reach {url}: {Innermost(e).Message}", url, null, e);
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException != null) e = e.InnerException;
        return e;
    }

    private static string? ServerMessage(ClientResultException e)
    {
        // The client puts the server's error body into the message after a status line; keep it short.
        var m = e.Message.ReplaceLineEndings(" ").Trim();
        if (m.Length == 0) return null;
        return m.Length <= 300 ? m : m[..300] + "…";
    }

    private static string ReasonPhrase(int status) =>
        Enum.IsDefined(typeof(HttpStatusCode), status) ? ((HttpStatusCode)status).ToString() : "";
}
