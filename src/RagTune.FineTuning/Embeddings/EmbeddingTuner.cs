using System.Diagnostics;
using System.Globalization;
using System.Numerics.Tensors;
using System.Text.Json;
using RagTune.Engine.Encoders;
using RagTune.Engine.Tensors;
using RagTune.Engine.Training;
using RagTune.FineTuning.Training;
using RagTune.Models.Embeddings;
using RagTune.Tokenizers;

namespace RagTune.FineTuning.Embeddings;

/// <summary>Figures of one epoch: mean training loss and validation Recall@k after it.</summary>
public sealed record EmbeddingEpoch(int Epoch, double TrainLoss, double ValidationRecall, double Seconds);

/// <summary>What a tuning run did. Epoch 0 of the curve is the model before training.</summary>
public sealed record EmbeddingTuneResult(IReadOnlyList<EmbeddingEpoch> Curve, int BestEpoch, int TrainPairs, int ValidationQueries,
    int Passages, bool StoppedEarly)
{
    /// <summary>Validation Recall@k before training.</summary>
    public double StartRecall => Curve[0].ValidationRecall;

    /// <summary>The best validation Recall@k (that of the saved model).</summary>
    public double BestRecall => Curve.First(e => e.Epoch == BestEpoch).ValidationRecall;
}

/// <summary>
/// Contrastive fine-tuning of a sentence-transformers BERT encoder on (query, positive[, negatives]) pairs: InfoNCE
/// over in-batch negatives plus hard negatives (<see cref="InfoNceLoss"/>), AdamW on an F32 copy of every weight,
/// linear warmup and decay, validation Recall@k on held-out queries each epoch, early stopping, and the best model
/// written to the output folder in the Hugging Face layout it was read from.
/// </summary>
public sealed class EmbeddingTuner
{
    /// <summary>Name and version of the run log written beside the model (<c>tune_embeddings.json</c>).</summary>
    public const string LogFormat = "ragtune-tune-embeddings";
    /// <summary>The run log's format version.</summary>
    public const int LogVersion = 1;
    /// <summary>The run log's file name beside the tuned model.</summary>
    public const string LogFile = "tune_embeddings.json";

    private const int EvalBatch = 64;

    private readonly EmbeddingTuneOptions _o;
    private readonly Action<string> _log;
    private readonly TrainingRng _rng;
    private readonly List<string> _passages = [];
    private readonly Dictionary<string, int> _passageIds = new(StringComparer.Ordinal);
    private int[][] _passageTokens = [];

    private EmbeddingTuner(EmbeddingTuneOptions options, Action<string>? log)
    {
        _o = options;
        _log = log ?? (_ => { });
        _rng = new TrainingRng(options.Seed);
    }

