using System.CommandLine;
using RagTune.Engine.Models;
using RagTune.FineTuning.Adapters;

namespace RagTune.Cli.Commands;

/// <summary><c>ragtune adapter export|merge</c>: LoRA adapters as PEFT folders, llama.cpp GGUF LoRA, or merged GGUF models.</summary>
internal static class AdapterCommands
{
    public static Command Create()
    {
        var cmd = new Command("adapter", "Export or merge LoRA adapters");
        cmd.Subcommands.Add(Export());
        cmd.Subcommands.Add(Merge());
        return cmd;
    }

    private static Command Export()
    {
        var dir = new Argument<string>("adapter") { Description = "PEFT adapter folder (e.g. <tune --out>/adapter)" };
        var model = new Option<string>("--model", "-m") { Description = "Base model the adapter was trained on", Required = true };
        var format = new Option<string>("--format") { Description = "peft or gguf-lora", DefaultValueFactory = _ => "gguf-lora" };
        var output = new Option<string?>("--out", "-o") { Description = "Output file (gguf-lora) or folder (peft); default beside the adapter" };
        var cmd = new Command("export", "Write an adapter as a PEFT folder or a llama.cpp LoRA GGUF") { dir, model, format, output };
        cmd.SetAction(r => CliRun.Guard(() =>
        {
            using var baseModel = TransformerModel.Load(RagTune.Models.Downloads.ModelResolver.Resolve(r.GetValue(model)!));
            var adapter = PeftAdapter.Load(r.GetValue(dir)!, baseModel.Config);
            var name = Path.GetFileName(baseModel.Path);
            switch (r.GetValue(format))
            {
                case "gguf-lora":
                    var file = r.GetValue(output) ?? Path.Combine(r.GetValue(dir)!, "adapter.gguf");
                    GgufLoraAdapter.Save(adapter, baseModel.Config, file, name);
                    Console.WriteLine($"wrote {file}");
                    break;
                case "peft":
                    var folder = r.GetValue(output) ?? throw new UsageException("--format peft needs --out <folder>.");
                    PeftAdapter.Save(adapter, baseModel.Config, folder, name);
                    Console.WriteLine($"wrote {folder}");
                    break;
                default:
                    throw new UsageException($"--format '{r.GetValue(format)}': use peft or gguf-lora.");
            }
            return 0;
        }));
        return cmd;
    }

    private static Command Merge()
    {
        var model = new Option<string>("--model", "-m") { Description = "Base model (GGUF)", Required = true };
        var adapter = new Option<string>("--adapter") { Description = "PEFT adapter folder", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "Merged GGUF file", Required = true };
        var cmd = new Command("merge", "Fold an adapter into its base model's weights and write a GGUF (same tensor types)") { model, adapter, output };
        cmd.SetAction(r => CliRun.Guard(() =>
        {
            using var baseModel = TransformerModel.Load(RagTune.Models.Downloads.ModelResolver.Resolve(r.GetValue(model)!));
            var lora = PeftAdapter.Load(r.GetValue(adapter)!, baseModel.Config);
            AdapterMerger.MergeToGguf(baseModel, lora, r.GetValue(output)!);
            Console.WriteLine($"wrote {r.GetValue(output)}");
            return 0;
        }));
        return cmd;
    }
}
