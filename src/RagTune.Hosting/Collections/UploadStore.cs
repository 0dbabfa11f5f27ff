using System.Buffers;
using System.Text;

namespace RagTune.Hosting.Collections;

/// <summary>
/// Writes uploaded files below one folder. The client's file name is reduced to a safe base name (no folders,
/// no leading dots, only letters, digits, '-', '_', '.' and spaces), and the final path is checked to lie inside the
/// folder, so no name can write elsewhere. Files are written to a temporary name and moved into place.
/// </summary>
internal static class UploadStore
{
    public const int MaxNameLength = 120;

    /// <summary>The safe base name for <paramref name="clientName"/>, or null when nothing usable is left.</summary>
    public static string? SanitizeFileName(string? clientName)
    {
        if (string.IsNullOrWhiteSpace(clientName)) return null;
        // Browsers on Windows may send "C:\\dir\\file.txt": only the last segment names the file.
        var name = clientName.Replace('\\', '/');
        name = name[(name.LastIndexOf('/') + 1)..];
        var safe = new StringBuilder(name.Length);
        foreach (var c in name.Normalize(NormalizationForm.FormC))
            safe.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ' ' ? c : '_');
        var result = safe.ToString().Trim().TrimStart('.').Trim();
        if (result.Length == 0 || result.All(c => c is '_' or '.')) return null;
        if (result.Length > MaxNameLength)
        {
            var ext = Path.GetExtension(result);
            if (ext.Length > 16) ext = "";
            result = result[..(MaxNameLength - ext.Length)] + ext;
        }
        return result;
    }

    /// <summary>
    /// Copies <paramref name="content"/> to <c>folder/&lt;safe name&gt;</c>, replacing an earlier file of that name.
    /// </summary>
    /// <exception cref="HostingException">The name is unusable (Invalid) or the content exceeds <paramref name="maxBytes"/> (TooLarge).</exception>
    public static async Task<StoredUpload> SaveAsync(string folder, string? clientName, Stream content, long maxBytes, CancellationToken ct)
    {
        var name = SanitizeFileName(clientName)
            ?? throw HostingException.Invalid($"The uploaded file name '{clientName}' has no usable characters; name the file e.g. 'notes.md'.", "file");
        var root = Path.GetFullPath(folder);
        var path = Path.GetFullPath(Path.Combine(root, name));
        // Belt and braces: the sanitiser already removed separators, but never write outside the folder.
        if (!path.StartsWith(Path.TrimEndingDirectorySeparator(root) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw HostingException.Invalid($"The uploaded file name '{clientName}' would leave the upload folder.", "file");
        Directory.CreateDirectory(root);
        var temp = Path.Combine(root, "." + Guid.NewGuid().ToString("N") + ".part");
        long total = 0;
        try
        {
            await using (var output = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, useAsync: true))
            {
                var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
                try
                {
                    int n;
                    while ((n = await content.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                    {
                        total += n;
                        if (total > maxBytes)
                            throw new HostingException(HostingFailure.TooLarge,
                                $"The file '{name}' is larger than the upload limit of {maxBytes} bytes (RagTune:MaxUploadBytes); split it or raise the limit.", "file");
                        await output.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
            File.Move(temp, path, overwrite: true);
            return new StoredUpload(name, total);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
