using System.CommandLine;
using RagTune.Engine.Tensors;
using RagTune.Models.Creation;
using RagTune.Models.Embeddings;
using RagTune.Models.Embeddings.Onnx;

namespace RagTune.Cli.Commands;

/// <summary>
/// <c>ragtune model convert</c>: a Hugging Face safetensors folder or a GGUF to a GGUF of a chosen type; or an ONNX BERT
/// encoder (<c>model.onnx</c>, or a folder with <c>onnx/model.onnx</c>) to the Hugging Face layout, so its weights can be
/// used elsewhere.
/// </summary>
internal static class ConvertCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("input") { Description = "A Hugging Face folder (config.json + model.safetensors or shards), a .gguf file, or a BERT model.onnx (or a folder with onnx/model.onnx)" };
        var type = new Option<string>("--type") { Description = ModelTypeOption.Choices + " (GGUF output; an ONNX encoder is written in f32)", DefaultValueFactory = _ => "f16" };
        var output = new Option<string>("--out", "-o") { Description = "Output .gguf path, or for an ONNX encoder the Hugging Face folder to write", Required = true };
        var pooling = new Option<string?>("--pooling") { Description = "ONNX encoders: mean or cls, written to 1_Pooling/config.json when the source folder has no sentence-transformers files (default mean)" };
        pooling.AcceptOnlyFromAmong("mean", "cls");
        var queryPrefix = new Option<string?>("--query-prefix") { Description = "ONNX encoders: the query prompt written to config_sentence_transformers.json (e.g. arctic-embed's instruction)" };
        var cmd = new Command("convert", "Convert a Hugging Face model folder to GGUF, requantize a GGUF, or write an ONNX BERT encoder as a Hugging Face folder") { input, type, output, pooling, queryPrefix };
        cmd.SetAction((r, _) => CliRun.Guard(() =>
        {
            var src = r.GetValue(input)!;
            if (!Directory.Exists(src) && !File.Exists(src))
                throw new UsageException($"'{src}' does not exist; pass a Hugging Face model folder, a .gguf file or a model.onnx.");
            if (OnnxEncoderSource.Find(src) is { } onnx)
            {
                var model = OnnxBertImporter.Import(onnx.OnnxFile);
                var settings = new OnnxFolderSettings { Pooling = r.GetValue(pooling) == "cls" ? EmbeddingPooling.Cls : EmbeddingPooling.Mean, QueryPrompt = r.GetValue(queryPrefix) };
                OnnxBertFolder.Write(model, onnx, r.GetValue(output)!, settings);
                var c = model.Config;
                Console.Out.WriteLine($"wrote {Path.GetFullPath(r.GetValue(output)!)}: BERT {c.Layers} layers, {c.Hidden} wide, {c.Heads} heads, {model.Tensors.Count} tensors (f32) from {onnx.OnnxFile}");
                return 0;
            }
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
