using System.Diagnostics;
using Microsoft.Extensions.AI;
using RagTune.FineTuning.Raft;
using RagTune.FineTuning.Training;
using RagTune.Rag.Chunking;
using RagTune.Rag.Ingestion;
using RagTune.Rag.Retrieval;
using RagTune.Rag.Store;

namespace RagTune.Evaluation.Experiments;

/// <summary>The embedding models of the RAG arms: one for documents, one for queries (some families prefix queries); both null for BM25 only.</summary>
public sealed record ExperimentEmbedders(IEmbeddingGenerator<string, Embedding<float>>? Documents, IEmbeddingGenerator<string, Embedding<float>>? Queries)
{
    /// <summary>No embedding models: the RAG arms search by BM25 only.</summary>
    public static ExperimentEmbedders None { get; } = new(null, null);
}

/// <summary>
/// Runs a comparison: ingest the documents into a work collection, read (or generate) the questions, split them by
/// fact, find each question's gold passage, then let every arm answer the same test questions with the same base
/// model; then the experiments the spec asks for (forgetting, data efficiency, freshness). An arm that fails gets a
/// row with its error and the others go on. The result is the raw <see cref="ExperimentRun"/>; scoring is elsewhere.
/// </summary>
public sealed class ExperimentRunner(ExperimentSpec spec, IArmModels models, IExperimentStores stores, ExperimentEmbedders embedders, string workDir)
{
    private readonly Dictionary<string, TrainingRun> _adapters = new(StringComparer.Ordinal);
    private IChunkStore _store = null!;
    private Retriever _retriever = null!;
    private List<string> _ingestRoots = [];
    private ArmAnswerer _answerer = null!;

    private SearchMode Mode => spec.Retrieval.Mode switch { "bm25" => SearchMode.Bm25, "dense" => SearchMode.Dense, _ => SearchMode.Hybrid };

    private IngestOptions IngestOptions => new()
    {
        Chunking = new ChunkerOptions { ChunkTokens = spec.Retrieval.ChunkTokens, OverlapTokens = spec.Retrieval.Overlap },
    };

    /// <summary>Runs the comparison the spec describes, reporting each stage to <paramref name="progress"/>; returns the raw run.</summary>
    public async Task<ExperimentRun> RunAsync(IProgress<ExperimentProgress>? progress, CancellationToken ct)
    {
        var started = DateTimeOffset.UtcNow;
        Directory.CreateDirectory(workDir);
        using var store = await OpenDocumentsAsync(progress, ct);
        _store = store;
        _retriever = new Retriever(store, embedders.Queries, new RetrieverOptions { DenseAgreementDepth = spec.Retrieval.DenseAgreement });
        _answerer = new ArmAnswerer(store, _retriever, Mode, spec.Retrieval.TopK, spec.Model.MaxTokens, spec.Retrieval.SystemMessage);
        var chunks = await store.GetAllChunksAsync(ct);
        if (chunks.Count == 0) throw new InvalidOperationException($"The documents gave no chunks: check documents.paths in {spec.SpecPath}.");

        var questions = await LoadQuestionsAsync(chunks, progress, ct);
        questions = await FindGoldAsync(questions, chunks, progress, ct);
        var (train, test) = FactSplit.Split(questions, spec.Questions.TestShare, spec.Seed);

        var arms = new List<ArmRun>();
        foreach (var arm in ArmNames.All.Where(spec.Arms.Contains))
            arms.Add(await RunArmAsync(arm, train, test, chunks, progress, ct));

        var forgetting = new List<ForgettingRun>();
        if (spec.Experiments.Forgetting is { } fs)
            forgetting = Forgetting(fs.Text, progress);

        DataEfficiencyRun? efficiency = null;
        if (spec.Experiments.DataEfficiency is { } de && models.CannotTrainReason == null)
            efficiency = await DataEfficiencyAsync(de, train, test, chunks, progress, ct);

        FreshnessRun? freshness = null;
        if (spec.Experiments.Freshness is { } fr)
            freshness = await new FreshnessExperiment(this, fr, spec.Seed).RunAsync(test, arms, questions, progress, ct);

        return new ExperimentRun(spec.Name, models.Description, started, spec.Constraints, train, test, arms, freshness, efficiency, forgetting, spec.Retrieval.TopK)
        {
            Notes = spec.Notes,
        };
    }

