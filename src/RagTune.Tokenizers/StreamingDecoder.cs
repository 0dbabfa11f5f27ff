using System.Buffers;
using System.Text;

namespace RagTune.Tokenizers;

/// <summary>
/// Turns generated ids into text one id at a time. A piece may end inside a UTF-8 sequence (byte-fallback
/// tokens <c>&lt;0xE2&gt;&lt;0x96&gt;&lt;0x81&gt;</c> arrive one by one; an emoji is split across tokens), so
/// <see cref="Append"/> returns only the text that became complete and keeps the rest. Concatenating every
/// <see cref="Append"/> result and <see cref="Flush"/> equals <see cref="ITokenizer.Decode"/> of the same ids.
/// Not thread-safe: one decoder per generated sequence.
/// </summary>
public sealed class StreamingDecoder
{
    private readonly TokenDecodeTable _table;
    private readonly Decoder _utf8 = Encoding.UTF8.GetDecoder(); // replacement fallback: invalid bytes → U+FFFD, as Encoding.UTF8.GetString
    private char[] _chars = new char[64];
    private bool _atSequenceStart;

    internal StreamingDecoder(TokenDecodeTable table, bool atSequenceStart = true)
    {
        _table = table;
        _atSequenceStart = atSequenceStart;
    }

    /// <summary>Feeds <paramref name="id"/>; returns the text completed by it, or "" while a UTF-8 sequence is still open.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="id"/> is outside the vocabulary.</exception>
    public string Append(int id)
    {
        var bytes = _table.DisplayBytes(id, ref _atSequenceStart);
        return bytes.IsEmpty ? "" : Convert(bytes, flush: false);
    }

    /// <summary>Returns any bytes still held (an unfinished UTF-8 sequence) as U+FFFD and clears them.</summary>
    public string Flush() => Convert([], flush: true);

    private string Convert(ReadOnlySpan<byte> bytes, bool flush)
    {
        // Each byte yields at most one char (4-byte sequences give 2 chars for 4 bytes); up to 3 held bytes add 3.
        var need = bytes.Length + 4;
        if (_chars.Length < need)
            _chars = new char[Math.Max(need, _chars.Length * 2)];
        _utf8.Convert(bytes, _chars, flush, out _, out var charsUsed, out _);
        return charsUsed == 0 ? "" : new string(_chars, 0, charsUsed);
    }
}

/// <summary>
/// What each id looks like as text bytes, following llama.cpp / llama2.c display rules: ▁ becomes a space,
/// <c>&lt;0xNN&gt;</c> becomes that raw byte, control and unused tokens become nothing, and the leading space of
/// the first piece of a sequence (at the start and after each BOS) is dropped when the vocabulary adds a space
/// prefix, as llama2.c's <c>decode</c> and llama.cpp's <c>detokenize</c> do.
/// </summary>
internal sealed class TokenDecodeTable
{
    private readonly byte[][] _bytes;
    private readonly PieceDisplay[] _kinds;
    private readonly int _bosId;
    private readonly bool _stripLeadingSpace;

    internal TokenDecodeTable(byte[][] bytes, PieceDisplay[] kinds, int bosId, bool stripLeadingSpace)
    {
        _bytes = bytes;
        _kinds = kinds;
        _bosId = bosId;
        _stripLeadingSpace = stripLeadingSpace;
    }

    internal int Count => _bytes.Length;

    /// <summary>The bytes <paramref name="id"/> contributes given the sequence state, which it updates.</summary>
    internal ReadOnlySpan<byte> DisplayBytes(int id, ref bool atSequenceStart)
    {
        if ((uint)id >= (uint)_bytes.Length)
            ThrowIdOutOfRange(id, _bytes.Length);
        if (id == _bosId)
        {
            atSequenceStart = true;
            return [];
        }
        var kind = _kinds[id];
        if (kind == PieceDisplay.Silent)
            return [];
        ReadOnlySpan<byte> piece = _bytes[id];
        if (atSequenceStart)
        {
            atSequenceStart = false;
            if (kind == PieceDisplay.Text && _stripLeadingSpace && piece.Length > 0 && piece[0] == (byte)' ')
                piece = piece[1..];
        }
        return piece;
    }

    /// <summary>Decodes a whole sequence; invalid or unfinished UTF-8 becomes U+FFFD.</summary>
    internal string Decode(ReadOnlySpan<int> ids)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(16, ids.Length * 4));
        try
        {
            var length = 0;
            var atStart = true;
            foreach (var id in ids)
            {
                var piece = DisplayBytes(id, ref atStart);
                if (length + piece.Length > buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(buffer.Length * 2, length + piece.Length));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                piece.CopyTo(buffer.AsSpan(length));
                length += piece.Length;
            }
            return Encoding.UTF8.GetString(buffer, 0, length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void ThrowIdOutOfRange(int id, int count) =>
        throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is outside the vocabulary [0, {count}).");
}

/// <summary>How a piece shows up in decoded text.</summary>
internal enum PieceDisplay : byte
{
    /// <summary>Control or unused: no text, and the sequence start is not consumed.</summary>
    Silent,

    /// <summary>Normal, user-defined or unknown text: may lose its leading space at the sequence start.</summary>
    Text,

    /// <summary>Byte fallback: one raw byte, never stripped.</summary>
    RawByte,
}
