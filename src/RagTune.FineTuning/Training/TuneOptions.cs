using RagTune.Engine;
using RagTune.Engine.Training;
using RagTune.FineTuning.Datasets;

namespace RagTune.FineTuning.Training;

/// <summary>
/// The settings of a fine-tuning run (<c>ragtune tune</c>, the server's <c>POST /api/tune</c>, the experiment arms), one
/// property each, and the one home of their defaults: the front ends take a setting they are not given from the
/// <c>Default…</c> constants here. <see cref="Validate"/> runs before anything is loaded and throws a
/// <see cref="SettingException"/> naming the property at fault; each front end words it as its flag or field.
/// </summary>
public sealed record TuneOptions
{
    // Defaults, as constants so that System.CommandLine's DefaultValueFactory (shown in --help) and the server can use them.
    /// <summary>Default of <see cref="ValidationSplit"/>: the fraction of the data held out for validation.</summary>
    public const double DefaultValidationSplit = 0.1;
    /// <summary>Default of <see cref="Method"/>: a LoRA adapter.</summary>
    public const string DefaultMethod = "lora";
    /// <summary>Default of <see cref="LoraRank"/>.</summary>
    public const int DefaultLoraRank = 8;
    /// <summary>Default of <see cref="LoraAlpha"/>.</summary>
    public const float DefaultLoraAlpha = 16;
    /// <summary>Default of <see cref="LoraDropout"/>.</summary>
    public const float DefaultLoraDropout = 0.05f;
    /// <summary>Default of <see cref="Targets"/>: every attention and MLP projection.</summary>
    public const string DefaultTargets = "q,k,v,o,gate,up,down";
    /// <summary>Epochs when neither <see cref="Epochs"/> nor <see cref="Steps"/> is given.</summary>
    public const int DefaultEpochs = 1;
    /// <summary>Default of <see cref="LearningRate"/>.</summary>
    public const float DefaultLearningRate = 2e-4f;
    /// <summary>Default of <see cref="BatchSize"/>.</summary>
    public const int DefaultBatchSize = 4;
    /// <summary>Default of <see cref="GradAccum"/>.</summary>
    public const int DefaultGradAccum = 4;
    /// <summary>Default of <see cref="SeqLen"/>.</summary>
    public const int DefaultSeqLen = 512;
    /// <summary>Default of <see cref="Warmup"/>.</summary>
    public const double DefaultWarmup = 0.03;
    /// <summary>Default of <see cref="EvalEvery"/>: once per epoch.</summary>
    public const int DefaultEvalEvery = 0;
    /// <summary>Default of <see cref="Schedule"/>.</summary>
    public const LearningRateDecay DefaultSchedule = LearningRateDecay.Cosine;
    /// <summary>Default of <see cref="Seed"/>.</summary>
    public const ulong DefaultSeed = 42;
    /// <summary>Default of <see cref="MaxGradNorm"/>.</summary>
    public const float DefaultMaxGradNorm = 1f;

    /// <summary>--model: base model file (GGUF or llama2.c .bin).</summary>
    public required string ModelPath { get; init; }

    /// <summary>--tokenizer: tokenizer file when the model carries none.</summary>
    public string? TokenizerPath { get; init; }

    /// <summary>--data: training file.</summary>
    public required string DataPath { get; init; }

    /// <summary>--val: a separate validation file (instead of --val-split).</summary>
    public string? ValidationPath { get; init; }

    /// <summary>
    /// --val-split: fraction of --data held out for validation; null = <see cref="DefaultValidationSplit"/>, or none when
    /// <see cref="ValidationPath"/> is given (<see cref="EffectiveValidationSplit"/>). Null rather than a default value so
    /// that "not given" is told apart from "given as 0.1".
    /// </summary>
    public double? ValidationSplit { get; init; }

    /// <summary>--format: dataset format (auto-detected by fields).</summary>
    public DatasetFormat Format { get; init; } = DatasetFormat.Auto;

