using System.Text;
using RagTune.Engine.Formats;
using RagTune.Engine.Models;
using RagTune.Engine.Tensors;
using RagTune.Models.Local;

namespace RagTune.Cli.Commands;

/// <summary>The text of <c>ragtune model inspect</c>.</summary>
internal static class ModelReport
{
    public static string Render(string path, bool listTensors, string? tokenizerPath)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Model file '{path}' does not exist.", path);
        var sb = new StringBuilder();
        var details = new StringBuilder(); // tensor list and raw metadata go after the summary
        long fileSize = new FileInfo(path).Length;
        sb.AppendLine($"file            {Path.GetFullPath(path)}");
        sb.AppendLine($"size            {Mib(fileSize)}");

        bool isGguf;
        using (var fs = File.OpenRead(path))
        {
            Span<byte> magic = stackalloc byte[4];
            isGguf = fs.Read(magic) == 4 && magic.SequenceEqual("GGUF"u8);
        }

        if (isGguf)
        {
            using var gguf = GgufFile.Open(path);
            sb.AppendLine($"format          GGUF v{gguf.Version}, alignment {gguf.Alignment}, {gguf.Metadata.Count} metadata keys, {gguf.Tensors.Count} tensors");
            if (gguf.GetString("general.architecture") == null)
            {
                sb.AppendLine("architecture    (none: a vocabulary-only file)");
                AppendTokenizer(sb, () => TokenizerLoader.FromGguf(gguf), gguf.Path);
                AppendMetadata(sb, gguf);
                return sb.ToString();
            }
            if (gguf.GetString("tokenizer.chat_template") is { } template)
                sb.AppendLine("chat template   " + template.ReplaceLineEndings("\n                "));
            else
                sb.AppendLine("chat template   (none; RagTune's plain prompt format is used)");
            var types = gguf.Tensors.GroupBy(t => t.Type).OrderByDescending(g => g.Count()).Select(g => $"{g.Count()} x {GgmlTypes.Traits(g.Key).Name}");
            sb.AppendLine($"tensor types    {string.Join(", ", types)}");
            if (listTensors)
            {
                details.AppendLine("tensors");
                foreach (var t in gguf.Tensors)
                    details.AppendLine($"  {t.Name,-32} {GgmlTypes.Traits(t.Type).Name,-6} [{string.Join(", ", t.Dims)}]  {Mib(t.ByteLength)}");
            }
            AppendMetadata(details, gguf);
        }
        else
        {
            sb.AppendLine("format          llama2.c checkpoint (legacy v0), all f32");
        }

        using var model = TransformerModel.Load(path);
        var c = model.Config;
        long parameters = c.ParameterCount(model.Weights.TiedOutput);
        sb.AppendLine($"architecture    {c.Architecture}");
        sb.AppendLine($"parameters      {parameters:N0} ({parameters / 1e6:F2} M)");
        sb.AppendLine($"context length  {c.ContextLength}");
        sb.AppendLine($"dims            width {c.Dim}, ffn {c.HiddenDim}, layers {c.Layers}, heads {c.Heads}, kv heads {c.KvHeads}, head dim {c.HeadDim}, vocab {c.VocabSize}");
        sb.AppendLine($"rope            theta {c.RopeTheta}, pairs {c.Rope}; rms eps {c.NormEps:G}");
        sb.AppendLine($"output          {(model.Weights.TiedOutput ? "tied to the token embedding" : "separate matrix")}");
        if (!isGguf && listTensors)
            sb.AppendLine("tensors         llama2.c files hold fixed arrays (token_embedding_table, rms_att_weight, wq, wk, wv, wo, rms_ffn_weight, w1, w2, w3, rms_final_weight)");
        AppendTokenizer(sb, () => TokenizerLoader.Resolve(model, tokenizerPath).Tokenizer, path);

        int ctx = Math.Min(c.ContextLength, SessionOptions.DefaultContextCap);
        long kv = 2L * c.Layers * ctx * c.KvDim * sizeof(float);
        long weights = model.Weights.ByteLength;
        sb.AppendLine($"memory          weights {Mib(weights)} (mapped from the file, not copied) + KV cache {Mib(kv)} at {ctx} tokens ({Mib(kv / ctx)} per token) + run state");
        return sb.Append(details).ToString();
    }

    private static void AppendTokenizer(StringBuilder sb, Func<RagTune.Tokenizers.ITokenizer> load, string source)
    {
        try
        {
            var tok = load();
            string Special(int id) => id >= 0 && id < tok.VocabSize ? $"{id} '{ModelCommands.Printable(tok.TokenText(id))}'" : "none";
            sb.AppendLine($"tokenizer       {tok.Kind}, {tok.VocabSize} tokens; BOS {Special(tok.BosId)}, EOS {Special(tok.EosId)}, UNK {Special(tok.UnknownId)}");
        }
        catch (IOException e)
        {
            sb.AppendLine($"tokenizer       not available: {e.Message}");
        }
    }

    private static void AppendMetadata(StringBuilder sb, GgufFile gguf)
    {
        sb.AppendLine("metadata");
        foreach (var key in gguf.MetadataKeys)
        {
            if (key == "tokenizer.chat_template") continue;
            var text = gguf.Metadata[key].ToString() ?? "";
            if (text.Length > 120) text = text[..117] + "...";
            sb.AppendLine($"  {key,-44} {text.ReplaceLineEndings(" ")}");
        }
    }

    private static string Mib(long bytes) => bytes >= 1 << 20 ? $"{bytes / 1048576.0:F1} MiB" : $"{bytes / 1024.0:F1} KiB";
}
