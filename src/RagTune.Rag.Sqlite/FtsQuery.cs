using RagTune.Rag.Store;

namespace RagTune.Rag.Sqlite;

/// <summary>
/// Turns free text into a safe FTS5 MATCH expression: every word becomes a quoted string (so FTS5 operators,
/// column filters and stray quotes in user input mean nothing) and the words are OR-ed, which gives BM25's
/// "any term may match, more matches rank higher" behaviour. The words are <see cref="QueryWords"/>' (the same in
/// every store).
/// </summary>
internal static class FtsQuery
{
    /// <summary>The MATCH expression, or null when the text has no words.</summary>
    public static string? Build(string text)
    {
        var terms = Words(text);
        // A word holds only letters, digits and marks, so wrapping it in double quotes needs no escaping.
        return terms.Count == 0 ? null : string.Join(" OR ", terms.Select(t => "\"" + t + "\""));
    }

    /// <summary>
    /// The words <see cref="Build"/> OR-s together, in order: each is one FTS5 phrase, numbered as FTS5 numbers
    /// them (the order bm25() sums them in).
    /// </summary>
    public static List<string> Words(string text) => QueryWords.Of(text);
}
