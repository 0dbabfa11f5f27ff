using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Caching.Distributed;

namespace RagTune.Hosting.Middleware;

/// <summary>
/// An <see cref="IDistributedCache"/> in a folder: one file per key (named by the key's SHA-256), written to a temporary
/// file and moved into place so a killed run never leaves half an entry. Entries do not expire: the cache exists to
/// make evaluation runs repeatable, and is cleared by deleting the folder. Safe for several processes sharing it.
/// </summary>
internal sealed class FileDistributedCache : IDistributedCache
{
    private readonly string _dir;

    public FileDistributedCache(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        _dir = Path.GetFullPath(directory);
        try
        {
            Directory.CreateDirectory(_dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw HostingException.Invalid($"The response cache folder '{_dir}' cannot be created ({e.Message}); pass a writable --cache-dir.", "cacheDir");
        }
    }

    private string PathOf(string key) =>
        Path.Combine(_dir, Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key))).ToLowerInvariant() + ".bin");

    public byte[]? Get(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        try
        {
            return File.ReadAllBytes(PathOf(key));
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    public async Task<byte[]?> GetAsync(string key, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        try
        {
            return await File.ReadAllBytesAsync(PathOf(key), token).ConfigureAwait(false);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    public void Set(string key, byte[] value, DistributedCacheEntryOptions options)
    {
        ArgumentNullException.ThrowIfNull(value);
        var path = PathOf(key);
        var temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        File.WriteAllBytes(temp, value);
        File.Move(temp, path, overwrite: true);
    }

    public async Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(value);
        var path = PathOf(key);
        var temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        await File.WriteAllBytesAsync(temp, value, token).ConfigureAwait(false);
        File.Move(temp, path, overwrite: true);
    }

    public void Refresh(string key)
    {
    }

    public Task RefreshAsync(string key, CancellationToken token = default) => Task.CompletedTask;

    public void Remove(string key) => File.Delete(PathOf(key));

    public Task RemoveAsync(string key, CancellationToken token = default)
    {
        Remove(key);
        return Task.CompletedTask;
    }
}
