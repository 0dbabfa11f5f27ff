using System.Text.Json;
using RagTune.Engine.Encoders;
using RagTune.Engine.Formats;
using RagTune.Engine.Tensors;
using RagTune.TestKit;

namespace RagTune.Engine.Tests.Encoders;

public sealed class BertEncoderTests
{
    // Tolerances against the float64 torch reference (dev/reference/encoders/bert_golden.py). F32 differs only by our
    // float32 arithmetic; F16 uses the same F16-rounded weights in the reference, so it differs by the same amount.
    private const float StateTolerance = 2e-4f;     // absolute, token states of magnitude ~1
    private const float PooledTolerance = 2e-5f;    // absolute, unit-length embeddings of 384 dims (~0.05 each)

    private static (BertConfig Config, ulong Seed, List<(int[] Ids, int[]? Types)> Inputs, JsonElement Doc) LoadGolden()
    {
        var doc = Golden.Load("bert_random.json");
        var c = doc.GetProperty("config");
        int I(string n) => c.GetProperty(n).GetInt32();
        var config = new BertConfig(I("vocab_size"), I("hidden_size"), I("num_hidden_layers"), I("num_attention_heads"),
            I("intermediate_size"), I("max_position_embeddings"), I("type_vocab_size"), c.GetProperty("layer_norm_eps").GetSingle());
        var inputs = doc.GetProperty("inputs").EnumerateArray().Select(e => (
            e.GetProperty("ids").EnumerateArray().Select(v => v.GetInt32()).ToArray(),
            e.GetProperty("type_ids").ValueKind == JsonValueKind.Null ? null : e.GetProperty("type_ids").EnumerateArray().Select(v => v.GetInt32()).ToArray())).ToList();
        return (config, doc.GetProperty("seed").GetUInt64(), inputs, doc);
    }

    [Theory]
    [InlineData("f32")]
    [InlineData("f16")]
    public void Batched_forward_matches_the_torch_reference(string precision)
    {
        var (config, seed, inputs, doc) = LoadGolden();
        var expected = doc.GetProperty("results").GetProperty(precision);
        using var dir = new TempDir();
        BertRandomWriter.Write(dir.Path, config, seed, f16: precision == "f16");
        using var model = BertEncoder.Load(dir.Path);
        Assert.Equal(precision == "f16" ? GgmlType.F16 : GgmlType.F32, model.WeightType);
        using var session = new BertSession(model, threads: 2);

        var ids = inputs.SelectMany(i => i.Ids).ToArray();
        var types = inputs.SelectMany(i => i.Types ?? new int[i.Ids.Length]).ToArray();
        var lengths = inputs.Select(i => i.Ids.Length).ToArray();
        int h = config.Hidden;
        var hidden = new float[ids.Length * h];
        session.Forward(hidden, ids, types, lengths);

        for (int b = 0, s = 0; b < inputs.Count; s += lengths[b], b++)
        {
            var states = expected.GetProperty("states")[b];
            int len = lengths[b];
            int[] rows = [.. Enumerable.Range(0, Math.Min(3, len)), len - 1];
            for (int r = 0; r < rows.Length; r++)
            {
                var want = Golden.Floats(states[r]);
                for (int i = 0; i < want.Length; i++)
                    Assert.True(Math.Abs(hidden[(s + rows[r]) * h + i] - want[i]) <= StateTolerance, $"{precision} seq {b} token {rows[r]} dim {i}: {hidden[(s + rows[r]) * h + i]} vs {want[i]}");
            }

            var mean = new double[h];
            for (int t = 0; t < len; t++)
                for (int i = 0; i < h; i++) mean[i] += hidden[(s + t) * h + i];
            AssertUnitClose(Golden.Floats(expected.GetProperty("mean_normalized")[b]), mean, $"{precision} mean {b}");
            AssertUnitClose(Golden.Floats(expected.GetProperty("cls_normalized")[b]), hidden.AsSpan(s * h, h).ToArray().Select(v => (double)v).ToArray(), $"{precision} cls {b}");
        }
    }