    // ── documents and questions ───────────────────────────────────────────────────────────────────────────────────

    private async Task<IChunkStore> OpenDocumentsAsync(IProgress<ExperimentProgress>? progress, CancellationToken ct)
    {
        if (spec.Documents.Paths.Count == 0)
            return stores.OpenExisting(spec.Documents.Collection!);
        // The documents are copied so the freshness experiment can edit them without touching the user's files.
        var docs = Path.Combine(workDir, "docs");
        if (Directory.Exists(docs)) Directory.Delete(docs, recursive: true);
        Directory.CreateDirectory(docs);
        foreach (var p in spec.Documents.Paths)
        {
            var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(p));
            var target = Path.Combine(docs, name);
            // Two sources with one name (a/docs, b/docs) get their own folders, so neither overwrites the other.
            for (int i = 2; File.Exists(target) || Directory.Exists(target); i++) target = Path.Combine(docs, $"{i}-{name}");
            if (Directory.Exists(p)) CopyFolder(p, target);
            else File.Copy(p, target, overwrite: true);
            _ingestRoots.Add(target);
        }
        var store = stores.CreateFresh(WorkCollectionName);
        try
        {
            progress?.Report(new ExperimentProgress("ingest", 0, 1));
            var summary = await new IngestPipeline(store, embedders.Documents, IngestOptions).RunAsync(_ingestRoots, null, ct);
            if (summary.Failed.Count > 0 && summary.Added == 0)
                throw new IOException($"No document could be ingested: {summary.Failed[0].Source}: {summary.Failed[0].Reason}");
            progress?.Report(new ExperimentProgress("ingest", 1, 1, $"{summary.Added} documents, {summary.ChunksWritten} chunks"));
            return store;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    private string WorkCollectionName => "compare-" + new string(spec.Name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '-').Take(60).ToArray());

