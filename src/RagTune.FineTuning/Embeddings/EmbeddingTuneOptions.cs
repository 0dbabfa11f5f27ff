using RagTune.Engine;

namespace RagTune.FineTuning.Embeddings;

/// <summary>
/// Options of <see cref="EmbeddingTuner"/>, one per <c>ragtune tune-embeddings</c> flag, with its defaults (those of
/// sentence-transformers' MultipleNegativesRankingLoss recipes where one exists); the CLI takes its defaults from a
/// default instance. <see cref="Validate"/> names the setting at fault.
/// </summary>
public sealed record EmbeddingTuneOptions
{
    /// <summary>--epochs: passes over the training pairs (3).</summary>
    public int Epochs { get; init; } = 3;

    /// <summary>--lr: peak AdamW learning rate (2e-5, for a pretrained encoder; a random one needs ~1e-3).</summary>
    public float LearningRate { get; init; } = 2e-5f;

    /// <summary>--batch: queries per step; each sees every other query's positive as a negative (32).</summary>
    public int BatchSize { get; init; } = 32;

    /// <summary>--temperature: τ of the InfoNCE softmax (0.05, i.e. scale 20).</summary>
    public float Temperature { get; init; } = 0.05f;

    /// <summary>--val-split: fraction of distinct queries held out to measure Recall@k each epoch (0.1).</summary>
    public double ValidationSplit { get; init; } = 0.1;

    /// <summary>--patience: epochs without a better validation Recall@k before stopping (2).</summary>
    public int Patience { get; init; } = 2;

    /// <summary>--hard-negatives: hard negatives per query in each batch, from the file or mined by BM25 (1; 0 = in-batch only).</summary>
    public int HardNegatives { get; init; } = 1;

    /// <summary>--recall-k: k of the validation Recall@k (10).</summary>
    public int RecallK { get; init; } = 10;

    /// <summary>--max-tokens: inputs are cut to this many tokens ([CLS] and [SEP] included; 128, at most the model's limit).</summary>
    public int MaxTokens { get; init; } = 128;

    /// <summary>AdamW decoupled weight decay (0.01, torch's default).</summary>
    public float WeightDecay { get; init; } = 0.01f;

    /// <summary>Fraction of the steps spent warming the learning rate up linearly (0.1); then linear decay to 0.</summary>
    public double WarmupFraction { get; init; } = 0.1;

    /// <summary>Global gradient-norm clip (1.0).</summary>
    public float MaxGradNorm { get; init; } = 1f;

    /// <summary>--seed: shuffles and the validation split (1).</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>--threads: compute threads (0 = one per processor).</summary>
    public int Threads { get; init; }

    /// <summary>Text before every query (E5's "query: ", BGE's instruction); none by default.</summary>
    public string QueryPrefix { get; init; } = "";

    /// <summary>Text before every passage (E5's "passage: "); none by default.</summary>
    public string PassagePrefix { get; init; } = "";

    /// <summary>
    /// Throws a <see cref="SettingException"/> naming the setting when a value is out of range; the front end words it
    /// as its flag.
    /// </summary>
    public void Validate()
    {
        static void Require(bool ok, string setting, object value, string what)
        {
            if (!ok) throw new SettingException(nameof(EmbeddingTuneOptions), $"{{{setting}}} {value}: {what}", setting);
        }
        Require(Epochs >= 1, nameof(Epochs), Epochs, "must be at least 1.");
        Require(LearningRate > 0 && float.IsFinite(LearningRate), nameof(LearningRate), LearningRate, "must be positive.");
        Require(BatchSize >= 2, nameof(BatchSize), BatchSize, "must be at least 2 (in-batch negatives need other queries).");
        Require(Temperature > 0 && float.IsFinite(Temperature), nameof(Temperature), Temperature, "must be positive.");
        Require(ValidationSplit > 0 && ValidationSplit < 1, nameof(ValidationSplit), ValidationSplit, "must be in (0, 1); validation Recall@k picks the best epoch.");
        Require(Patience >= 0, nameof(Patience), Patience, "must be 0 or more.");
        Require(HardNegatives >= 0, nameof(HardNegatives), HardNegatives, "must be 0 or more.");
        Require(RecallK >= 1, nameof(RecallK), RecallK, "must be at least 1.");
        Require(MaxTokens >= 3, nameof(MaxTokens), MaxTokens, "must leave room for [CLS], one token and [SEP].");
        Require(WeightDecay >= 0, nameof(WeightDecay), WeightDecay, "must be 0 or positive.");
        Require(WarmupFraction >= 0 && WarmupFraction < 1, nameof(WarmupFraction), WarmupFraction, "must be in [0, 1).");
        Require(MaxGradNorm > 0, nameof(MaxGradNorm), MaxGradNorm, "must be positive.");
        Require(Threads >= 0, nameof(Threads), Threads, "must be 0 (one per processor) or positive.");
        ArgumentNullException.ThrowIfNull(QueryPrefix);
        ArgumentNullException.ThrowIfNull(PassagePrefix);
    }
}