    /// <summary>Tunes the model in <paramref name="modelFolder"/> on <paramref name="pairs"/> and writes the best one to <paramref name="outFolder"/>.</summary>
    /// <exception cref="ArgumentException">Too few distinct queries to hold some out, or <paramref name="outFolder"/> is the model folder.</exception>
    /// <exception cref="EmbeddingModelException">The model is not a Hugging Face folder, or its pooling is not supported.</exception>
    public static EmbeddingTuneResult Run(string modelFolder, IReadOnlyList<EmbeddingPair> pairs, string outFolder, EmbeddingTuneOptions options,
        Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelFolder);
        ArgumentException.ThrowIfNullOrEmpty(outFolder);
        ArgumentNullException.ThrowIfNull(pairs);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return new EmbeddingTuner(options, log).Train(Path.GetFullPath(modelFolder), pairs, Path.GetFullPath(outFolder), cancellationToken);
    }

    private EmbeddingTuneResult Train(string modelFolder, IReadOnlyList<EmbeddingPair> pairs, string outFolder, CancellationToken ct)
    {
        if (File.Exists(modelFolder))
            throw new EmbeddingModelException($"{modelFolder}: tune-embeddings needs a Hugging Face / sentence-transformers folder (config.json, model.safetensors, vocab.txt) so the tuned model can be saved in the same layout; GGUF files cannot be tuned.");
        if (string.Equals(modelFolder.TrimEnd(Path.DirectorySeparatorChar), outFolder.TrimEnd(Path.DirectorySeparatorChar), StringComparison.Ordinal))
            throw new ArgumentException($"The output folder '{outFolder}' is the model folder; write the tuned model to a new folder.", nameof(outFolder));
        var st = SentenceTransformersConfig.Read(modelFolder);
        bool cls = (st.Pooling ?? EmbeddingPooling.Mean) == EmbeddingPooling.Cls, normalize = st.Normalize ?? true;
        var tokenizer = WordPieceTokenizer.FromFolder(modelFolder);
        BertTrainableWeights weights;
        using (var encoder = BertEncoder.Load(modelFolder))
        {
            if (encoder.WeightType != GgmlType.F32)
                _log($"{modelFolder}: weights are {encoder.WeightType}; training an F32 copy, and the tuned model is saved as F32.");
            weights = BertTrainableWeights.FromEncoder(encoder);
        }
        int maxTokens = Math.Min(_o.MaxTokens, weights.Config.MaxPositions);

        // Split by distinct query so no validation query is trained on.
        var byQuery = pairs.GroupBy(p => p.Query, StringComparer.Ordinal).Select(g => g.ToList()).ToList();
        if (byQuery.Count < 3)
            throw new ArgumentException($"The pairs hold {byQuery.Count} distinct queries; at least 3 are needed (2 to train with in-batch negatives, 1 to validate).", nameof(pairs));
        Shuffle(byQuery);
        int nVal = Math.Clamp((int)Math.Round(byQuery.Count * _o.ValidationSplit), 1, byQuery.Count - 2);
        var val = byQuery[..nVal];
        var train = byQuery[nVal..].SelectMany(g => g).ToList();

        foreach (var p in pairs)
        {
            Intern(p.Positive);
            foreach (var n in p.Negatives) Intern(n);
        }
        _passageTokens = _passages.Select(t => tokenizer.EncodeForModel(_o.PassagePrefix + t, maxTokens).Ids).ToArray();
        var queryTokens = new Dictionary<string, int[]>(StringComparer.Ordinal);
        foreach (var g in byQuery) queryTokens[g[0].Query] = tokenizer.EncodeForModel(_o.QueryPrefix + g[0].Query, maxTokens).Ids;
        var positives = byQuery.ToDictionary(g => g[0].Query, g => g.Select(p => _passageIds[p.Positive]).ToHashSet(), StringComparer.Ordinal);
        var valSet = val.Select(g => (Tokens: queryTokens[g[0].Query], Relevant: positives[g[0].Query])).ToList();
        _log(string.Create(CultureInfo.InvariantCulture,
            $"{train.Count} training pairs, {val.Count} validation queries, {_passages.Count} passages; {weights.Count:N0} weights, {(cls ? "CLS" : "mean")} pooling, max {maxTokens} tokens"));

        using var session = new BertTrainingSession(weights, cls, normalize, _o.Threads);
        int h = weights.Config.Hidden;
        var curve = new List<EmbeddingEpoch>();
        var sw = Stopwatch.StartNew();
        double startRecall = Recall(session, h, valSet);
        curve.Add(new EmbeddingEpoch(0, double.NaN, startRecall, sw.Elapsed.TotalSeconds));
        _log(string.Create(CultureInfo.InvariantCulture, $"epoch 0: validation Recall@{_o.RecallK} {startRecall:F4}"));
        Save(weights, modelFolder, outFolder);
        int bestEpoch = 0, bad = 0;
        double best = startRecall;
        bool stoppedEarly = false;

        int stepsPerEpoch = (train.Count + _o.BatchSize - 1) / _o.BatchSize;
        int totalSteps = stepsPerEpoch * _o.Epochs;
        var schedule = new LearningRateSchedule(_o.LearningRate, totalSteps, (int)(totalSteps * _o.WarmupFraction), LearningRateDecay.Linear);
        var optimizer = new AdamW(weights.Parameters, weightDecay: _o.WeightDecay);
        int step = 0;
        for (int epoch = 1; epoch <= _o.Epochs; epoch++)
        {
            sw.Restart();
            Shuffle(train);
            double lossSum = 0;
            for (int start = 0; start < train.Count; start += _o.BatchSize)
            {
                ct.ThrowIfCancellationRequested();
                var batch = train.GetRange(start, Math.Min(_o.BatchSize, train.Count - start));
                if (batch.Count < 2) continue; // one query alone has no negatives
                lossSum += Step(session, weights, optimizer, schedule.At(step++), batch, queryTokens, positives, h) * batch.Count;
            }
            double recall = Recall(session, h, valSet);
            curve.Add(new EmbeddingEpoch(epoch, lossSum / train.Count, recall, sw.Elapsed.TotalSeconds));
            _log(string.Create(CultureInfo.InvariantCulture,
                $"epoch {epoch}: train loss {lossSum / train.Count:F4}, validation Recall@{_o.RecallK} {recall:F4} ({sw.Elapsed.TotalSeconds:F0} s)"));
            if (recall > best)
            {
                (best, bestEpoch, bad) = (recall, epoch, 0);
                Save(weights, modelFolder, outFolder);
            }
            else if (++bad >= _o.Patience && _o.Patience > 0)
            {
                stoppedEarly = epoch < _o.Epochs;
                _log($"no better Recall@{_o.RecallK} for {bad} epoch(s): stopping; the saved model is epoch {bestEpoch}'s");
                break;
            }
        }
        var result = new EmbeddingTuneResult(curve, bestEpoch, train.Count, val.Count, _passages.Count, stoppedEarly);
        WriteLog(Path.Combine(outFolder, LogFile), modelFolder, result);
        return result;
    }

    // One optimizer step on a batch: queries and passages (positives, then hard negatives) in one packed forward.
    private float Step(BertTrainingSession session, BertTrainableWeights weights, AdamW optimizer, float lr, List<EmbeddingPair> batch,
        Dictionary<string, int[]> queryTokens, Dictionary<string, HashSet<int>> positives, int h)
    {
        var passageIds = batch.Select(p => _passageIds[p.Positive]).ToList();
        foreach (var p in batch)
        {
            var own = positives[p.Query];
            var pool = p.Negatives.Select(n => _passageIds[n]).Where(id => !own.Contains(id)).Distinct().ToList();
            for (int k = 0; k < _o.HardNegatives && pool.Count > 0; k++)
            {
                int pick = _rng.NextInt(pool.Count);
                passageIds.Add(pool[pick]);
                pool.RemoveAt(pick);
            }
        }
        int q = batch.Count, p2 = passageIds.Count;
        var sequences = batch.Select(b => queryTokens[b.Query]).Concat(passageIds.Select(id => _passageTokens[id])).ToList();
        var ids = sequences.SelectMany(s => s).ToArray();
        var lengths = sequences.Select(s => s.Length).ToArray();
        var emb = new float[(q + p2) * h];
        session.Forward(emb, ids, [], lengths);

        var targets = Enumerable.Range(0, q).ToArray();
        var excluded = new bool[q * p2];
        for (int i = 0; i < q; i++)
        {
            var own = positives[batch[i].Query];
            for (int j = 0; j < p2; j++) excluded[i * p2 + j] = j != i && own.Contains(passageIds[j]);
        }
        var dEmb = new float[emb.Length];
        float loss = InfoNceLoss.Compute(dEmb.AsSpan(0, q * h), dEmb.AsSpan(q * h), emb.AsSpan(0, q * h), emb.AsSpan(q * h), targets, excluded, _o.Temperature);
        weights.ZeroGrad();
        session.Backward(dEmb);
        optimizer.ClipGradNorm(_o.MaxGradNorm);
        optimizer.Step(lr);
        return loss;
    }

    // Mean Recall@k of the validation queries over every passage of the pairs (cosine similarity, exact search).
    private double Recall(BertTrainingSession session, int h, List<(int[] Tokens, HashSet<int> Relevant)> val)
    {
        var passages = Embed(session, h, _passageTokens);
        var queries = Embed(session, h, val.Select(v => v.Tokens).ToArray());
        int k = Math.Min(_o.RecallK, _passages.Count);
        var scores = new float[_passages.Count];
        double sum = 0;
        for (int i = 0; i < val.Count; i++)
        {
            var qv = queries.AsSpan(i * h, h);
            for (int j = 0; j < scores.Length; j++) scores[j] = TensorPrimitives.Dot(qv, passages.AsSpan(j * h, h));
            var top = Enumerable.Range(0, scores.Length).OrderByDescending(j => scores[j]).ThenBy(j => j).Take(k);
            sum += (double)top.Count(val[i].Relevant.Contains) / val[i].Relevant.Count;
        }
        return sum / val.Count;
    }

    // Unit vectors of the sequences (normalised here even when the model does not normalise: cosine ranking).
    private static float[] Embed(BertTrainingSession session, int h, int[][] sequences)
    {
        var result = new float[sequences.Length * h];
        for (int start = 0; start < sequences.Length; start += EvalBatch)
        {
            var chunk = sequences.AsSpan(start, Math.Min(EvalBatch, sequences.Length - start)).ToArray();
            session.Forward(result.AsSpan(start * h, chunk.Length * h), chunk.SelectMany(s => s).ToArray(), [], chunk.Select(s => s.Length).ToArray());
        }
        for (int i = 0; i < sequences.Length; i++)
        {
            var v = result.AsSpan(i * h, h);
            TensorPrimitives.Multiply(v, 1f / MathF.Max(TensorPrimitives.Norm<float>(v), 1e-12f), v);
        }
        return result;
    }

    private int Intern(string passage)
    {
        if (_passageIds.TryGetValue(passage, out int id)) return id;
        _passageIds[passage] = id = _passages.Count;
        _passages.Add(passage);
        return id;
    }

    private void Shuffle<T>(List<T> list)
    {
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = _rng.NextInt(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
    }

    private static void Save(BertTrainableWeights weights, string modelFolder, string outFolder)
    {
        HuggingFaceFolder.CopyNonWeightFiles(modelFolder, outFolder);
        weights.Save(Path.Combine(outFolder, "model.safetensors"));
    }

    private void WriteLog(string path, string modelFolder, EmbeddingTuneResult result)
    {
        var doc = new Dictionary<string, object?>
        {
            ["format"] = LogFormat,
            ["version"] = LogVersion,
            ["base_model"] = modelFolder,
            ["options"] = new Dictionary<string, object>
            {
                ["epochs"] = _o.Epochs, ["lr"] = _o.LearningRate, ["batch"] = _o.BatchSize, ["temperature"] = _o.Temperature,
                ["val_split"] = _o.ValidationSplit, ["patience"] = _o.Patience, ["hard_negatives"] = _o.HardNegatives,
                ["recall_k"] = _o.RecallK, ["max_tokens"] = _o.MaxTokens, ["seed"] = _o.Seed,
            },
            ["train_pairs"] = result.TrainPairs,
            ["validation_queries"] = result.ValidationQueries,
            ["passages"] = result.Passages,
            ["best_epoch"] = result.BestEpoch,
            ["stopped_early"] = result.StoppedEarly,
            ["curve"] = result.Curve.Select(e => new Dictionary<string, object?>
            {
                ["epoch"] = e.Epoch,
                ["train_loss"] = double.IsNaN(e.TrainLoss) ? null : Math.Round(e.TrainLoss, 5),
                ["recall"] = Math.Round(e.ValidationRecall, 5),
                ["seconds"] = Math.Round(e.Seconds, 1),
            }).ToList(),
        };
        File.WriteAllText(path, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
    }
}