    private static void CopyFolder(string from, string to)
    {
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)), overwrite: true);
    }

    private async Task<List<ExperimentQuestion>> LoadQuestionsAsync(IReadOnlyList<StoredChunk> chunks, IProgress<ExperimentProgress>? progress, CancellationToken ct)
    {
        List<ExperimentQuestion> questions;
        if (spec.Questions.File is { } file)
        {
            questions = QuestionFile.Read(file);
        }
        else
        {
            var generated = await new QaGenerator(models.Base, new QaGeneratorOptions { Paraphrases = spec.Questions.Paraphrases })
                .GenerateAsync(chunks, progress, ct);
            QaGenerator.Write(Path.Combine(workDir, "generated-questions.jsonl"), generated.Pairs);
            questions = QaGenerator.ToQuestions(generated.Pairs);
            if (questions.Select(q => q.FactId).Distinct().Count() < 2)
                throw new InvalidOperationException(
                    $"Question generation kept {questions.Count} question(s) from {generated.ChunksSeen} chunks (dropped: {string.Join(", ", generated.Dropped.Select(d => $"{d.Value} {d.Key}"))}); " +
                    "the model cannot write usable questions. Use a stronger model for 'questions.generate' or give 'questions.file'.");
        }
        if (spec.Questions.Limit is { } limit)
        {
            // The limit counts facts, so no fact loses some of its wordings.
            var keep = questions.Select(q => q.FactId).Distinct(StringComparer.Ordinal).Take(limit).ToHashSet(StringComparer.Ordinal);
            questions = questions.Where(q => keep.Contains(q.FactId)).ToList();
        }
        return questions;
    }

    /// <summary>
    /// The gold passage of each answerable question: the best-ranked retrieved chunk that contains a reference answer
    /// (in the question's <c>doc</c> when given), else the first such chunk in the collection. Sets the gold document.
    /// </summary>
    private async Task<List<ExperimentQuestion>> FindGoldAsync(List<ExperimentQuestion> questions, IReadOnlyList<StoredChunk> chunks, IProgress<ExperimentProgress>? progress, CancellationToken ct)
    {
        var result = new List<ExperimentQuestion>(questions.Count);
        for (int i = 0; i < questions.Count; i++)
        {
            var q = questions[i];
            progress?.Report(new ExperimentProgress("find gold passages", i, questions.Count));
            if (!q.Answerable) { result.Add(q); continue; }
            bool Fits(StoredChunk c) => RaftSetBuilder.ContainsAnswer(c.Chunk.Text, q.Answers) && (q.GoldDocumentId == null || c.DocumentId == q.GoldDocumentId);
            var hits = await _retriever.SearchAsync(q.Text, Mode, Math.Max(20, spec.Retrieval.TopK), SearchFilter.None, ct);
            var gold = hits.Select(h => h.Chunk).FirstOrDefault(Fits) ?? chunks.FirstOrDefault(Fits);
            result.Add(gold == null ? q : q with { GoldDocumentId = gold.DocumentId, GoldPassage = gold.Chunk.Text });
        }
        progress?.Report(new ExperimentProgress("find gold passages", questions.Count, questions.Count));
        return result;
    }

    // ── arms ──────────────────────────────────────────────────────────────────────────────────────────────────────

    private async Task<ArmRun> RunArmAsync(string arm, List<ExperimentQuestion> train, List<ExperimentQuestion> test, IReadOnlyList<StoredChunk> chunks,
        IProgress<ExperimentProgress>? progress, CancellationToken ct)
    {
        TrainingRun? training = null;
        try
        {
            if (ArmNames.IsTrained(arm))
            {
                if (models.CannotTrainReason is { } why) return new ArmRun(arm, [], null, why);
                training = arm == ArmNames.RaftRag
                    ? await TrainRaftAsync(train, chunks, progress, ct)
                    : TrainFineTuned(ArmNames.FineTuned, train, chunks, spec.FineTuning.Paraphrases, progress, ct);
            }
            var answers = await AnswerAsync(arm, test, progress, "answer " + arm, ct);
            return new ArmRun(arm, answers, training);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new ArmRun(arm, [], training, $"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Answers <paramref name="questions"/> with <paramref name="arm"/>'s model (the base, or the base with the arm's adapter).</summary>
    internal async Task<List<RawAnswer>> AnswerAsync(string arm, IReadOnlyList<ExperimentQuestion> questions, IProgress<ExperimentProgress>? progress, string stage, CancellationToken ct)
    {
        if (!ArmNames.IsTrained(arm)) return await _answerer.AnswerAsync(arm, models.Base, questions, progress, stage, ct);
        var adapter = _adapters[arm == ArmNames.RaftRag ? ArmNames.RaftRag : ArmNames.FineTuned].AdapterDir;
        using var chat = models.WithAdapter(adapter);
        return await _answerer.AnswerAsync(arm, chat, questions, progress, stage, ct);
    }

    /// <summary>The ft adapter (shared by ft and ft+rag), trained once.</summary>
    private TrainingRun TrainFineTuned(string name, List<ExperimentQuestion> train, IReadOnlyList<StoredChunk> chunks, bool withParaphrases,
        IProgress<ExperimentProgress>? progress, CancellationToken ct)
    {
        if (_adapters.TryGetValue(name, out var done)) return done;
        var run = TrainQa(name, train, chunks, withParaphrases, progress, ct);
        _adapters[name] = run;
        return run;
    }

    private TrainingRun TrainQa(string name, IEnumerable<ExperimentQuestion> train, IReadOnlyList<StoredChunk> chunks, bool withParaphrases,
        IProgress<ExperimentProgress>? progress, CancellationToken ct)
    {
        var dir = Path.Combine(workDir, "train", Safe(name));
        var data = Path.Combine(dir, "train.jsonl");
        var used = train.Where(q => withParaphrases || !q.IsParaphrase).ToList();
        int examples = TrainingSets.WriteFineTuning(data, used, spec.FineTuning.DocumentsAsText ? chunks : null);
        return Train(new ArmTraining(name, data, Path.Combine(dir, "out"), spec.FineTuning, spec.Seed, examples, withParaphrases && used.Any(q => q.IsParaphrase)), progress, ct);
    }

    private async Task<TrainingRun> TrainRaftAsync(List<ExperimentQuestion> train, IReadOnlyList<StoredChunk> chunks, IProgress<ExperimentProgress>? progress, CancellationToken ct)
    {
        var byId = chunks.ToDictionary(c => c.ChunkId.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparer.Ordinal);
        var used = train.Where(q => spec.FineTuning.Paraphrases || !q.IsParaphrase).ToList();
        var raftQuestions = new List<RaftQuestion>();
        var unanswerable = new List<RaftExample>();
        int k = spec.Raft.Distractors + 1;
        foreach (var q in used)
        {
            // Distractors are what our retriever ranks high for the question: the confusions the served arm will meet.
            var hits = await _retriever.SearchAsync(q.Text, Mode, Math.Max(10, k * 3), SearchFilter.None, ct);
            var candidates = hits.Select(h => new RaftPassage(Key(h.Chunk), h.Chunk.Chunk.Text)).ToList();
            if (!q.Answerable)
            {
                unanswerable.Add(new RaftExample(q.Text, candidates.Take(k).ToList(), null, RagTune.Rag.Answering.GroundedPrompt.NoAnswer));
                continue;
            }
            var gold = hits.Select(h => h.Chunk).FirstOrDefault(c => c.Chunk.Text == q.GoldPassage) ?? chunks.FirstOrDefault(c => c.Chunk.Text == q.GoldPassage);
            if (gold == null) continue;
            raftQuestions.Add(new RaftQuestion(q.Text, q.Answers, new RaftPassage(Key(gold), gold.Chunk.Text), candidates));
        }
        if (raftQuestions.Count == 0)
            throw new InvalidOperationException("No training question has a gold passage in the documents (its answer appears in no chunk), so no RAFT set can be built.");
        var examples = RaftSetBuilder.Build(raftQuestions, new RaftOptions { GoldShare = spec.Raft.GoldShare, Distractors = spec.Raft.Distractors, ShortAnswers = spec.Raft.ShortAnswers, Seed = spec.Seed });
        examples.AddRange(unanswerable);
        var dir = Path.Combine(workDir, "train", "raft");
        var data = Path.Combine(dir, "train.jsonl");
        TrainingSets.WriteRaft(data, examples, byId, ArmAnswerer.MaxSourceChars, spec.Retrieval.SystemMessage);
        var run = Train(new ArmTraining(ArmNames.RaftRag, data, Path.Combine(dir, "out"), spec.FineTuning, spec.Seed, examples.Count, used.Any(q => q.IsParaphrase)), progress, ct);
        _adapters[ArmNames.RaftRag] = run;
        return run;
    }

    private static string Key(StoredChunk c) => c.ChunkId.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private TrainingRun Train(ArmTraining request, IProgress<ExperimentProgress>? progress, CancellationToken ct)
    {
        var stage = "train " + request.Name;
        progress?.Report(new ExperimentProgress(stage, 0, 1));
        var trainingProgress = progress == null ? null : new ForwardingProgress(p =>
            progress.Report(new ExperimentProgress(stage, p.Step, p.TotalSteps, $"loss {p.TrainLoss:F3}", p.TrainLoss, p.ValLoss)));
        var run = models.Train(request, trainingProgress, ct);
        progress?.Report(new ExperimentProgress(stage, 1, 1, $"{run.Steps} steps, {run.WallSeconds:F1} s"));
        return run;
    }

    private static string Safe(string name) => new(name.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray());

    /// <summary>Synchronous progress (System.Progress would post to the thread pool and reorder reports).</summary>
    private sealed class ForwardingProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }

    // ── experiments ───────────────────────────────────────────────────────────────────────────────────────────────

    private List<ForgettingRun> Forgetting(string text, IProgress<ExperimentProgress>? progress)
    {
        var result = new List<ForgettingRun>();
        if (_adapters.Count == 0) return result;
        progress?.Report(new ExperimentProgress("forgetting", 0, _adapters.Count));
        if (models.Perplexity(null, text) is not { } before) return result;
        foreach (var (arm, training) in _adapters.OrderBy(a => a.Key, StringComparer.Ordinal))
        {
            if (models.Perplexity(training.AdapterDir, text) is { } after) result.Add(new ForgettingRun(arm, before, after));
            progress?.Report(new ExperimentProgress("forgetting", result.Count, _adapters.Count));
        }
        return result;
    }

    private async Task<DataEfficiencyRun> DataEfficiencyAsync(DataEfficiencySpec de, List<ExperimentQuestion> train, List<ExperimentQuestion> test,
        IReadOnlyList<StoredChunk> chunks, IProgress<ExperimentProgress>? progress, CancellationToken ct)
    {
        var points = new List<LearningCurveRun>();
        var facts = train.Select(q => q.FactId).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        new Random(unchecked((int)spec.Seed) ^ 0x5EED).Shuffle(facts);
        var modes = new List<bool>();
        if (de.WithParaphrases) modes.Add(true);
        if (de.WithoutParaphrases) modes.Add(false);
        foreach (var fraction in de.Fractions.Order())
        {
            // Nested subsets: a larger fraction holds every fact of a smaller one, so the curve measures more data, not other data.
            var keep = facts.Take(Math.Max(1, (int)Math.Ceiling(fraction * facts.Length))).ToHashSet(StringComparer.Ordinal);
            var subset = train.Where(q => keep.Contains(q.FactId)).ToList();
            foreach (var withParaphrases in modes)
            {
                ct.ThrowIfCancellationRequested();
                var name = $"ft-{fraction.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)}{(withParaphrases ? "" : "-noparaphrase")}";
                TrainingRun training;
                if (fraction >= 1 && withParaphrases == spec.FineTuning.Paraphrases && _adapters.TryGetValue(ArmNames.FineTuned, out var full))
                    training = full; // the ft arm is this very point: same examples, same settings, same seed
                else
                    training = TrainQa(name, subset, chunks, withParaphrases, progress, ct);
                using var chat = models.WithAdapter(training.AdapterDir);
                var answers = await _answerer.AnswerAsync(ArmNames.FineTuned, chat, test, progress, "answer " + name, ct);
                points.Add(new LearningCurveRun(fraction, withParaphrases, training, answers));
            }
        }
        return new DataEfficiencyRun(points);
    }

    // ── what the freshness experiment needs from the run ─────────────────────────────────────────────────────────

    internal IChunkStore Store => _store;

    internal IReadOnlyList<string> IngestRoots => _ingestRoots;

    internal IReadOnlyDictionary<string, TrainingRun> Adapters => _adapters;

    /// <summary>Re-ingests the (edited) work documents; only changed documents are processed.</summary>
    internal async Task<double> ReingestAsync(CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        await new IngestPipeline(_store, embedders.Documents, IngestOptions).RunAsync(_ingestRoots, null, ct);
        return sw.Elapsed.TotalSeconds;
    }
}
