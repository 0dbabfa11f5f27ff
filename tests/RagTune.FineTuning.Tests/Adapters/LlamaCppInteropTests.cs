using System.Text.Json;
using LLama;
using LLama.Common;
using LLama.Native;
using LoraAdapter = RagTune.Engine.Training.LoraAdapter;
using RagTune.Engine.Models;
using RagTune.Engine.Training;
using RagTune.FineTuning.Adapters;
using RagTune.FineTuning.Training;
using RagTune.TestKit;
using Xunit.Abstractions;

namespace RagTune.FineTuning.Tests.Adapters;

/// <summary>
/// The interop promise of our adapter formats, checked against the reference implementation: a LoRA trained on
/// stories260K, exported as llama.cpp GGUF LoRA (what <c>ragtune adapter export --format gguf-lora</c> writes) and as a
/// merged GGUF (<c>ragtune adapter merge</c>), loaded by llama.cpp b10221 through LLamaSharp, gives the last-position
/// logits (relative L2 error ≤ 1e-3) and the greedy continuation of our engine running the adapter unmerged.
/// </summary>
[Trait("Category", "Slow")]
public sealed class LlamaCppInteropTests : IClassFixture<LlamaCppInteropTests.TrainedAdapter>
{
    private const float Tolerance = 1e-3f;
    private const int GreedyTokens = 24;
    private readonly TrainedAdapter _trained;
    private readonly ITestOutputHelper _output;

    public LlamaCppInteropTests(TrainedAdapter trained, ITestOutputHelper output) => (_trained, _output) = (trained, output);

    /// <summary>One short LoRA run on stories260K shared by the tests, big enough to change the greedy text.</summary>
    public sealed class TrainedAdapter : IDisposable
    {
        private readonly TempDir _dir = new();

        public TrainedAdapter()
        {
            var data = _dir.File("data.jsonl");
            System.IO.File.WriteAllLines(data, Enumerable.Range(0, 16).Select(i =>
                JsonSerializer.Serialize(new { instruction = $"Who is the dragon {i}?", output = "The dragon was a big green friend who loved to sing songs." })));
            var options = new TuneOptions
            {
                ModelPath = TestModels.Stories, DataPath = data, OutputDir = _dir.File("out"), Steps = 30, BatchSize = 4, GradAccum = 1,
                SeqLen = 48, EvalEvery = 1000, Threads = 1, LearningRate = 1e-2f, ValidationSplit = 0, LoraDropout = 0,
            };
            using var trainer = new Trainer(options);
            trainer.Prepare();
            PeftFolder = trainer.Run().AdapterDir;
        }

        public string PeftFolder { get; }

        public string File(string name) => _dir.File(name);

        public void Dispose() => _dir.Dispose();
    }

    // Both engines are fed the same ids (from our tokenizer), so only the model and the adapter are compared.
    private static int[] Prompt()
    {
        var tok = TestModels.StoriesModel.Tokenizer;
        return [.. tok.Encode("Once upon a time, the dragon", addBos: true)];
    }

    [Fact]
    public void Gguf_lora_export_changes_llama_cpp_output_exactly_as_our_unmerged_adapter_does()
    {
        using var model = TransformerModel.Load(TestModels.Stories);
        var adapter = PeftAdapter.Load(_trained.PeftFolder, model.Config);
        var ggufLora = _trained.File("adapter.gguf");
        GgufLoraAdapter.Save(adapter, model.Config, ggufLora, "stories260K.gguf");
        var prompt = Prompt();

        var ours = Ours(model, adapter, prompt);
        var oursBase = Ours(model, null, prompt);
        var theirs = LlamaCpp.Run(TestModels.Stories, ggufLora, prompt, GreedyTokens);
        var theirsBase = LlamaCpp.Run(TestModels.Stories, null, prompt, GreedyTokens);

        // The adapter must matter, or the comparison below proves nothing.
        Assert.True(RelativeError(oursBase.Logits, ours.Logits) > 100 * Tolerance, $"the trained adapter barely changes the logits ({RelativeError(oursBase.Logits, ours.Logits):G3})");
        Assert.NotEqual(oursBase.Greedy, ours.Greedy);
        _output.WriteLine($"base: {Text(oursBase.Greedy)}\nadapter: {Text(ours.Greedy)}");

        AssertClose(oursBase.Logits, theirsBase.Logits, "base");
        AssertClose(ours.Logits, theirs.Logits, "base + GGUF LoRA");
        Assert.Equal(Text(ours.Greedy), Text(theirs.Greedy));
        Assert.Equal(ours.Greedy, theirs.Greedy);
    }

