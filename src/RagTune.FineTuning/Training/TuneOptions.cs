using RagTune.Engine.Training;
using RagTune.FineTuning.Datasets;

namespace RagTune.FineTuning.Training;

/// <summary>
/// Everything <c>ragtune tune</c> takes, one property per flag, with the CLI's defaults. <see cref="Validate"/> runs
/// before anything is loaded and names the flag at fault.
/// </summary>
internal sealed record TuneOptions
{
    /// <summary>--model: base model file (GGUF or llama2.c .bin).</summary>
    public required string ModelPath { get; init; }

    /// <summary>--tokenizer: tokenizer file when the model carries none.</summary>
    public string? TokenizerPath { get; init; }

    /// <summary>--data: training file.</summary>
    public required string DataPath { get; init; }

    /// <summary>--val: a separate validation file (instead of --val-split).</summary>
    public string? ValidationPath { get; init; }

    /// <summary>--val-split: fraction of --data held out for validation when --val is not given (0.1).</summary>
    public double ValidationSplit { get; init; } = 0.1;

    /// <summary>--format: dataset format (auto-detected by fields).</summary>
    public DatasetFormat Format { get; init; } = DatasetFormat.Auto;

    /// <summary>--overlong: truncate (default) or drop examples longer than --seq-len.</summary>
    public OverlongPolicy Overlong { get; init; } = OverlongPolicy.Truncate;

    /// <summary>--out: output folder (adapter, checkpoints, loss history, plot).</summary>
    public required string OutputDir { get; init; }

    /// <summary>--method: <c>lora</c> (an adapter over a frozen base) or <c>full</c> (every weight of an F32 GGUF base, written as model/model.gguf).</summary>
    public string Method { get; init; } = "lora";

    /// <summary>--lora-rank (8).</summary>
    public int LoraRank { get; init; } = 8;

    /// <summary>--lora-alpha (16).</summary>
    public float LoraAlpha { get; init; } = 16;

    /// <summary>--lora-dropout (0.05).</summary>
    public float LoraDropout { get; init; } = 0.05f;

    /// <summary>--targets (q,k,v,o,gate,up,down).</summary>
    public string Targets { get; init; } = "q,k,v,o,gate,up,down";

    /// <summary>--epochs (used when --steps is not given; 1 by default).</summary>
    public int? Epochs { get; init; }

    /// <summary>--steps: optimizer steps (overrides --epochs).</summary>
    public int? Steps { get; init; }

    /// <summary>--lr: peak learning rate (2e-4).</summary>
    public float LearningRate { get; init; } = 2e-4f;

    /// <summary>--batch: sequences per micro-batch (4).</summary>
    public int BatchSize { get; init; } = 4;

    /// <summary>--grad-accum: micro-batches per optimizer step (4).</summary>
    public int GradAccum { get; init; } = 4;

    /// <summary>--seq-len: longest sequence in tokens (512; capped by the model's context).</summary>
    public int SeqLen { get; init; } = 512;

    /// <summary>--warmup: fraction of the steps spent warming the learning rate up (0.03).</summary>
    public double Warmup { get; init; } = 0.03;

    /// <summary>--schedule: cosine (default), linear or constant after warmup.</summary>
    public LearningRateDecay Schedule { get; init; } = LearningRateDecay.Cosine;

    /// <summary>--eval-every: validation every N steps (0 = once per epoch, at least at the end).</summary>
    public int EvalEvery { get; init; }

    /// <summary>--patience: stop after P evaluations without a better validation loss (0 = never).</summary>
    public int Patience { get; init; }

    /// <summary>--checkpoint-every: save a resumable checkpoint every N steps (0 = at each evaluation).</summary>
    public int CheckpointEvery { get; init; }

    /// <summary>--seed (42): data order, validation split, adapter init, dropout.</summary>
    public ulong Seed { get; init; } = 42;

    /// <summary>--threads (0 = one per processor).</summary>
    public int Threads { get; init; }

    /// <summary>--resume: continue from the latest checkpoint in --out.</summary>
    public bool Resume { get; init; }

    /// <summary>--max-grad-norm: gradient clipping (1.0; 0 = off).</summary>
    public float MaxGradNorm { get; init; } = 1f;

    /// <summary>--recompute: activation checkpointing (less memory, about a third more compute).</summary>
    public bool Recompute { get; init; }

    /// <summary>Memory the run may use, in bytes; null = what the GC reports as available (tests lower it).</summary>
    public long? MemoryLimitBytes { get; init; }

    /// <summary>Checks every flag; throws <see cref="ArgumentException"/> naming the flag and a valid range.</summary>
    public void Validate()
    {
        static void Require(bool ok, string message)
        {
            if (!ok) throw new ArgumentException(message);
        }
        Require(!string.IsNullOrWhiteSpace(ModelPath), "--model is required.");
        Require(!string.IsNullOrWhiteSpace(DataPath), "--data is required.");
        Require(!string.IsNullOrWhiteSpace(OutputDir), "--out is required.");
        Require(Method is "lora" or "full", $"--method '{Method}' is not known; use lora or full (every weight; F32 GGUF bases only).");
        Require(ValidationSplit is >= 0 and < 1, $"--val-split {ValidationSplit} must be in [0, 1), e.g. 0.1.");
        Require(ValidationPath == null || ValidationSplit == 0.1 || ValidationSplit == 0, "Pass either --val <file> or --val-split, not both.");
        Require(Epochs is null or > 0, $"--epochs {Epochs} must be positive.");
        Require(Steps is null or > 0, $"--steps {Steps} must be positive.");
        Require(LearningRate > 0 && float.IsFinite(LearningRate) && LearningRate < 1, $"--lr {LearningRate} must be in (0, 1); 2e-4 is typical for LoRA.");
        Require(BatchSize is >= 1 and <= 4096, $"--batch {BatchSize} must be between 1 and 4096.");
        Require(GradAccum is >= 1 and <= 4096, $"--grad-accum {GradAccum} must be between 1 and 4096.");
        Require(SeqLen is >= 2 and <= 1 << 20, $"--seq-len {SeqLen} must be at least 2.");
        Require(Warmup is >= 0 and < 1, $"--warmup {Warmup} must be a fraction in [0, 1).");
        Require(EvalEvery >= 0, "--eval-every must be 0 or positive.");
        Require(Patience >= 0, "--patience must be 0 or positive.");
        Require(CheckpointEvery >= 0, "--checkpoint-every must be 0 or positive.");
        Require(Threads >= 0, "--threads must be 0 (one per processor) or positive.");
        Require(MaxGradNorm >= 0, "--max-grad-norm must be 0 (off) or positive.");
        LoraConfig.Validate();
    }

    /// <summary>The LoRA settings; unknown target names throw <see cref="ArgumentException"/>.</summary>
    public LoraConfig LoraConfig => new(LoraRank, LoraAlpha, LoraDropout, LoraTargetNames.Parse(Targets));
}
