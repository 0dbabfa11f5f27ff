namespace RagTune.Rag.Ingestion;

/// <summary>A file to ingest: its full path and its document id (path relative to the root it was found under, '/' separated).</summary>
internal sealed record SourceFile(string FullPath, string Id);

/// <summary>
/// One source argument, resolved: the files it names now, and the part of the file system it covers (for
/// <c>--sync</c>, which deletes only documents whose source file lies inside a scope and no longer exists).
/// </summary>
internal sealed record SourceScope(string Argument, string Root, string? Pattern, bool IsSingleFile)
{
    /// <summary>True when <paramref name="fullPath"/> is covered by this scope.</summary>
    public bool Contains(string fullPath)
    {
        if (IsSingleFile) return string.Equals(fullPath, Root, StringComparison.Ordinal);
        var rel = SourceEnumerator.RelativeTo(Root, fullPath);
        if (rel == null) return false;
        return Pattern == null ? DocumentReaders.IsSupported(fullPath) : SourceEnumerator.GlobMatch(Pattern, rel) && DocumentReaders.IsSupported(fullPath);
    }
}

/// <summary>Everything the sources named: files in stable order, scopes, and arguments that matched nothing usable.</summary>
internal sealed record SourceSet(IReadOnlyList<SourceFile> Files, IReadOnlyList<SourceScope> Scopes, IReadOnlyList<(string Source, string Reason)> Problems);

/// <summary>
/// Expands ingest arguments into files: a file is itself (id = its file name); a directory is every supported
/// file below it, recursively (ids relative to it; hidden files and folders, whose names start with '.', are
/// skipped); a glob (<c>*</c> within a name, <c>?</c> one character, <c>**</c> any number of folders) is
/// matched below its longest wildcard-free folder prefix (ids relative to that prefix). Files are ordered by
/// id (ordinal) so runs are deterministic; a file reached twice is kept once.
/// </summary>
internal static class SourceEnumerator
{
    /// <summary>Expands <paramref name="sources"/> relative to <paramref name="baseDirectory"/> (default: the current directory).</summary>
    public static SourceSet Expand(IReadOnlyList<string> sources, string? baseDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(sources);
        var baseDir = Path.GetFullPath(baseDirectory ?? Directory.GetCurrentDirectory());
        var files = new List<SourceFile>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var scopes = new List<SourceScope>();
        var problems = new List<(string, string)>();
        foreach (var arg in sources)
        {
            if (string.IsNullOrWhiteSpace(arg)) continue;
            var found = new List<SourceFile>();
            if (arg.IndexOfAny(['*', '?']) >= 0)
            {
                var (root, pattern) = SplitGlob(Path.GetFullPath(Path.Combine(baseDir, arg)));
                scopes.Add(new SourceScope(arg, root, pattern, false));
                if (Directory.Exists(root))
                    foreach (var f in Walk(root))
                    {
                        var rel = RelativeTo(root, f)!;
                        if (GlobMatch(pattern, rel) && DocumentReaders.IsSupported(f)) found.Add(new SourceFile(f, rel));
                    }
                if (found.Count == 0) problems.Add((arg, "no supported files match this pattern"));
            }
            else
            {
                var full = Path.GetFullPath(Path.Combine(baseDir, arg));
                if (Directory.Exists(full))
                {
                    var root = Path.TrimEndingDirectorySeparator(full);
                    scopes.Add(new SourceScope(arg, root, null, false));
                    foreach (var f in Walk(root))
                        if (DocumentReaders.IsSupported(f)) found.Add(new SourceFile(f, RelativeTo(root, f)!));
                }
                else if (File.Exists(full))
                {
                    scopes.Add(new SourceScope(arg, full, null, true));
                    if (DocumentReaders.IsSupported(full)) found.Add(new SourceFile(full, Path.GetFileName(full)));
                    else problems.Add((arg, $"unsupported file type '{Path.GetExtension(full)}' (supported: {string.Join(", ", DocumentReaders.SupportedExtensions)})"));
                }
                else
                {
                    problems.Add((arg, "no such file or directory"));
                }
            }
            found.Sort((a, b) => string.CompareOrdinal(a.Id, b.Id));
            foreach (var f in found)
                if (seen.Add(f.FullPath)) files.Add(f);
        }
        return new SourceSet(files, scopes, problems);
    }

    private static IEnumerable<string> Walk(string root)
    {
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.Hidden | FileAttributes.System, IgnoreInaccessible = true };
        foreach (var f in Directory.EnumerateFiles(root, "*", options))
        {
            var rel = RelativeTo(root, f);
            if (rel == null || rel.Split('/').Any(part => part.StartsWith('.'))) continue;
            yield return f;
        }
    }

    private static (string Root, string Pattern) SplitGlob(string fullPattern)
    {
        var parts = fullPattern.Replace('\\', '/').Split('/');
        var fixedCount = 0;
        while (fixedCount < parts.Length - 1 && parts[fixedCount].IndexOfAny(['*', '?']) < 0) fixedCount++;
        var root = string.Join('/', parts.Take(fixedCount));
        if (root.Length == 0) root = "/";
        return (root, string.Join('/', parts.Skip(fixedCount)));
    }

    /// <summary>The '/'-separated path of <paramref name="fullPath"/> below <paramref name="root"/>, or null when outside it.</summary>
    public static string? RelativeTo(string root, string fullPath)
    {
        var rel = Path.GetRelativePath(root, fullPath);
        if (rel == "." || rel.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(rel)) return null;
        return rel.Replace('\\', '/');
    }

    /// <summary>Matches a '/'-separated relative path against a glob: <c>*</c> and <c>?</c> within one segment, <c>**</c> any number of segments (ordinal, case-sensitive).</summary>
    public static bool GlobMatch(string pattern, string path) => MatchSegments(pattern.Split('/'), 0, path.Split('/'), 0);

    private static bool MatchSegments(string[] pat, int pi, string[] segs, int si)
    {
        while (pi < pat.Length)
        {
            if (pat[pi] == "**")
            {
                for (var k = si; k <= segs.Length; k++)
                    if (MatchSegments(pat, pi + 1, segs, k)) return true;
                return false;
            }
            if (si >= segs.Length || !MatchName(pat[pi], 0, segs[si], 0)) return false;
            pi++;
            si++;
        }
        return si == segs.Length;
    }

    private static bool MatchName(string p, int pi, string s, int si)
    {
        while (pi < p.Length)
        {
            if (p[pi] == '*')
            {
                for (var k = si; k <= s.Length; k++)
                    if (MatchName(p, pi + 1, s, k)) return true;
                return false;
            }
            if (si >= s.Length || (p[pi] != '?' && p[pi] != s[si])) return false;
            pi++;
            si++;
        }
        return si == s.Length;
    }
}
