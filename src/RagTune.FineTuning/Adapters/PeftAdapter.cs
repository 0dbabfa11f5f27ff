using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using RagTune.Engine.Formats;
using RagTune.Engine.Kernels;
using RagTune.Engine.Models;
using RagTune.Engine.Tensors;
using RagTune.Engine.Training;

namespace RagTune.FineTuning.Adapters;

/// <summary>
/// LoRA adapters in the Hugging Face PEFT layout: a folder with <c>adapter_config.json</c> (peft_type LORA, r,
/// lora_alpha, lora_dropout, target_modules, base_model_name_or_path) and <c>adapter_model.safetensors</c> holding
/// <c>base_model.model.model.layers.{i}.{self_attn|mlp}.{q,k,v,o,gate,up,down}_proj.lora_{A,B}.weight</c> in F32,
/// A [r, in] and B [out, r]. Our safetensors metadata adds <c>ragtune.format</c> / <c>ragtune.version</c>.
/// </summary>
/// <remarks>
/// Q/K row order: Hugging Face keeps each head's rows in rotate-half (NeoX) order; a GGUF <c>llama</c> model has them
/// permuted into interleaved pairs by llama.cpp's converter (<c>LlamaModel.permute</c> in convert_hf_to_gguf.py). For
/// bases that run with <see cref="RopeMode.Normal"/> the B rows of q_proj and k_proj are permuted back on export and
/// forward again on import, so a PEFT file means the same thing here as in PEFT.
/// </remarks>
public static class PeftAdapter
{
    /// <summary>The PEFT config file in an adapter folder.</summary>
    public const string ConfigFileName = "adapter_config.json";

    /// <summary>The PEFT weights file in an adapter folder.</summary>
    public const string WeightsFileName = "adapter_model.safetensors";

    /// <summary>The format name our adapters carry in their config (checked on import of our own files).</summary>
    public const string FormatName = "ragtune-peft-lora";

    /// <summary>The format version our adapters carry; a newer one is refused.</summary>
    public const int FormatVersion = 1;

    /// <summary>The folder under <c>ragtune tune --out</c> that holds a trained adapter (a full fine-tune writes "model").</summary>
    public const string TuneOutputFolder = "adapter";
    private const string TuneOutputModelFolder = "model";