    /// <summary>--overlong: truncate (default) or drop examples longer than --seq-len.</summary>
    public OverlongPolicy Overlong { get; init; } = OverlongPolicy.Truncate;

    /// <summary>--out: output folder (adapter, checkpoints, loss history, plot).</summary>
    public required string OutputDir { get; init; }

    /// <summary>--method: <c>lora</c> (an adapter over a frozen base) or <c>full</c> (every weight of an F32 GGUF base, written as model/model.gguf).</summary>
    public string Method { get; init; } = DefaultMethod;

    /// <summary>--lora-rank (8).</summary>
    public int LoraRank { get; init; } = DefaultLoraRank;

    /// <summary>--lora-alpha (16).</summary>
    public float LoraAlpha { get; init; } = DefaultLoraAlpha;

    /// <summary>--lora-dropout (0.05).</summary>
    public float LoraDropout { get; init; } = DefaultLoraDropout;

    /// <summary>--targets (q,k,v,o,gate,up,down).</summary>
    public string Targets { get; init; } = DefaultTargets;

    /// <summary>--epochs (used when --steps is not given; 1 by default).</summary>
    public int? Epochs { get; init; }

    /// <summary>--steps: optimizer steps (overrides --epochs).</summary>
    public int? Steps { get; init; }

    /// <summary>--lr: peak learning rate (2e-4).</summary>
    public float LearningRate { get; init; } = DefaultLearningRate;

    /// <summary>--batch: sequences per micro-batch (4).</summary>
    public int BatchSize { get; init; } = DefaultBatchSize;

    /// <summary>--grad-accum: micro-batches per optimizer step (4).</summary>
    public int GradAccum { get; init; } = DefaultGradAccum;

    /// <summary>--seq-len: longest sequence in tokens (512; capped by the model's context).</summary>
    public int SeqLen { get; init; } = DefaultSeqLen;

    /// <summary>--warmup: fraction of the steps spent warming the learning rate up (0.03).</summary>
    public double Warmup { get; init; } = DefaultWarmup;

    /// <summary>--schedule: cosine (default), linear or constant after warmup.</summary>
    public LearningRateDecay Schedule { get; init; } = DefaultSchedule;

    /// <summary>--eval-every: validation every N steps (0 = once per epoch, at least at the end).</summary>
    public int EvalEvery { get; init; } = DefaultEvalEvery;

    /// <summary>--patience: stop after P evaluations without a better validation loss (0 = never).</summary>
    public int Patience { get; init; }

    /// <summary>--checkpoint-every: save a resumable checkpoint every N steps (0 = at each evaluation).</summary>
    public int CheckpointEvery { get; init; }

    /// <summary>--seed (42): data order, validation split, adapter init, dropout.</summary>
    public ulong Seed { get; init; } = DefaultSeed;

    /// <summary>--threads (0 = one per processor).</summary>
    public int Threads { get; init; }

    /// <summary>--resume: continue from the latest checkpoint in --out.</summary>
    public bool Resume { get; init; }

    /// <summary>--max-grad-norm: gradient clipping (1.0; 0 = off).</summary>
    public float MaxGradNorm { get; init; } = DefaultMaxGradNorm;

    /// <summary>--recompute: activation checkpointing (less memory, about a third more compute).</summary>
    public bool Recompute { get; init; }

    /// <summary>Memory the run may use, in bytes; null = what the GC reports as available (tests lower it).</summary>
    public long? MemoryLimitBytes { get; init; }

