using RagTune.Rag.Store;

namespace RagTune.Rag.Postgres;

/// <summary>
/// The terms of a keyword query: the <see cref="QueryWords"/> every store uses (so both stores score the same
/// words), each then put through <see cref="Fts5Tokens"/>, as FTS5 analyses a quoted phrase. Words that stem alike
/// ("trade", "trades") stay separate terms, each adding its BM25 weight, as FTS5's OR of phrases does.
/// </summary>
internal static class Bm25Query
{
    /// <summary>The stemmed query terms, one per query word (repeats possible); empty when the text has no words.</summary>
    public static List<string> Terms(string text) => QueryWords.Of(text).SelectMany(Fts5Tokens.Tokenize).ToList();
}
