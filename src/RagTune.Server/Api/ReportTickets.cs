using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;

namespace RagTune.Server.Api;

/// <summary>
/// Short-lived links to one comparison's report.html. A browser cannot send the API key from an iframe or a new
/// tab, so the page asks for a ticket (with the key) and loads <c>/api/compare/{id}/report.html?ticket=…</c>; the
/// ticket opens that one report, and nothing else, for <see cref="Lifetime"/>.
/// </summary>
internal sealed class ReportTickets
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(10);

    private readonly ConcurrentDictionary<string, (string Id, DateTimeOffset Expires)> _tickets = new(StringComparer.Ordinal);
    private readonly TimeProvider _clock;

    public ReportTickets(TimeProvider? clock = null) => _clock = clock ?? TimeProvider.System;

    /// <summary>A new ticket for comparison <paramref name="id"/>'s report.</summary>
    public string Issue(string id)
    {
        var now = _clock.GetUtcNow();
        foreach (var (key, value) in _tickets)
            if (value.Expires <= now) _tickets.TryRemove(key, out _);
        var ticket = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();
        _tickets[ticket] = (id, now + Lifetime);
        return ticket;
    }

    /// <summary>True when <paramref name="request"/> is a GET of the report its valid ticket was issued for.</summary>
    public bool Admits(HttpRequest request)
    {
        if (!HttpMethods.IsGet(request.Method) || request.Query["ticket"].ToString() is not { Length: > 0 } ticket) return false;
        if (!_tickets.TryGetValue(ticket, out var entry) || entry.Expires <= _clock.GetUtcNow()) return false;
        return request.Path.Equals(ReportPath(entry.Id), StringComparison.Ordinal);
    }

    public static string ReportPath(string id) => $"/api/compare/{id}/report.html";
}