    /// <summary>
    /// Checks every setting; throws <see cref="SettingException"/> naming the setting and a valid range, for the front
    /// end to word as its flag or field.
    /// </summary>
    public void Validate()
    {
        static void Require(bool ok, string template, params string[] settings)
        {
            if (!ok) throw new SettingException(nameof(TuneOptions), template, settings);
        }
        Require(!string.IsNullOrWhiteSpace(ModelPath), "{ModelPath} is required.", nameof(ModelPath));
        Require(!string.IsNullOrWhiteSpace(DataPath), "{DataPath} is required.", nameof(DataPath));
        Require(!string.IsNullOrWhiteSpace(OutputDir), "{OutputDir} is required.", nameof(OutputDir));
        Require(Method is "lora" or "full", $"{{Method}} '{Method}' is not known; use lora or full (every weight; F32 GGUF bases only).", nameof(Method));
        Require(ValidationSplit is null or (>= 0 and < 1), $"{{ValidationSplit}} {ValidationSplit} must be in [0, 1), e.g. {DefaultValidationSplit}.", nameof(ValidationSplit));
        Require(ValidationPath == null || ValidationSplit is null or 0, "Pass either {ValidationPath} <file> or {ValidationSplit}, not both.", nameof(ValidationSplit), nameof(ValidationPath));
        Require(Epochs is null or > 0, $"{{Epochs}} {Epochs} must be positive.", nameof(Epochs));
        Require(Steps is null or > 0, $"{{Steps}} {Steps} must be positive.", nameof(Steps));
        Require(LearningRate > 0 && float.IsFinite(LearningRate) && LearningRate < 1, $"{{LearningRate}} {LearningRate} must be in (0, 1); {DefaultLearningRate} is typical for LoRA.", nameof(LearningRate));
        Require(BatchSize is >= 1 and <= 4096, $"{{BatchSize}} {BatchSize} must be between 1 and 4096.", nameof(BatchSize));
        Require(GradAccum is >= 1 and <= 4096, $"{{GradAccum}} {GradAccum} must be between 1 and 4096.", nameof(GradAccum));
        Require(SeqLen is >= 2 and <= 1 << 20, $"{{SeqLen}} {SeqLen} must be at least 2.", nameof(SeqLen));
        Require(Warmup is >= 0 and < 1, $"{{Warmup}} {Warmup} must be a fraction in [0, 1).", nameof(Warmup));
        Require(EvalEvery >= 0, $"{{EvalEvery}} {EvalEvery} must be 0 (once per epoch) or positive.", nameof(EvalEvery));
        Require(Patience >= 0, $"{{Patience}} {Patience} must be 0 (never stop early) or positive.", nameof(Patience));
        Require(CheckpointEvery >= 0, $"{{CheckpointEvery}} {CheckpointEvery} must be 0 (at each evaluation) or positive.", nameof(CheckpointEvery));
        Require(Threads >= 0, $"{{Threads}} {Threads} must be 0 (one per processor) or positive.", nameof(Threads));
        Require(MaxGradNorm >= 0, $"{{MaxGradNorm}} {MaxGradNorm} must be 0 (off) or positive.", nameof(MaxGradNorm));
        Require(LoraRank is >= 1 and <= 4096, $"{{LoraRank}} {LoraRank} must be between 1 and 4096; {DefaultLoraRank} or 16 are typical.", nameof(LoraRank));
        Require(LoraAlpha > 0 && float.IsFinite(LoraAlpha), $"{{LoraAlpha}} {LoraAlpha} must be positive; about twice {{LoraRank}} is typical.", nameof(LoraAlpha), nameof(LoraRank));
        Require(LoraDropout is >= 0 and < 1, $"{{LoraDropout}} {LoraDropout} must be in [0, 1), e.g. {DefaultLoraDropout}.", nameof(LoraDropout));
        LoraConfig.Validate();
    }

    /// <summary>The fraction of <see cref="DataPath"/> held out: <see cref="ValidationSplit"/>, else none beside a validation file, else the default.</summary>
    public double EffectiveValidationSplit => ValidationSplit ?? (ValidationPath != null ? 0 : DefaultValidationSplit);

    /// <summary>The LoRA settings; unknown target names throw <see cref="ArgumentException"/>.</summary>
    public LoraConfig LoraConfig => new(LoraRank, LoraAlpha, LoraDropout, LoraTargetNames.Parse(Targets));
}
