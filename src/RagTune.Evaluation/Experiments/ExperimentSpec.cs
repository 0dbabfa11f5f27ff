namespace RagTune.Evaluation.Experiments;

// What `ragtune compare --spec experiment.yaml` asks for, after parsing (ExperimentSpecReader) and before running.
// Paths are absolute (resolved against the spec's folder). docs/compare.md documents every field with its default.

/// <summary>
/// The documents: files or folders to ingest into a fresh work collection (<see cref="Paths"/>), or an existing
/// collection (<see cref="Collection"/>; the freshness experiment needs <see cref="Paths"/> to edit a copy).
/// </summary>
public sealed record DocumentsSpec(IReadOnlyList<string> Paths, string? Collection);

/// <summary>
/// The questions: a JSONL file with reference answers, or generated from the documents (<see cref="Generate"/>),
/// with <see cref="Paraphrases"/> rewordings per generated question. <see cref="TestShare"/> of the facts go to the test set.
/// </summary>
public sealed record QuestionsSpec(string? File, bool Generate, int Paraphrases, double TestShare, int? Limit);

/// <summary>The base model: a local file or catalog name (<see cref="Path"/>), or an OpenAI-compatible endpoint (<see cref="Remote"/>).</summary>
public sealed record ModelSpec(string? Path, string? Remote, string RemoteModel, int Threads, int MaxTokens);

/// <summary>LoRA settings for every trained arm (ft, ft+rag, raft+rag, and the data-efficiency points).</summary>
public sealed record FineTuningSpec(
    int Rank = 8,
    float Alpha = 16,
    int? Steps = null,
    int? Epochs = null,
    float LearningRate = 1e-3f,
    int SeqLen = 256,
    int Batch = 4,
    int GradAccum = 1,
    bool DocumentsAsText = true,
    bool Paraphrases = true,
    double ValidationSplit = 0.1);

/// <summary>RAFT set settings: the share of examples whose passages include the gold one, and distractors per example.</summary>
public sealed record RaftSpec(double GoldShare = 0.8, int Distractors = 2, bool ShortAnswers = false);

/// <summary>
/// Retrieval settings for the RAG arms and the RAFT distractor mining. <see cref="Prompt"/> is "standard" (the full
/// grounded-answer rules) or "compact" (a short system message for small-context models). <see cref="DenseAgreement"/>
/// is hybrid search's agreement gate depth (0 = no gate).
/// </summary>
public sealed record RetrievalSpec(int TopK = 3, string Mode = "hybrid", string? EmbedModel = null, int ChunkTokens = 128, int Overlap = 16, string Prompt = "standard",
    int DenseAgreement = 10)
{
    /// <summary>The grounded-answer system message <see cref="Prompt"/> names: the compact one for "compact", else the full rules.</summary>
    public string SystemMessage => Prompt == "compact" ? RagTune.Rag.Answering.GroundedPrompt.CompactSystemMessage : RagTune.Rag.Answering.GroundedPrompt.SystemMessage;
}

/// <summary>Freshness: the share of the test facts whose answers are changed in a copy of the documents.</summary>
public sealed record FreshnessSpec(double Share = 0.3);

/// <summary>Data efficiency: the training fractions, each with and/or without paraphrases.</summary>
public sealed record DataEfficiencySpec(IReadOnlyList<double> Fractions, bool WithParaphrases = true, bool WithoutParaphrases = true);

/// <summary>Forgetting: held-out general text whose perplexity is measured before and after fine-tuning.</summary>
public sealed record ForgettingSpec(string Text);

/// <summary>The experiments to run besides the arm comparison; null ones are skipped.</summary>
public sealed record ExperimentsSpec(FreshnessSpec? Freshness, DataEfficiencySpec? DataEfficiency, ForgettingSpec? Forgetting);

/// <summary>A parsed, validated experiment spec.</summary>
public sealed record ExperimentSpec(
    string Name,
    string SpecPath,
    DocumentsSpec Documents,
    QuestionsSpec Questions,
    ModelSpec Model,
    IReadOnlyList<string> Arms,
    FineTuningSpec FineTuning,
    RaftSpec Raft,
    RetrievalSpec Retrieval,
    ExperimentConstraints Constraints,
    ExperimentsSpec Experiments,
    ulong Seed)
{
    /// <summary>Lines the report prints under "Notes" (<c>notes:</c> in the spec): context a reader of the report needs, such as published results to compare with.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>
    /// A few sentences of plain general English for the forgetting measure when the spec gives none: written for this
    /// project, about nothing in any user's documents, so a rise in its perplexity is forgetting, not new knowledge.
    /// </summary>
    public const string DefaultForgettingText =
        "Once upon a time, there was a little girl who liked to play in the park. Every morning she walked with her mother " +
        "to see the ducks on the pond. One day she found a small red ball under a tree. She gave it to a boy who was sad, " +
        "and he smiled. They played together until the sun went down, and then they went home for dinner.";
}