    private static readonly string[] s_modules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    /// <summary>Writes <paramref name="adapter"/> to <paramref name="folder"/> (created when missing).</summary>
    public static void Save(LoraAdapter adapter, ModelConfig model, string folder, string baseModelName)
    {
        Directory.CreateDirectory(folder);
        var c = adapter.Config;
        var config = new JsonObject
        {
            ["peft_type"] = "LORA",
            ["task_type"] = "CAUSAL_LM",
            ["r"] = c.Rank,
            ["lora_alpha"] = c.Alpha,
            ["lora_dropout"] = c.Dropout,
            ["target_modules"] = new JsonArray(LoraTargetNames.Order.Where(t => (c.Targets & t) != 0).Select(t => (JsonNode)s_modules[LoraTargetNames.Index(t)]).ToArray()),
            ["base_model_name_or_path"] = baseModelName,
            ["bias"] = "none",
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["use_rslora"] = false,
            ["modules_to_save"] = null,
            ["revision"] = null,
        };
        File.WriteAllText(Path.Combine(folder, ConfigFileName), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");

        var writer = new SafetensorsWriter();
        writer.SetMetadata("format", "pt");
        writer.SetMetadata("ragtune.format", FormatName);
        writer.SetMetadata("ragtune.version", FormatVersion.ToString(System.Globalization.CultureInfo.InvariantCulture));
        writer.SetMetadata("ragtune.base", $"{model.Architecture} L{model.Layers} D{model.Dim} F{model.HiddenDim} H{model.Heads}/{model.KvHeads} V{model.VocabSize}");
        foreach (var p in adapter.Parameters)
        {
            var values = ToPeftOrder(p, model);
            writer.AddTensor(p.Name, GgmlType.F32, [p.Shape[0], p.Shape[1]], MemoryMarshal.AsBytes(values.AsSpan()));
        }
        writer.Write(Path.Combine(folder, WeightsFileName));
    }

    /// <summary>
    /// The adapter folder itself, or the <c>adapter/</c> folder inside a <c>ragtune tune --out</c> folder, so the
    /// folder a run wrote can be passed as it is. A run that fine-tuned every weight left a model, not an adapter: that
    /// is an error naming the model folder.
    /// </summary>
    public static string ResolveFolder(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (File.Exists(Path.Combine(folder, ConfigFileName))) return folder;
        var inner = Path.Combine(folder, TuneOutputFolder);
        if (File.Exists(Path.Combine(inner, ConfigFileName))) return inner;
        var full = Path.Combine(folder, TuneOutputModelFolder);
        if (Directory.Exists(full) && !Directory.Exists(inner))
            throw new AdapterFormatException(
                $"{folder}: this tune output holds a fully fine-tuned model ({full}), not a LoRA adapter; pass the model file in it as --model instead of --adapter.");
        return folder;
    }

    /// <summary>
    /// Reads a PEFT folder (ours or one trained elsewhere) for <paramref name="model"/>: checks the config, that every
    /// tensor belongs to a known module and layer, and every shape against the base. F32, F16 and BF16 are accepted.
    /// </summary>
    public static LoraAdapter Load(string folder, ModelConfig model)
    {
        folder = ResolveFolder(folder);
        var configPath = Path.Combine(folder, ConfigFileName);
        var weightsPath = Path.Combine(folder, WeightsFileName);
        if (!File.Exists(configPath) || !File.Exists(weightsPath))
            throw new AdapterFormatException($"{folder}: not a PEFT adapter folder; it needs {ConfigFileName} and {WeightsFileName}, or an {TuneOutputFolder}/ folder holding them as 'ragtune tune --out' writes (adapter_model.bin pickles are not read: re-save with safe_serialization=True).");
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(configPath)) as JsonObject
                ?? throw new AdapterFormatException($"{configPath}: not a PEFT adapter config; it must be one JSON object such as {{\"peft_type\": \"LORA\", \"r\": 8, ...}}.");
        }
        catch (JsonException e)
        {
            throw new AdapterFormatException($"{configPath}: not valid JSON ({e.Message}).");
        }
        string? peftType = Field<string>(root, "peft_type", configPath, "a string such as \"LORA\"");
        if (!string.Equals(peftType, "LORA", StringComparison.OrdinalIgnoreCase))
            throw new AdapterFormatException($"{configPath}: peft_type is '{peftType}'; only LORA adapters are supported.");
        int rank = Field<int?>(root, "r", configPath, "a whole number such as 8") ?? throw new AdapterFormatException($"{configPath}: missing 'r'.");
        float alpha = (float)(Field<double?>(root, "lora_alpha", configPath, "a number such as 16") ?? rank);
        float dropout = (float)(Field<double?>(root, "lora_dropout", configPath, "a number such as 0.05") ?? 0);
        if (Field<bool?>(root, "use_rslora", configPath, "true or false") == true)
            throw new AdapterFormatException($"{configPath}: use_rslora adapters (scaling alpha/√r) are not supported yet.");
        if (Field<bool?>(root, "fan_in_fan_out", configPath, "true or false") == true)
            throw new AdapterFormatException($"{configPath}: fan_in_fan_out adapters (GPT-2 Conv1D layout) are not supported.");
        var targets = LoraTargets.None;
        var moduleNode = root["target_modules"];
        List<string> modules = moduleNode switch
        {
            null => [],
            JsonArray arr => arr.Select(n => n is JsonValue e && e.TryGetValue<string>(out var name) ? name
                : throw new AdapterFormatException($"{configPath}: target_modules holds {Describe(n)}; it must list module names such as \"q_proj\".")).ToList(),
            JsonValue v when v.TryGetValue<string>(out var one) => [one],
            _ => throw new AdapterFormatException($"{configPath}: target_modules is {Describe(moduleNode)}; it must be a list of module names such as [\"q_proj\", \"v_proj\"]."),
        };
        foreach (var m in modules)
        {
            int i = Array.IndexOf(s_modules, m.Split('.')[^1]);
            if (i < 0) throw new AdapterFormatException($"{configPath}: target module '{m}' is not one this engine can adapt (valid: {string.Join(", ", s_modules)}).");
            targets |= LoraTargetNames.Order[i];
        }
        if (targets == LoraTargets.None)
            throw new AdapterFormatException($"{configPath}: target_modules is empty or missing.");

