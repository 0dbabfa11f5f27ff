using RagTune.Rag.Store;

namespace RagTune.TestKit.Stores;

/// <summary>Builders for documents, chunks and vectors used by the store tests of every store.</summary>
internal static class StoreData
{
    public static SourceDocument Doc(string id, string text, string? title = null, Dictionary<string, string>? metadata = null, string? hash = null) =>
        new(id, "/src/" + id, title ?? id, text, hash ?? ("h-" + text.GetHashCode(StringComparison.Ordinal)), metadata ?? new Dictionary<string, string> { ["ext"] = "txt" });

    /// <summary>A document whose chunks are its sentences (split on '.').</summary>
    public static DocumentWrite Write(string id, string text, string? title = null, Dictionary<string, string>? metadata = null, IReadOnlyList<float[]>? vectors = null)
    {
        var doc = Doc(id, text, title, metadata);
        var chunks = new List<Chunk>();
        int start = 0;
        foreach (var part in text.Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            int s = text.IndexOf(part, start, StringComparison.Ordinal);
            chunks.Add(new Chunk(chunks.Count, part, s, s + part.Length, ["Intro", "Part " + chunks.Count], part.Split(' ').Length));
            start = s + part.Length;
        }
        return new DocumentWrite(doc, chunks, vectors);
    }

    public static float[] RandomVector(Random rng, int dim)
    {
        var v = new float[dim];
        for (int i = 0; i < dim; i++) v[i] = (float)(rng.NextDouble() * 2 - 1);
        return v;
    }
}
