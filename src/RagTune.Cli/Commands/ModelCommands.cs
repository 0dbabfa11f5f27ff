using System.CommandLine;
using System.Globalization;
using System.Text;
using RagTune.Engine.Models;
using RagTune.Engine.Tensors;
using RagTune.Models.Creation;
using RagTune.Models.Local;

namespace RagTune.Cli.Commands;

/// <summary><c>ragtune model …</c>: inspect files, print logits, create random-weight models.</summary>
internal static class ModelCommands
{
    public static Command Create()
    {
        var cmd = new Command("model", "Inspect, debug and create model files");
        cmd.Subcommands.Add(Inspect());
        cmd.Subcommands.Add(Logits());
        cmd.Subcommands.Add(CreateRandom());
        cmd.Subcommands.Add(ConvertCommand.Create());
        cmd.Subcommands.Add(Models.ModelCacheCommands.Pull());
        cmd.Subcommands.Add(Models.ModelCacheCommands.List());
        cmd.Subcommands.Add(Models.ModelCacheCommands.Remove());
        return cmd;
    }

    private static Command Inspect()
    {
        var file = new Argument<string>("file") { Description = "GGUF or llama2.c .bin file" };
        var tensors = new Option<bool>("--tensors") { Description = "List every tensor with type, shape and size" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Tokenizer file for models that carry none" };
        var cmd = new Command("inspect", "Show a model file's architecture, tensors, tokenizer and memory needs") { file, tensors, tokenizer };
        cmd.SetAction((r, _) => CliRun.Guard(() =>
        {
            Console.Out.Write(ModelReport.Render(RagTune.Models.Downloads.ModelResolver.Resolve(r.GetValue(file)!), r.GetValue(tensors), r.GetValue(tokenizer)));
            return 0;
        }));
        return cmd;
    }

    private static Command Logits()
    {
        var model = new Option<string>("--model", "-m") { Description = "Model file or downloaded model name", Required = true };
        var tokens = new Option<string>("--tokens") { Description = "Token ids, e.g. 1,450,2", Required = true };
        var json = new Option<bool>("--json") { Description = "Print the logits as a JSON array of floats" };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (0 = one per processor)" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Tokenizer file (for showing token pieces)" };
        var cmd = new Command("logits", "Print the last position's logits for a token sequence") { model, tokens, json, threads, tokenizer };
        cmd.SetAction((r, _) => CliRun.Guard(() =>
        {
            var ids = TokenIdsOption.Parse(r.GetValue(tokens)!, "--tokens");
            if (ids.Length == 0) throw new UsageException("--tokens: pass at least one token id.");
            using var engine = TransformerModel.Load(RagTune.Models.Downloads.ModelResolver.Resolve(r.GetValue(model)!));
            using var session = new InferenceSession(engine, new SessionOptions(Math.Min(engine.Config.ContextLength, Math.Max(ids.Length, 16)), Threads: r.GetValue(threads)));
            session.Forward(ids);
            var logits = session.Logits;
            var sb = new StringBuilder();
            if (r.GetValue(json))
            {
                sb.Append('[');
                for (int i = 0; i < logits.Length; i++)
                {
                    if (i > 0) sb.Append(',');
                    sb.Append(logits[i].ToString("R", CultureInfo.InvariantCulture));
                }
                sb.Append(']');
                Console.Out.WriteLine(sb.ToString());
                return 0;
            }
            // Text mode: the top 20 with their pieces when a tokenizer is at hand.
            RagTune.Tokenizers.ITokenizer? tok = null;
            try { tok = TokenizerLoader.Resolve(engine, r.GetValue(tokenizer)).Tokenizer; } catch (IOException) { /* pieces are optional here */ }
            var arr = logits.ToArray();
            var order = Enumerable.Range(0, arr.Length).OrderByDescending(i => arr[i]).Take(20).ToArray();
            Console.Out.WriteLine($"{arr.Length} logits at position {ids.Length - 1}; min {arr.Min():G6}, max {arr.Max():G6}, mean {arr.Average():G6}. Top 20 (use --json for all):");
            foreach (var i in order)
                Console.Out.WriteLine($"  {i,7}  {arr[i],12:F6}  {(tok != null ? Printable(tok.TokenText(i)) : "")}");
            return 0;
        }));
        return cmd;
    }