    private static void AssertUnitClose(float[] want, double[] got, string what)
    {
        double norm = Math.Sqrt(got.Sum(v => v * v));
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(got[i] / norm - want[i]) <= PooledTolerance, $"{what} dim {i}: {got[i] / norm} vs {want[i]}");
    }

    [Fact]
    public void One_sequence_alone_equals_the_same_sequence_in_a_batch()
    {
        var (config, seed, inputs, _) = LoadGolden();
        using var dir = new TempDir();
        BertRandomWriter.Write(dir.Path, config with { Layers = 1 }, seed, f16: false);
        using var model = BertEncoder.Load(dir.Path);
        using var session = new BertSession(model, threads: 1);
        int h = config.Hidden;
        var batchIds = inputs.Take(3).SelectMany(i => i.Ids).ToArray();
        var lengths = inputs.Take(3).Select(i => i.Ids.Length).ToArray();
        var batch = new float[batchIds.Length * h];
        session.Forward(batch, batchIds, [], lengths);
        var alone = new float[inputs[1].Ids.Length * h];
        session.Forward(alone, inputs[1].Ids, [], [inputs[1].Ids.Length]);
        // The batch (70 tokens) runs the blocked SGEMM, the lone 3-token input the dot-product kernel
        // (BertSession.GemmMinTokens); the tiling changes the float summation order: equal up to rounding.
        Assert.True(batchIds.Length >= BertSession.GemmMinTokens && alone.Length / h < BertSession.GemmMinTokens);
        AssertClose(alone, batch.AsSpan(lengths[0] * h, alone.Length).ToArray());
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(MathF.Abs(expected[i] - actual[i]) <= 1e-5f * (1 + MathF.Abs(expected[i])), $"element {i}: {expected[i]} vs {actual[i]}");
    }

    [Theory]
    [InlineData("F32")]
    [InlineData("Q8_0")]
    public void Threads_and_split_strategies_do_not_change_the_states(string typeName)
    {
        var config = new BertConfig(256, 64, 2, 4, 128, 64, 2, 1e-12f);
        using var dir = new TempDir();
        var tokens = Enumerable.Range(0, 256).Select(i => i == 101 ? "[CLS]" : i == 102 ? "[SEP]" : i == 100 ? "[UNK]" : "\u2581w" + i).ToArray();
        BertRandomWriter.WriteGguf(dir.File("m.gguf"), config, 9, Enum.Parse<GgmlType>(typeName), tokens);
        using var model = BertEncoder.LoadGguf(dir.File("m.gguf"));
        int[] shortIds = [101, 5, 6, 102];                                        // too short for a token split: weight rows split
        int[] longIds = [101, .. Enumerable.Range(110, 38), 102, 101, 7, 102];    // 43 tokens: token rows split
        foreach (var (ids, lengths) in new[] { (shortIds, new[] { 4 }), (longIds, new[] { 40, 3 }) })
        {
            float[] Run(int threads)
            {
                using var session = new BertSession(model, threads);
                var hidden = new float[ids.Length * config.Hidden];
                session.Forward(hidden, ids, [], lengths);
                return hidden;
            }
            var one = Run(1);
            AssertClose(one, Run(3));
            AssertClose(one, Run(2));
        }
    }

    [Fact]
    public void Cross_encoder_head_matches_the_torch_reference()
    {
        var (config, seed, inputs, doc) = LoadGolden();
        var want = Golden.Floats(doc.GetProperty("results").GetProperty("classifier_f32").GetProperty("logits"));
        using var dir = new TempDir();
        BertRandomWriter.Write(dir.Path, config with { NumLabels = 1 }, seed, f16: false);
        using var model = BertEncoder.Load(dir.Path);
        Assert.Equal(1, model.Config.NumLabels);
        using var session = new BertSession(model, threads: 2);
        var logits = new float[inputs.Count];
        session.Classify(logits, inputs.SelectMany(i => i.Ids).ToArray(), inputs.SelectMany(i => i.Types ?? new int[i.Ids.Length]).ToArray(),
            inputs.Select(i => i.Ids.Length).ToArray());
        for (int i = 0; i < want.Length; i++)
            Assert.True(Math.Abs(logits[i] - want[i]) <= StateTolerance, $"logit {i}: {logits[i]} vs {want[i]}");
    }

    [Fact]
    public void A_missing_tensor_or_a_dtype_the_engine_does_not_run_fails_naming_file_tensor_and_fix()
    {
        using var dir = new TempDir();
        var small = new BertConfig(64, 32, 1, 2, 64, 16, 2, 1e-12f);
        BertRandomWriter.Write(dir.Path, small, 1, f16: false);
        const string victim = "encoder.layer.0.attention.self.key.bias";
        void Rewrite(bool asInt32)
        {
            var path = dir.File("model.safetensors");
            var bytes = new Dictionary<string, (string Dtype, long[] Shape, byte[] Data)>();
            using (var f = SafetensorsFile.Open(path))
                foreach (var t in f.Tensors) bytes[t.Name] = (t.Dtype, t.Shape, f.GetBytes(t).ToArray());
            var w = new SafetensorsWriter();
            foreach (var (name, (dtype, shape, data)) in bytes)
                if (name != victim || asInt32)
                    w.AddTensor(name, name == victim ? "I32" : dtype, shape, s => s.Write(data));
            w.Write(path);
        }

        Rewrite(asInt32: true);
        var dtype = Assert.Throws<ModelFormatException>(() => BertEncoder.Load(dir.Path));
        Assert.Contains(dir.File("model.safetensors"), dtype.Message);
        Assert.Contains($"'{victim}'", dtype.Message);
        Assert.Contains("I32", dtype.Message);
        Assert.Contains("convert", dtype.Message);

        Rewrite(asInt32: false);
        var missing = Assert.Throws<ModelFormatException>(() => BertEncoder.Load(dir.Path));
        Assert.Contains(dir.File("model.safetensors"), missing.Message);
        Assert.Contains($"'{victim}' is missing", missing.Message);
    }

    [Fact]
    public void Bad_folders_and_inputs_fail_with_the_fix_named()
    {
        using var dir = new TempDir();
        Assert.Throws<FileNotFoundException>(() => BertEncoder.Load(dir.Path));
        var small = new BertConfig(64, 32, 1, 2, 64, 16, 2, 1e-12f);
        File.WriteAllText(dir.File("config.json"), small.ToJson());
        var e = Assert.Throws<FileNotFoundException>(() => BertEncoder.Load(dir.Path));
        Assert.Contains("model.safetensors", e.Message);

        BertRandomWriter.Write(dir.Path, small, 1, f16: false);
        File.WriteAllText(dir.File("config.json"), (small with { Hidden = 48, Heads = 2 }).ToJson());
        var shape = Assert.Throws<ModelFormatException>(() => BertEncoder.Load(dir.Path));
        Assert.Contains("config.json", shape.Message);

        File.WriteAllText(dir.File("config.json"), """{"model_type":"roberta","hidden_size":32}""");
        Assert.Contains("roberta", Assert.Throws<ModelFormatException>(() => BertEncoder.Load(dir.Path)).Message);

        File.WriteAllText(dir.File("config.json"), small.ToJson());
        File.WriteAllBytes(dir.File("model.safetensors"), new byte[] { 1, 2, 3 });
        Assert.Throws<ModelFormatException>(() => BertEncoder.Load(dir.Path));

        BertRandomWriter.Write(dir.Path, small, 1, f16: true);
        using var model = BertEncoder.Load(dir.Path);
        using var session = new BertSession(model, threads: 1);
        var hidden = new float[32 * 20];
        Assert.Throws<ArgumentOutOfRangeException>(() => session.Forward(hidden, new int[17], [], [17]));
        Assert.Throws<ArgumentOutOfRangeException>(() => session.Forward(hidden, [1, 64], [], [2]));
        Assert.Throws<ArgumentException>(() => session.Forward(hidden, [1, 2], [], [3]));
        Assert.Throws<InvalidOperationException>(() => session.Classify(new float[1], [1, 2], [], [2]));
    }

    [Trait("Category", "Slow")]
    [Theory]
    [InlineData("minilm")]
    [InlineData("bge-small")]
    public void Real_shapes_load_and_run(string preset)
    {
        var config = preset == "minilm" ? BertConfig.MiniLmL6 : BertConfig.BgeSmall;
        using var dir = new TempDir();
        BertRandomWriter.Write(dir.Path, config, 3, f16: true);
        using var model = BertEncoder.Load(dir.Path);
        Assert.Equal(config, model.Config);
        using var session = new BertSession(model, threads: 2);
        int[] ids = [101, .. Enumerable.Range(1000, 126), 102, 101, 2000, 102];
        var hidden = new float[ids.Length * config.Hidden];
        session.Forward(hidden, ids, [], [128, 3]);
        Assert.All(hidden, v => Assert.True(float.IsFinite(v)));
    }
}
