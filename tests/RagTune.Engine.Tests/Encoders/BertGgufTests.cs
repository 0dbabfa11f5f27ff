using RagTune.Engine.Encoders;
using RagTune.Engine.Formats;
using RagTune.Engine.Tensors;
using RagTune.TestKit;

namespace RagTune.Engine.Tests.Encoders;

public sealed class BertGgufTests
{
    private static readonly BertConfig s_config = new(256, 64, 2, 4, 128, 32, 2, 1e-12f);

    private static string[] Tokens(int n) =>
        Enumerable.Range(0, n).Select(i => i switch { 101 => "[CLS]", 102 => "[SEP]", 100 => "[UNK]", 0 => "[PAD]", _ => "\u2581w" + i }).ToArray();

    private static float[] Run(BertEncoder model, int[] ids, int[] lengths)
    {
        using var session = new BertSession(model, threads: 2);
        var hidden = new float[ids.Length * model.Config.Hidden];
        session.Forward(hidden, ids, [], lengths);
        return hidden;
    }

    [Fact]
    public void F32_gguf_gives_exactly_the_safetensors_states()
    {
        using var dir = new TempDir();
        BertRandomWriter.Write(dir.Path, s_config, 5, f16: false);
        BertRandomWriter.WriteGguf(dir.File("m.gguf"), s_config, 5, GgmlType.F32, Tokens(256), poolingType: 2);
        int[] ids = [101, 7, 8, 9, 102, 101, 200, 102];
        using var st = BertEncoder.Load(dir.Path);
        using var gguf = BertEncoder.LoadGguf(dir.File("m.gguf"));
        Assert.Equal(s_config, gguf.Config);
        Assert.Equal(2, gguf.Gguf!.PoolingType);
        Assert.Equal("\u2581w7", gguf.Gguf.Tokens[7]);
        Assert.Equal(Run(st, ids, [5, 3]), Run(gguf, ids, [5, 3]));
    }

    [Theory]
    [InlineData("F16", 0.002)]
    [InlineData("Q8_0", 0.03)]
    public void Quantized_gguf_stays_near_f32(string typeName, double relL2)
    {
        var type = Enum.Parse<GgmlType>(typeName);
        using var dir = new TempDir();
        BertRandomWriter.WriteGguf(dir.File("f32.gguf"), s_config, 5, GgmlType.F32, Tokens(256));
        BertRandomWriter.WriteGguf(dir.File("q.gguf"), s_config, 5, type, Tokens(256));
        int[] ids = [101, 7, 8, 9, 10, 11, 102];
        using var f32 = BertEncoder.LoadGguf(dir.File("f32.gguf"));
        using var q = BertEncoder.LoadGguf(dir.File("q.gguf"));
        Assert.Equal(type, q.WeightType);
        var a = Run(f32, ids, [7]);
        var b = Run(q, ids, [7]);
        double num = 0, den = 0;
        for (int i = 0; i < a.Length; i++) { num += (a[i] - b[i]) * (double)(a[i] - b[i]); den += a[i] * (double)a[i]; }
        Assert.True(Math.Sqrt(num / den) < relL2, $"{type}: relative L2 {Math.Sqrt(num / den)}");
    }

    [Fact]
    public void A_decoder_gguf_is_refused_with_the_architecture_named()
    {
        using var dir = new TempDir();
        var w = new GgufWriter();
        w.SetString("general.architecture", "llama");
        w.Write(dir.File("x.gguf"));
        var e = Assert.Throws<ModelFormatException>(() => BertEncoder.LoadGguf(dir.File("x.gguf")));
        Assert.Contains("llama", e.Message);
    }

    [Theory]
    [InlineData("encoder.layer.3.attention.self.query.weight", "blk.3.attn_q.weight")]
    [InlineData("bert.encoder.layer.11.output.LayerNorm.bias", "blk.11.layer_output_norm.bias")]
    [InlineData("encoder.layer.0.intermediate.dense.bias", "blk.0.ffn_up.bias")]
    [InlineData("embeddings.LayerNorm.weight", "token_embd_norm.weight")]
    [InlineData("pooler.dense.weight", null)]
    public void Hugging_face_names_map_to_llama_cpp_names(string hf, string? gguf) => Assert.Equal(gguf, GgufEncoderTensors.GgufName(hf));
}