    private static Command CreateRandom()
    {
        var arch = new Option<string?>("--arch") { Description = "Architecture: llama or qwen2 (default: the preset's)" };
        var format = new Option<string>("--format") { Description = "gguf (a file) or safetensors (a Hugging Face folder: config.json + model.safetensors)", DefaultValueFactory = _ => "gguf" };
        var preset = new Option<string?>("--preset") { Description = "Shape: " + string.Join(", ", ModelPresets.All.Select(p => p.Name)) };
        var config = new Option<string?>("--config") { Description = "A Hugging Face config.json giving the shape" };
        var type = new Option<string>("--type") { Description = ModelTypeOption.Choices, DefaultValueFactory = _ => "f32" };
        var output = new Option<string>("--out", "-o") { Description = "Output .gguf path, or the folder for --format safetensors", Required = true };
        var seed = new Option<ulong>("--seed") { Description = "Random seed (same seed, same bytes)" };
        var cmd = new Command("create-random", "Write a GGUF model with random weights at a real model's shape") { arch, format, preset, config, type, output, seed };
        cmd.SetAction((r, _) => CliRun.Guard(() =>
        {
            var p = (r.GetValue(preset), r.GetValue(config)) switch
            {
                ({ } name, null) => ModelPresets.Get(name),
                (null, { } file) => ModelPresets.FromHuggingFaceConfig(file),
                _ => throw new UsageException("Pass exactly one of --preset <name> or --config <config.json>."),
            };
            if (r.GetValue(arch) is { } a)
            {
                if (ModelArchitecture.FromGguf(a) == null)
                    throw new UsageException($"--arch '{a}' is not supported; supported: {ModelArchitecture.Names}.");
                p = ModelPresets.WithArchitecture(p, a);
            }
            var (t, mediumMix, _) = ModelTypeOption.Parse(r.GetValue(type)!);
            var outPath = r.GetValue(output)!;
            if (r.GetValue(format) is "safetensors")
            {
                if (t is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16))
                    throw new UsageException($"--format safetensors holds f32, f16 or bf16 weights, not {GgmlTypes.Traits(t).Name}; write a GGUF for quantized types.");
                RandomModelWriter.WriteHuggingFace(p, t, r.GetValue(seed), outPath);
                Console.Out.WriteLine($"wrote {outPath}: {p.Name} ({p.Config.Architecture}), {GgmlTypes.Traits(t).Name}, {p.Config.ParameterCount(p.TiedOutput):N0} parameters (Hugging Face folder, no tokenizer)");
                return 0;
            }
            if (r.GetValue(format) is not "gguf")
                throw new UsageException($"--format '{r.GetValue(format)}' is unknown; use gguf or safetensors.");
            int fallbacks = RandomModelWriter.Write(p, t, r.GetValue(seed), outPath, mediumMix);
            var size = new FileInfo(outPath).Length;
            Console.Out.WriteLine($"wrote {outPath}: {p.Name} ({p.Config.Architecture}), {(mediumMix ? "q4_k_m" : GgmlTypes.Traits(t).Name)}, {p.Config.ParameterCount(p.TiedOutput):N0} parameters, {size / 1048576.0:F1} MiB");
            if (fallbacks > 0)
                Console.Error.WriteLine($"note: {fallbacks} tensors kept in {(t is GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K ? "q8_0 or f32" : "f32")} because their width is not a multiple of the {GgmlTypes.Traits(t).Name} block size.");
            return 0;
        }));
        return cmd;
    }

    internal static string Printable(string piece)
    {
        var sb = new StringBuilder();
        foreach (var ch in piece)
            sb.Append(ch switch { '\n' => "\\n", '\t' => "\\t", '\r' => "\\r", _ when char.IsControl(ch) => $"\\u{(int)ch:x4}", _ => ch.ToString() });
        return sb.ToString();
    }
}
