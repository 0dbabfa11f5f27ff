using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace RagTune.Server;

/// <summary>
/// Serves the web UI from files embedded in this assembly (<c>WebUi/wwwroot</c>): <c>/</c> is the page, <c>/ui/…</c>
/// its scripts and styles. No front-end server or bundler runs; the page talks to <c>/api</c> and <c>/v1</c>.
/// </summary>
internal static class WebUi
{
    private const string Prefix = "ui/";

    // Everything the page loads comes from this server; no inline scripts, no third-party origins.
    private const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

    public static void Map(IEndpointRouteBuilder app)
    {
        var files = Load();
        app.MapGet("/", (HttpContext c) => Serve(c, files, "index.html"));
        app.MapGet("/ui/{**path}", (string path, HttpContext c) => Serve(c, files, path));
    }

    /// <summary>The embedded files by path below <c>wwwroot</c> ('/'-separated).</summary>
    internal static Dictionary<string, byte[]> Load()
    {
        var assembly = typeof(WebUi).Assembly;
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames())
        {
            if (!name.StartsWith(Prefix, StringComparison.Ordinal)) continue;
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            files[name[Prefix.Length..].Replace('\\', '/')] = copy.ToArray();
        }
        if (!files.ContainsKey("index.html"))
            throw new InvalidOperationException($"The web UI is missing from {assembly.GetName().Name}: no embedded ui/index.html. Rebuild RagTune.Server.");
        return files;
    }

    private static IResult Serve(HttpContext c, Dictionary<string, byte[]> files, string path)
    {
        if (!files.TryGetValue(path, out var bytes))
            return Results.NotFound();
        c.Response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        c.Response.Headers.XContentTypeOptions = "nosniff";
        c.Response.Headers.CacheControl = "no-cache";
        return Results.Bytes(bytes, ContentType(path));
    }

    private static string ContentType(string path) => Path.GetExtension(path) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        _ => "application/octet-stream",
    };
}
