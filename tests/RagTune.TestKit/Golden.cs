using System.Text.Json;

namespace RagTune.TestKit;

/// <summary>Golden outputs from the independent PyTorch reference (<c>dev/reference/</c>), committed as small JSON files.</summary>
public static class Golden
{
    /// <summary>Folder of the committed golden files.</summary>
    public static string Dir => SharedData.Repo("dev", "reference", "golden");

    /// <summary>Parses one golden file.</summary>
    public static JsonElement Load(string name)
    {
        var path = Path.Combine(Dir, name);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Golden file '{path}' is missing; regenerate it with the scripts in dev/reference (see its README).", path);
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.Clone();
    }

    /// <summary>A JSON array of numbers as floats.</summary>
    public static float[] Floats(JsonElement array) => array.EnumerateArray().Select(e => e.GetSingle()).ToArray();
}
