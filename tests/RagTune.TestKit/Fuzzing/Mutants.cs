namespace RagTune.TestKit.Fuzzing;

/// <summary>
/// Seeded mutators shared by the format fuzz tests (docs/reliability.md): one for text formats (JSON, YAML, HTML,
/// tokenizer.json), one for binary formats whose header sits at the start (safetensors, ONNX, ZIP).
/// </summary>
public static class Mutants
{
    // Characters that change structure in the text formats we read: quotes, escapes, brackets, YAML indicators,
    // markup, a NUL, a lone UTF-8 lead byte, a UTF-16 BOM.
    private static readonly byte[][] s_textInserts =
    [
        "\""u8.ToArray(), "\\"u8.ToArray(), "\n"u8.ToArray(), "{"u8.ToArray(), "]"u8.ToArray(), [0], [0xC3], [0xFF, 0xFE],
        "\\u"u8.ToArray(), ","u8.ToArray(), ":"u8.ToArray(), "- "u8.ToArray(), "&"u8.ToArray(), "*"u8.ToArray(),
        "<"u8.ToArray(), "</"u8.ToArray(), "1e999"u8.ToArray(), "-1"u8.ToArray(), "99999999999999999999"u8.ToArray(), "null"u8.ToArray(),
    ];

    /// <summary>1–3 of: a flipped bit, a deleted range, an inserted structural token, truncation.</summary>
    public static byte[] Text(Random random, byte[] valid)
    {
        ArgumentNullException.ThrowIfNull(random);
        var b = valid.ToList();
        for (int i = 0, n = random.Next(1, 4); i < n && b.Count > 0; i++)
        {
            var at = random.Next(b.Count);
            switch (random.Next(5))
            {
                case 0: b[at] ^= (byte)(1 << random.Next(8)); break;
                case 1: b.RemoveRange(at, Math.Min(random.Next(1, 8), b.Count - at)); break;
                case 2:
                case 3: b.InsertRange(at, s_textInserts[random.Next(s_textInserts.Length)]); break;
                default: b.RemoveRange(at, b.Count - at); break;
            }
        }
        return [.. b];
    }

    /// <summary>Bit flips, a deleted or repeated range, or truncation, within the first <paramref name="region"/> bytes.</summary>
    public static byte[] Binary(Random random, byte[] valid, int region)
    {
        ArgumentNullException.ThrowIfNull(random);
        var b = (byte[])valid.Clone();
        region = Math.Max(1, Math.Min(region, b.Length));
        var at = random.Next(region);
        var len = Math.Min(random.Next(1, 64), b.Length - at);
        switch (random.Next(4))
        {
            case 0:
                for (int i = 0, n = random.Next(1, 5); i < n; i++) b[random.Next(region)] ^= (byte)(1 << random.Next(8));
                return b;
            case 1: return b[..random.Next(b.Length)];
            case 2: return [.. b[..at], .. b[(at + len)..]];
            default: return [.. b[..(at + len)], .. b[at..]];
        }
    }
}
