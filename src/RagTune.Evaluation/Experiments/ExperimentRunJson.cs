using System.Text.Json;
using System.Text.Json.Serialization;

namespace RagTune.Evaluation.Experiments;

/// <summary>
/// <c>run.json</c>: the raw <see cref="ExperimentRun"/> as measured, with its format name and version, so every figure
/// of a report can be recomputed from it.
/// </summary>
internal static class ExperimentRunJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static void Write(string path, ExperimentRun run)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(new { format = ExperimentRun.FormatName, version = ExperimentRun.FormatVersion, run }, Options));
        File.Move(tmp, path, overwrite: true);
    }
}
