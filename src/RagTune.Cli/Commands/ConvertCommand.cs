using System.CommandLine;
using RagTune.Engine.Tensors;
using RagTune.Models.Creation;

namespace RagTune.Cli.Commands;

/// <summary><c>ragtune model convert</c>: a Hugging Face safetensors folder or a GGUF to a GGUF of a chosen type.</summary>
internal static class ConvertCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("input") { Description = "A Hugging Face folder (config.json + model.safetensors or shards) or a .gguf file" };
        var type = new Option<string>("--type") { Description = ModelTypeOption.Choices, DefaultValueFactory = _ => "f16" };
        var output = new Option<string>("--out", "-o") { Description = "Output .gguf path", Required = true };
        var cmd = new Command("convert", "Convert a Hugging Face model folder to GGUF, or requantize a GGUF") { input, type, output };
        cmd.SetAction((r, _) => CliRun.Guard(() =>
        {
            var src = r.GetValue(input)!;
            if (!Directory.Exists(src) && !File.Exists(src))
                throw new UsageException($"'{src}' does not exist; pass a Hugging Face model folder or a .gguf file.");
            var (t, mediumMix, typeName) = ModelTypeOption.Parse(r.GetValue(type)!);
            var outPath = r.GetValue(output)!;
            var result = GgufConverter.Convert(src, t, outPath, mediumMix);
            foreach (var warning in result.Warnings) Console.Error.WriteLine($"warning: {warning}");
            Console.Out.WriteLine($"wrote {outPath}: {result.Tensors} tensors, {typeName}, {new FileInfo(outPath).Length / 1048576.0:F1} MiB");
            if (result.KeptF32 > 0)
                Console.Error.WriteLine($"note: {result.KeptF32} matrices kept in f32 because their width is not a multiple of the {GgmlTypes.Traits(t).Name} block size.");
            return 0;
        }));
        return cmd;
    }
}
