using System.Numerics.Tensors;
using System.Text.Json;
using RagTune.Engine.Encoders;
using RagTune.TestKit;

namespace RagTune.Engine.Tests.Encoders.Training;

public sealed class BertTrainingSessionTests
{
    // Against torch autograd in float64 (dev/reference/encoders/bert_backward_golden.py): per tensor, the largest
    // difference is at most GradTolerance × the tensor's largest reference gradient (float32 forward and backward;
    // temperature 0.05 magnifies rounding of the embeddings by 20; observed worst ~3e-6).
    private const double GradTolerance = 1e-4;

    private static (int[] Ids, int[] Types, int[] Lengths) Pack(JsonElement seqs)
    {
        var list = seqs.EnumerateArray().Select(e => (
            Ids: e.GetProperty("ids").EnumerateArray().Select(v => v.GetInt32()).ToArray(),
            Types: e.GetProperty("type_ids").ValueKind == JsonValueKind.Null ? null : e.GetProperty("type_ids").EnumerateArray().Select(v => v.GetInt32()).ToArray())).ToList();
        return (list.SelectMany(s => s.Ids).ToArray(), list.SelectMany(s => s.Types ?? new int[s.Ids.Length]).ToArray(), list.Select(s => s.Ids.Length).ToArray());
    }

    [Theory]
    [InlineData(0, "mean")]
    [InlineData(1, "cls")]
    public void InfoNce_gradients_through_the_whole_encoder_match_torch(int caseIndex, string pooling)
    {
        var doc = Golden.Load("bert_backward.json");
        var c = doc.GetProperty("config");
        int I(string n) => c.GetProperty(n).GetInt32();
        var config = new BertConfig(I("vocab_size"), I("hidden_size"), I("num_hidden_layers"), I("num_attention_heads"),
            I("intermediate_size"), I("max_position_embeddings"), I("type_vocab_size"), c.GetProperty("layer_norm_eps").GetSingle());
        var expected = doc.GetProperty("cases")[caseIndex];
        Assert.Equal(pooling, expected.GetProperty("pooling").GetString());

        using var dir = new TempDir();
        BertRandomWriter.Write(dir.Path, config, doc.GetProperty("seed").GetUInt64(), f16: false);
        using var encoder = BertEncoder.Load(dir.Path);
        var weights = BertTrainableWeights.FromEncoder(encoder);
        using var session = new BertTrainingSession(weights, clsPooling: pooling == "cls", normalize: true, threads: 2);

        // Queries and passages run as one packed batch; the loss splits the vectors.
        var (qi, qt, ql) = Pack(doc.GetProperty("queries"));
        var (pi, pt, pl) = Pack(doc.GetProperty("passages"));
        int h = config.Hidden, nq = ql.Length, np = pl.Length;
        var emb = new float[(nq + np) * h];
        session.Forward(emb, [.. qi, .. pi], [.. qt, .. pt], [.. ql, .. pl]);
        var targets = doc.GetProperty("targets").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        var excluded = new bool[nq * np];
        foreach (var pair in doc.GetProperty("excluded").EnumerateArray()) excluded[pair[0].GetInt32() * np + pair[1].GetInt32()] = true;
        var dEmb = new float[emb.Length];
        float loss = InfoNceLoss.Compute(dEmb.AsSpan(0, nq * h), dEmb.AsSpan(nq * h), emb.AsSpan(0, nq * h), emb.AsSpan(nq * h),
            targets, excluded, doc.GetProperty("temperature").GetSingle());
        Assert.Equal(expected.GetProperty("loss").GetDouble(), loss, 1e-4);

        weights.ZeroGrad();
        session.Backward(dEmb);
        var grads = expected.GetProperty("grads");
        // The key bias's gradient is zero in exact arithmetic (softmax ignores a constant per query), so each
        // tensor's scale is floored at 1% of the largest gradient anywhere.
        double floor = 0.01 * grads.EnumerateObject().Max(g => Golden.Floats(g.Value).Max(MathF.Abs));
        int checkedTensors = 0;
        var report = new List<string>();
        foreach (var p in weights.Parameters)
        {
            var want = Golden.Floats(grads.GetProperty(p.Name));
            Assert.Equal(want.Length, p.Grad.Length);
            double scale = Math.Max(floor, want.Max(MathF.Abs)), worst = 0;
            for (int i = 0; i < want.Length; i++) worst = Math.Max(worst, Math.Abs(p.Grad[i] - want[i]));
            if (worst > GradTolerance * scale) report.Add($"{p.Name}: max |Δ| {worst:G3} > {GradTolerance} × {scale:G3}");
            checkedTensors++;
        }
        Assert.True(report.Count == 0, string.Join("\n", report));
        Assert.Equal(grads.EnumerateObject().Count(), checkedTensors);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Training_forward_equals_the_inference_encoder(bool cls)
    {
        var config = new BertConfig(160, 32, 2, 4, 64, 40, 2, 1e-12f);
        using var dir = new TempDir();
        BertRandomWriter.Write(dir.Path, config, 9, f16: true);
        using var encoder = BertEncoder.Load(dir.Path);
        using var inference = new BertSession(encoder, threads: 2);
        using var training = new BertTrainingSession(BertTrainableWeights.FromEncoder(encoder), cls, normalize: false, threads: 2);
        int[] lengths = [5, 1, 33, 12];
        var rng = new Random(3);
        var ids = Enumerable.Range(0, lengths.Sum()).Select(_ => rng.Next(config.VocabSize)).ToArray();
        var hidden = new float[ids.Length * config.Hidden];
        inference.Forward(hidden, ids, [], lengths);
        var emb = new float[lengths.Length * config.Hidden];
        training.Forward(emb, ids, [], lengths);
        int h = config.Hidden;
        for (int b = 0, s = 0; b < lengths.Length; s += lengths[b], b++)
        {
            var want = new float[h];
            if (cls) hidden.AsSpan(s * h, h).CopyTo(want);
            else
            {
                for (int i = 0; i < lengths[b]; i++) TensorPrimitives.Add(want, hidden.AsSpan((s + i) * h, h), want);
                TensorPrimitives.Multiply(want, 1f / lengths[b], want);
            }
            for (int i = 0; i < h; i++) Assert.True(Math.Abs(emb[b * h + i] - want[i]) <= 1e-4f, $"seq {b} dim {i}: {emb[b * h + i]} vs {want[i]}");
        }
    }

    [Fact]
    public void Saved_weights_load_back_as_the_same_encoder()
    {
        var config = new BertConfig(120, 16, 1, 2, 32, 20, 2, 1e-12f);
        using var dir = new TempDir();
        BertRandomWriter.Write(dir.Path, config, 4, f16: true);
        float[] before;
        using (var encoder = BertEncoder.Load(dir.Path))
        {
            var weights = BertTrainableWeights.FromEncoder(encoder);
            weights.Layers[0].Query.Values[3] += 0.25f;
            before = (float[])weights.Layers[0].Query.Values.Clone();
            Directory.CreateDirectory(Path.Combine(dir.Path, "out"));
            File.Copy(Path.Combine(dir.Path, "config.json"), Path.Combine(dir.Path, "out", "config.json"));
            weights.Save(Path.Combine(dir.Path, "out", "model.safetensors"));
        }
        using var reloaded = BertEncoder.Load(Path.Combine(dir.Path, "out"));
        Assert.Equal(RagTune.Engine.Tensors.GgmlType.F32, reloaded.WeightType);
        Assert.Equal(before, reloaded.Weights.Layers[0].Query.AsFloats().ToArray());
        Assert.False(reloaded.Weights.PoolerWeight.IsEmpty);
    }
}