        var lora = new LoraConfig(rank, alpha, dropout, targets);
        try
        {
            lora.Validate();
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new AdapterFormatException($"{configPath}: {e.Message}");
        }
        var adapter = new LoraAdapter(model, lora);
        using var st = SafetensorsFile.Open(weightsPath);
        var expected = adapter.Parameters.ToDictionary(p => p.Name);
        var seen = new HashSet<string>();
        foreach (var info in st.Tensors)
        {
            var name = info.Name.Replace(".default.weight", ".weight", StringComparison.Ordinal);
            if (!expected.TryGetValue(name, out var p))
                throw new AdapterFormatException($"{weightsPath}: tensor '{info.Name}' does not belong to a {model.Layers}-layer model with targets {string.Join(",", modules)}; the adapter was made for another base.");
            if (info.Shape.Length != 2 || info.Shape[0] != p.Shape[0] || info.Shape[1] != p.Shape[1])
                throw new AdapterFormatException($"{weightsPath}: adapter for another base: '{info.Name}' has shape [{string.Join(", ", info.Shape)}] but this model needs [{p.Shape[0]}, {p.Shape[1]}].");
            if (!st.TryGetTensor(info.Name, out var view)) continue;
            var values = new float[p.Values.Length];
            for (long r = 0; r < view.Rows; r++) GgmlRows.Dequantize(view.Type, view.Row(r), values.AsSpan((int)(r * view.Cols), view.Cols));
            FromPeftOrder(values, p, model).CopyTo(p.Values, 0);
            seen.Add(name);
        }
        var missing = expected.Keys.Where(k => !seen.Contains(k)).ToList();
        if (missing.Count > 0)
            throw new AdapterFormatException($"{weightsPath}: {missing.Count} tensors are missing, e.g. '{missing[0]}'; the file does not match its adapter_config.json.");
        return adapter;
    }

    /// <summary>Whether <paramref name="folder"/> looks like a PEFT adapter.</summary>
    public static bool IsPeftFolder(string folder) => File.Exists(Path.Combine(folder, ConfigFileName));

    // Q/K lora_B rows: engine order → Hugging Face order (see remarks).
    private static float[] ToPeftOrder(LoraParameter p, ModelConfig model) => Permute(p, model, toHf: true, (float[])p.Values.Clone());

    private static float[] FromPeftOrder(float[] values, LoraParameter p, ModelConfig model) => Permute(p, model, toHf: false, values);

    private static float[] Permute(LoraParameter p, ModelConfig model, bool toHf, float[] values)
    {
        if (model.Rope != RopeMode.Normal || !p.Name.EndsWith("lora_B.weight", StringComparison.Ordinal)) return values;
        int heads = p.Name.Contains(".q_proj.", StringComparison.Ordinal) ? model.Heads
            : p.Name.Contains(".k_proj.", StringComparison.Ordinal) ? model.KvHeads : 0;
        if (heads == 0) return values;
        int hd = model.HeadDim, half = hd / 2, cols = p.Shape[1];
        var result = new float[values.Length];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++)
                for (int s = 0; s < 2; s++)
                {
                    int gguf = h * hd + 2 * i + s, hf = h * hd + s * half + i;
                    int from = toHf ? gguf : hf, to = toHf ? hf : gguf;
                    Array.Copy(values, from * cols, result, to * cols, cols);
                }
        return result;
    }

    /// <summary>
    /// Field <paramref name="name"/> of the config as <typeparamref name="T"/> (a nullable type: absent or null is
    /// null). A value of another JSON type is refused naming the field and what it should be, so a hand-edited or
    /// foreign config never surfaces as a bare cast exception.
    /// </summary>
    private static T? Field<T>(JsonObject root, string name, string configPath, string expected)
    {
        var node = root[name];
        if (node is null) return default;
        var target = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
        if (node is JsonValue v)
        {
            if (target == typeof(string) && v.TryGetValue<string>(out var s)) return (T)(object)s;
            if (target == typeof(bool) && v.TryGetValue<bool>(out var b)) return (T)(object)b;
            if (v.GetValueKind() == System.Text.Json.JsonValueKind.Number)
            {
                if (target == typeof(double) && v.TryGetValue<double>(out var d) && double.IsFinite(d)) return (T)(object)d;
                if (target == typeof(int) && v.TryGetValue<int>(out var i)) return (T)(object)i;
            }
        }
        throw new AdapterFormatException($"{configPath}: '{name}' is {Describe(node)}; it must be {expected}.");
    }

    private static string Describe(JsonNode? node) => node switch
    {
        null => "null",
        JsonArray => "a list",
        JsonObject => "an object",
        _ => $"{node.GetValueKind().ToString().ToLowerInvariant()} {node.ToJsonString()}",
    };
}
