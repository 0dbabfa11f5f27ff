using System.Security.Cryptography;

namespace RagTune.Cli.Commands.Compare;

/// <summary>
/// The demo model built once with the default <see cref="DemoModelOptions"/> (<c>ragtune demo build-model</c>, seeded)
/// and committed as <c>src/RagTune.Cli/Commands/Compare/DemoModel/demo.gguf</c>, embedded in the CLI, so a recipe that
/// takes longer than the demo's budget to pretrain still runs at once on any machine. It is trusted only when its bytes
/// hash to <see cref="Sha256"/> and the recipe asked for is the one it was built with (<see cref="Key"/>); otherwise the
/// builder trains the model itself. Rebuild it with <c>ragtune demo build-model --out
/// src/RagTune.Cli/Commands/Compare/DemoModel/demo.gguf</c> (about 3 minutes on two cores) and record the key and
/// sha256 it prints; the same recipe gives the same bytes.
/// </summary>
internal static class CommittedDemoModel
{
    /// <summary>The <see cref="DemoModelOptions.Key"/> of the recipe the committed file was built with.</summary>
    public const string Key = "fdf327576552942a";

    /// <summary>sha256 of the committed file.</summary>
    public const string Sha256 = "f8e7b7a2ec3cdc8c83619ba2a4ddfe83481e317bfe9b0622aef26ee40bbf0d72";

    private const string Resource = "RagTune.Cli.DemoModel.gguf";

    /// <summary>Whether a committed model exists for the recipe of <paramref name="options"/> (its hash is checked on unpacking).</summary>
    public static bool Fits(DemoModelOptions options) =>
        Key.Length > 0 && options.Key() == Key && typeof(CommittedDemoModel).Assembly.GetManifestResourceInfo(Resource) != null;

    /// <summary>Writes the committed model to <paramref name="path"/> when it fits <paramref name="options"/> and its hash checks out.</summary>
    public static bool TryUnpack(DemoModelOptions options, string path, Action<string>? warn)
    {
        if (!Fits(options)) return false;
        using var stream = typeof(CommittedDemoModel).Assembly.GetManifestResourceStream(Resource);
        if (stream == null) return false;
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        var actual = Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();
        if (actual != Sha256)
        {
            warn?.Invoke($"the committed demo model's sha256 is {actual}, not the recorded {Sha256}: it is not used, and the model is built from scratch instead");
            return false;
        }
        var temp = path + $".unpack-{Environment.ProcessId}";
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
        return true;
    }
}
