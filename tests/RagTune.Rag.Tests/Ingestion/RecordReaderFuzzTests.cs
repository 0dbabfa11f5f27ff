using System.Text;
using RagTune.Rag.Ingestion;
using RagTune.TestKit;

namespace RagTune.Rag.Tests.Ingestion;

/// <summary>
/// Seeded, bounded mutation fuzzing of the JSON, JSONL and CSV readers: each mutant of a small valid file is read or
/// refused with a <see cref="DocumentReadException"/> naming the file, never another exception. Counts are in
/// docs/reliability.md.
/// </summary>
public sealed class RecordReaderFuzzTests
{
    private static readonly byte[][] s_inserts = ["\""u8.ToArray(), "\\"u8.ToArray(), "\n"u8.ToArray(), "{"u8.ToArray(), "]"u8.ToArray(), [0], [0xC3], [0xFF, 0xFE], "\\u"u8.ToArray(), ","u8.ToArray()];

    private static byte[] Mutate(Random random, byte[] valid)
    {
        var b = valid.ToList();
        for (int i = 0, n = random.Next(1, 4); i < n && b.Count > 0; i++)
        {
            var at = random.Next(b.Count);
            switch (random.Next(4))
            {
                case 0: b[at] ^= (byte)(1 << random.Next(8)); break;
                case 1: b.RemoveRange(at, Math.Min(random.Next(1, 8), b.Count - at)); break;
                case 2: b.InsertRange(at, s_inserts[random.Next(s_inserts.Length)]); break;
                default: b.RemoveRange(at, b.Count - at); break;
            }
        }
        return [.. b];
    }

    [Theory]
    [InlineData("jsonl", 1)]
    [InlineData("json", 2)]
    [InlineData("csv", 3)]
    public void Mutated_record_files_are_read_or_refused_by_name(string ext, int seed)
    {
        var valid = Encoding.UTF8.GetBytes(ext switch
        {
            "jsonl" => "{\"id\":\"a\",\"title\":\"A\",\"text\":\"Caf\u00e9 opens at nine.\",\"n\":3}\n{\"id\":\"b\",\"text\":\"Second \\\"quoted\\\" line.\",\"ok\":true}\n",
            "json" => "[{\"id\":\"a\",\"text\":\"First.\",\"tags\":[1,2]},{\"id\":\"b\",\"title\":\"B\",\"text\":\"Second.\"}]",
            _ => "id,title,text\na,A,\"Hello, \"\"world\"\"\nnext\"\nb,B,plain\n",
        });
        using var dir = new TempDir();
        var path = dir.File("fuzz." + ext);
        var random = new Random(seed);
        var failures = new List<string>();
        for (var i = 0; i < 2000; i++)
        {
            var bytes = Mutate(random, valid);
            File.WriteAllBytes(path, bytes);
            try
            {
                DocumentReaders.Read(path, ReaderOptions.Default);
            }
            catch (DocumentReadException e) when (e.Path == path && e.Message.Contains(path, StringComparison.Ordinal))
            {
            }
            catch (Exception e)
            {
                failures.Add($"{ext} seed {seed} input {i}: {e.GetType().Name}: {e.Message} bytes {Convert.ToHexString(bytes)}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(5)));
    }
}
