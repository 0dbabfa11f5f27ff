namespace RagTune.TestKit.Fuzzing;

/// <summary>
/// Runs seeded mutants through a reader: each must be read, or fail with the reader's documented exception whose
/// message names the file. Anything else, or more than 64 MiB allocated for one input (a claim of a huge size
/// believed before it was checked), is a failure (thrown as one InvalidOperationException listing the first five); its input is written beside the file as <c>failure-i.ext</c>.
/// </summary>
public static class FuzzRun
{
    /// <summary>Per input: far above what a small valid file needs, far below what a believed huge claim takes.</summary>
    public const long MaxAllocatedBytesPerInput = 64L * 1024 * 1024;

    /// <summary>Writes each of <paramref name="count"/> mutants to <paramref name="path"/> and opens it; returns how many opened.</summary>
    public static int Run<TDocumented>(string path, int seed, int count, Func<Random, byte[]> mutate, Action<string> open)
        where TDocumented : Exception => Run(path, seed, count, mutate, open, e => e is TDocumented);

    /// <summary>As above, with a predicate for readers documented to throw one of several types.</summary>
    public static int Run(string path, int seed, int count, Func<Random, byte[]> mutate, Action<string> open, Func<Exception, bool> documented)
    {
        ArgumentNullException.ThrowIfNull(mutate);
        ArgumentNullException.ThrowIfNull(open);
        ArgumentNullException.ThrowIfNull(documented);
        var random = new Random(seed);
        var failures = new List<string>();
        var opened = 0;
        for (var i = 0; i < count; i++)
        {
            var bytes = mutate(random);
            File.WriteAllBytes(path, bytes);
            var before = GC.GetAllocatedBytesForCurrentThread();
            string? failure = null;
            try
            {
                open(path);
                opened++;
            }
            catch (Exception e) when (documented(e) && NamesTheFile(e.Message, path))
            {
            }
            catch (Exception e)
            {
                failure = $"{e.GetType().Name}: {e.Message}";
            }
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (failure == null && allocated > MaxAllocatedBytesPerInput) failure = $"allocated {allocated:N0} bytes";
            if (failure == null) continue;
            var saved = Path.Combine(Path.GetDirectoryName(path)!, $"failure-{i}{Path.GetExtension(path)}");
            File.WriteAllBytes(saved, bytes);
            failures.Add($"{Path.GetFileName(path)} seed {seed} input {i}: {failure} (input saved as {saved})");
        }
        if (failures.Count > 0)
            throw new InvalidOperationException($"{failures.Count} of {count} inputs failed:\n{string.Join("\n", failures.Take(5))}");
        return opened;
    }

    // A folder format (a PEFT adapter) may rightly blame the file beside the mutated one: the folder is named then.
    private static bool NamesTheFile(string message, string path) =>
        message.Contains(Path.GetFileName(path), StringComparison.Ordinal)
        || message.Contains(Path.GetDirectoryName(path)!, StringComparison.Ordinal);
}
