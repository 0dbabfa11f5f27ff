using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.AI;
using RagTune.Engine;
using RagTune.Engine.Encoders;
using RagTune.FineTuning.Embeddings;
using RagTune.Models.Embeddings;
using RagTune.TestKit;

namespace RagTune.FineTuning.Tests.Embeddings;

public sealed class EmbeddingTunerTests
{
    // A synthetic retrieval task over the writer's "w{id}" vocabulary: query i names two topic words, its passage holds
    // them among filler words shared by every passage, so only learning which words matter ranks it first.
    private static List<EmbeddingPair> SyntheticPairs(int queries)
    {
        var rng = new Random(4);
        string W(int id) => "w" + id.ToString(CultureInfo.InvariantCulture);
        var pairs = new List<EmbeddingPair>();
        for (int i = 0; i < queries; i++)
        {
            int a = 200 + 2 * i, b = 201 + 2 * i;
            var filler = Enumerable.Range(0, 8).Select(_ => W(104 + rng.Next(20)));
            pairs.Add(new EmbeddingPair($"{W(a)} {W(b)}", string.Join(' ', filler.Take(4).Append(W(a)).Concat(filler.Skip(4)).Append(W(b))), []));
        }
        return pairs;
    }

    private static string RandomModel(TempDir dir, EmbeddingPooling pooling = EmbeddingPooling.Mean, bool f16 = false)
    {
        var folder = Path.Combine(dir.Path, "base");
        RandomEmbeddingModelWriter.Write(folder, new BertConfig(400, 32, 2, 4, 64, 64, 2, 1e-12f), seed: 5, f16: f16, pooling);
        return folder;
    }

    [Fact]
    public async Task Tuning_raises_validation_recall_and_saves_a_loadable_model_in_the_same_layout()
    {
        using var dir = new TempDir();
        var model = RandomModel(dir, f16: true);
        var output = Path.Combine(dir.Path, "tuned");
        var messages = new List<string>();
        var options = new EmbeddingTuneOptions { Epochs = 4, LearningRate = 3e-3f, BatchSize = 8, ValidationSplit = 0.25, RecallK = 3, Patience = 0, Threads = 2, HardNegatives = 0 };
        var result = EmbeddingTuner.Run(model, SyntheticPairs(40), output, options, messages.Add);

        Assert.Contains(messages, m => m.Contains("weights are F16; training an F32 copy", StringComparison.Ordinal));
        Assert.Equal(5, result.Curve.Count);
        Assert.Equal(10, result.ValidationQueries);
        Assert.True(result.BestRecall >= result.StartRecall + 0.3, $"Recall@3 {result.StartRecall:F3} → {result.BestRecall:F3}");
        Assert.True(result.Curve.Skip(1).Last().TrainLoss < result.Curve[1].TrainLoss, "the training loss did not fall");

        // Same files as the base (pooling and tokenizer configs), F32 weights, loadable by the inference path.
        foreach (var f in new[] { "config.json", "vocab.txt", "modules.json", "sentence_bert_config.json", Path.Combine("1_Pooling", "config.json"), "model.safetensors" })
            Assert.True(File.Exists(Path.Combine(output, f)), f);
        using var tuned = LocalEmbeddingGenerator.Load(output);
        using var base_ = LocalEmbeddingGenerator.Load(model);
        Assert.NotEqual(base_.ModelId.Split('@')[1], tuned.ModelId.Split('@')[1]);
        var v = await tuned.GenerateAsync(["w200 w201"]);
        Assert.Equal(32, v[0].Vector.Length);

        using var log = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, EmbeddingTuner.LogFile)));
        Assert.Equal(EmbeddingTuner.LogFormat, log.RootElement.GetProperty("format").GetString());
        Assert.Equal(EmbeddingTuner.LogVersion, log.RootElement.GetProperty("version").GetInt32());
        Assert.Equal(result.BestEpoch, log.RootElement.GetProperty("best_epoch").GetInt32());
        Assert.Equal(5, log.RootElement.GetProperty("curve").GetArrayLength());
    }

    [Fact]
    public void The_saved_model_is_the_best_epoch_and_early_stopping_ends_the_run()
    {
        using var dir = new TempDir();
        var model = RandomModel(dir, EmbeddingPooling.Cls);
        var output = Path.Combine(dir.Path, "tuned");
        // A learning rate this large wrecks the model after the first epoch, so validation stops improving.
        var options = new EmbeddingTuneOptions { Epochs = 6, LearningRate = 0.3f, BatchSize = 8, ValidationSplit = 0.25, RecallK = 3, Patience = 1, Threads = 2, HardNegatives = 0 };
        var result = EmbeddingTuner.Run(model, SyntheticPairs(40), output, options);
        Assert.True(result.StoppedEarly, $"ran {result.Curve.Count - 1} epochs");
        Assert.Equal(result.Curve.Max(e => e.ValidationRecall), result.BestRecall);
        Assert.True(result.Curve.Count - 1 - result.BestEpoch >= 1);
    }

    [Fact]
    public void Bad_inputs_are_refused_with_the_setting_or_file_named()
    {
        using var dir = new TempDir();
        var model = RandomModel(dir);
        var pairs = SyntheticPairs(10);
        var lr = Assert.Throws<SettingException>(() =>
            EmbeddingTuner.Run(model, pairs, Path.Combine(dir.Path, "o"), new EmbeddingTuneOptions { LearningRate = 0 }));
        Assert.Equal(nameof(EmbeddingTuneOptions.LearningRate), lr.Setting);
        Assert.Equal("--lr 0: must be positive.", lr.Render(_ => "--lr"));
        var batch = Assert.Throws<SettingException>(() =>
            EmbeddingTuner.Run(model, pairs, Path.Combine(dir.Path, "o"), new EmbeddingTuneOptions { BatchSize = 1 }));
        Assert.Equal(nameof(EmbeddingTuneOptions.BatchSize), batch.Setting);
        Assert.StartsWith("EmbeddingTuneOptions.BatchSize 1: must be at least 2", batch.Message);
        Assert.Contains("is the model folder", Assert.Throws<ArgumentException>(() => EmbeddingTuner.Run(model, pairs, model, new EmbeddingTuneOptions())).Message);
        Assert.Contains("at least 3 are needed", Assert.Throws<ArgumentException>(() =>
            EmbeddingTuner.Run(model, pairs.Take(2).ToList(), Path.Combine(dir.Path, "o"), new EmbeddingTuneOptions())).Message);
        var gguf = Path.Combine(dir.Path, "m.gguf");
        File.WriteAllText(gguf, "x");
        Assert.Contains("GGUF files cannot be tuned", Assert.Throws<EmbeddingModelException>(() =>
            EmbeddingTuner.Run(gguf, pairs, Path.Combine(dir.Path, "o"), new EmbeddingTuneOptions())).Message);
    }
}
