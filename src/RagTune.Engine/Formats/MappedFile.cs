using System.IO.MemoryMappedFiles;

namespace RagTune.Engine.Formats;

/// <summary>
/// A whole file mapped read-only with its base pointer acquired once. Model readers parse headers from it and hand
/// out views of the weights in place; nothing is copied. Views become invalid once this is disposed.
/// </summary>
internal sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _pointer;

    private MappedFile(string path, long length, MemoryMappedFile? map, MemoryMappedViewAccessor? view, byte* pointer)
    {
        Path = path;
        Length = length;
        _map = map;
        _view = view;
        _pointer = pointer;
    }

    /// <summary>Full path of the mapped file.</summary>
    public string Path { get; }

    /// <summary>File size in bytes.</summary>
    public long Length { get; }

    /// <summary>First byte of the mapping; null for an empty file (which cannot be mapped).</summary>
    public byte* Pointer => _pointer != null || Length == 0 ? _pointer : throw new ObjectDisposedException(Path);

    /// <summary>
    /// Maps <paramref name="path"/>. A missing file throws <see cref="FileNotFoundException"/> (every model reader
    /// reports a missing file this way); an empty file gives a mapping with a null pointer and length 0.
    /// </summary>
    public static MappedFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException(Directory.Exists(full)
                ? $"Model file '{full}' is a directory; pass the path of the model file inside it."
                : $"Model file '{full}' does not exist; check the path or download the model first.", full);
        }

        var stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.RandomAccess);
        var length = stream.Length;
        if (length == 0)
        {
            stream.Dispose();
            return new MappedFile(full, 0, null, null, null);
        }

        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            map = MemoryMappedFile.CreateFromFile(stream, mapName: null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            return new MappedFile(full, length, map, view, p + view.PointerOffset);
        }
        catch
        {
            view?.Dispose();
            if (map != null) map.Dispose(); else stream.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (_view != null && _pointer != null)
        {
            _pointer = null;
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
        _view?.Dispose();
        _map?.Dispose();
    }
}
