namespace RagTune.Models.Downloads;

/// <summary>How pulls that are not catalog names are named in the cache: <c>owner--repo/&lt;file stem&gt;</c> and <c>&lt;file stem&gt;/url</c>.</summary>
public static class CacheNames
{
    /// <summary>The cache name and variant of file <paramref name="file"/> of Hugging Face repository <paramref name="repo"/> (<c>owner/name</c>).</summary>
    public static (string Name, string Variant) ForHubFile(string repo, string file)
    {
        var parts = repo.Split('/');
        if (parts.Length != 2 || parts.Any(p => p.Length == 0 || p == "." || p == ".."))
            throw new ArgumentException($"'{repo}' is not a Hugging Face repository 'owner/name'.", nameof(repo));
        return ($"{parts[0]}--{parts[1]}".ToLowerInvariant(), Stem(file));
    }

    /// <summary>The cache name and variant of a file pulled from <paramref name="url"/>.</summary>
    public static (string Name, string Variant) ForUrl(Uri url) => (Stem(Uri.UnescapeDataString(url.Segments[^1])), "url");

    /// <summary>The file name without folders and extension, lower-cased: <c>Llama-Q8_0.gguf</c> → <c>llama-q8_0</c>.</summary>
    public static string Stem(string file) => Path.GetFileNameWithoutExtension(file.Split('/')[^1]).ToLowerInvariant();
}
