using System.Buffers.Binary;
using System.Text;

namespace RagTune.Engine.Formats;

/// <summary>The single-file checkpoint formats the engine reads.</summary>
internal enum ModelFileKind
{
    /// <summary>GGUF: starts with the magic "GGUF".</summary>
    Gguf,

    /// <summary>llama2.c: a 7 x int32 header (run.c's Config) of plausible sizes, or its versioned "ak42" magic.</summary>
    LlamaC,
}

/// <summary>
/// Chooses a checkpoint's reader from its first bytes. llama2.c v0 files have no magic, so a file that is not GGUF
/// is taken for one only when its header reads as seven plausible sizes; anything else (a damaged GGUF magic, a
/// text file, random bytes) is refused here with its first bytes shown, instead of being misreported as a broken
/// llama2.c checkpoint.
/// </summary>
internal static class ModelFileProbe
{
    private const int LlamaCHeaderBytes = 7 * sizeof(int);

    /// <summary>What <paramref name="path"/> is; <see cref="ModelFormatException"/> naming the file when neither.</summary>
    public static ModelFileKind Detect(string path)
    {
        Span<byte> head = stackalloc byte[LlamaCHeaderBytes];
        int read;
        using (var fs = File.OpenRead(path))
            read = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        head = head[..read];
        if (head.StartsWith("GGUF"u8)) return ModelFileKind.Gguf;
        if (read >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(head) == LlamaCCheckpoint.VersionedMagic) return ModelFileKind.LlamaC;
        if (read == LlamaCHeaderBytes && IsPlausibleLlamaCHeader(head)) return ModelFileKind.LlamaC;
        throw new ModelFormatException(path, Describe(head, new FileInfo(path).Length));
    }

    /// <summary>
    /// Seven positive sizes within generous bounds (dim ≤ 65536, hidden_dim ≤ 2^20, n_layers ≤ 4096,
    /// n_heads ≤ dim, n_kv_heads ≤ n_heads, 0 &lt; |vocab_size| ≤ 2^24, seq_len ≤ 2^24). Divisibility and the file
    /// size are left to <see cref="LlamaCCheckpoint"/>, whose messages say which one is wrong.
    /// </summary>
    internal static bool IsPlausibleLlamaCHeader(ReadOnlySpan<byte> header)
    {
        Span<int> h = stackalloc int[7];
        for (var i = 0; i < h.Length; i++) h[i] = BinaryPrimitives.ReadInt32LittleEndian(header[(i * 4)..]);
        int dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kvHeads = h[4], vocab = h[5], seqLen = h[6];
        return dim is > 0 and <= 1 << 16 && hidden is > 0 and <= 1 << 20 && layers is > 0 and <= 4096
               && heads > 0 && heads <= dim && kvHeads > 0 && kvHeads <= heads
               && vocab != 0 && vocab != int.MinValue && Math.Abs(vocab) <= 1 << 24 && seqLen is > 0 and <= 1 << 24;
    }

    private static string Describe(ReadOnlySpan<byte> head, long length)
    {
        var shown = head[..Math.Min(head.Length, 8)];
        var ascii = new StringBuilder(shown.Length);
        foreach (var b in shown) ascii.Append(b is >= 0x20 and < 0x7f ? (char)b : '.');
        var hint = "";
        if (shown.Length >= 4 && CountEqual(shown[..4], "GGUF"u8) >= 2)
            hint = " The start resembles the GGUF magic: the file is probably a damaged GGUF; re-download it.";
        else if (head.Length > 8 && head[8] == (byte)'{')
            hint = " It looks like a safetensors file: pass the Hugging Face folder holding it and its config.json.";
        else if (shown.Length > 0 && (shown[0] == (byte)'{' || shown[0] == (byte)'<'))
            hint = " It looks like a text (JSON/HTML) file, perhaps an error page saved by a failed download.";
        var bytes = shown.Length == 0 ? "the file is empty" : $"its first bytes are 0x{Convert.ToHexString(shown)} (\"{ascii}\")";
        return $"not a model file this engine reads: {bytes}, {length} bytes in all. Accepted: a GGUF file (starts with \"GGUF\"), " +
               $"a llama2.c v0 checkpoint (a 28-byte header of seven plausible int32 sizes) or a Hugging Face folder (config.json + *.safetensors).{hint} Check the path.";
    }

    private static int CountEqual(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        var n = 0;
        for (var i = 0; i < a.Length; i++)
            if (a[i] == b[i]) n++;
        return n;
    }
}