    [Fact]
    public void Merged_model_gives_in_llama_cpp_what_our_unmerged_adapter_gives()
    {
        using var model = TransformerModel.Load(TestModels.Stories);
        var adapter = PeftAdapter.Load(_trained.PeftFolder, model.Config);
        var merged = _trained.File("merged.gguf");
        AdapterMerger.MergeToGguf(model, adapter, merged);
        var prompt = Prompt();

        var ours = Ours(model, adapter, prompt);
        var theirs = LlamaCpp.Run(merged, null, prompt, GreedyTokens);

        AssertClose(ours.Logits, theirs.Logits, "merged");
        Assert.Equal(Text(ours.Greedy), Text(theirs.Greedy));
        Assert.Equal(ours.Greedy, theirs.Greedy);
    }

    private static string Text(int[] ids) => TestModels.StoriesModel.Tokenizer.Decode(ids);

    private void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double err = RelativeError(expected, actual);
        _output.WriteLine($"{what}: relative L2 error of the last-position logits against llama.cpp {err:G3}");
        Assert.True(err <= Tolerance, $"{what}: last-position logits differ from llama.cpp's by {err:G3} (relative L2), over {Tolerance}");
    }

    private static double RelativeError(float[] reference, float[] other)
    {
        double diff = 0, norm = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            double d = reference[i] - other[i];
            diff += d * d;
            norm += (double)reference[i] * reference[i];
        }
        return Math.Sqrt(diff / norm);
    }

    /// <summary>Our engine: the adapter unmerged (<see cref="LoraDelta"/> on the session), greedy decoding.</summary>
    private static (float[] Logits, int[] Greedy) Ours(TransformerModel model, LoraAdapter? adapter, int[] prompt)
    {
        using var delta = adapter is null ? null : new LoraDelta(adapter, model.Config);
        using var s = new InferenceSession(model, new SessionOptions(128, Threads: 1)) { Adapter = delta };
        s.Forward(prompt);
        var logits = s.Logits.ToArray();
        var greedy = new int[GreedyTokens];
        for (int i = 0; i < greedy.Length; i++)
        {
            greedy[i] = ArgMax(s.Logits);
            s.Forward([greedy[i]]);
        }
        return (logits, greedy);
    }

    internal static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }

    /// <summary>llama.cpp through LLamaSharp: the same ids, logits at the last position, greedy decoding.</summary>
    private static class LlamaCpp
    {
        private static readonly Lazy<bool> s_loaded = new(() =>
        {
            // Surface llama.cpp's own errors (a rejected adapter names its tensor there) in the test output.
            NativeLibraryConfig.All.WithLogCallback((level, message) =>
            {
                if (level is LLamaLogLevel.Warning or LLamaLogLevel.Error) Console.Error.Write($"llama.cpp {level}: {message}");
            });
            NativeApi.llama_empty_call();
            return true;
        });

        public static (float[] Logits, int[] Greedy) Run(string modelPath, string? loraPath, int[] prompt, int steps)
        {
            _ = s_loaded.Value;
            // F32 attention as ours: llama.cpp's default (flash attention on CPU, which rounds through F16) alone costs
            // ~3e-4 of relative error here; without it the two engines agree to ~1e-6.
            var p = new ModelParams(modelPath)
            {
                ContextSize = 128, BatchSize = 128, Threads = 1, BatchThreads = 1, GpuLayerCount = 0, TypeK = GGMLType.GGML_TYPE_F32, TypeV = GGMLType.GGML_TYPE_F32, FlashAttention = false,
            };
            using var weights = LLamaWeights.LoadFromFile(p);
            using var context = weights.CreateContext(p);
            if (loraPath is not null)
            {
                var lora = weights.NativeHandle.LoadLoraFromFile(loraPath);
                context.NativeHandle.SetLoraAdapters([(lora, 1f)]);
            }
            var batch = new LLamaBatch();
            for (int i = 0; i < prompt.Length; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, i == prompt.Length - 1);
            Decode(context, batch);
            var logits = context.NativeHandle.GetLogitsIth(batch.TokenCount - 1).ToArray();
            var greedy = new int[steps];
            for (int i = 0; i < steps; i++)
            {
                greedy[i] = ArgMax(context.NativeHandle.GetLogitsIth(batch.TokenCount - 1));
                batch.Clear();
                batch.Add(greedy[i], prompt.Length + i, LLamaSeqId.Zero, true);
                Decode(context, batch);
            }
            return (logits, greedy);
        }

        private static void Decode(LLamaContext context, LLamaBatch batch)
        {
            var result = context.NativeHandle.Decode(batch);
            Assert.True(result == DecodeResult.Ok, $"llama_decode returned {result}");
        }
    }
}
