using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json;
using RagTune.Engine;
using RagTune.Engine.Models;
using RagTune.Engine.Training;
using RagTune.FineTuning.Adapters;
using RagTune.FineTuning.Datasets;
using RagTune.Models.Local;

namespace RagTune.FineTuning.Training;

/// <summary>A progress report after each optimizer step.</summary>
/// <param name="Step">Optimizer steps done (1-based).</param>
/// <param name="TotalSteps">Optimizer steps the run will take.</param>
/// <param name="Epoch">The epoch the step belongs to (1-based).</param>
/// <param name="TrainLoss">Mean training loss of the step.</param>
/// <param name="ValLoss">Validation loss when it was measured at this step; else null.</param>
/// <param name="LearningRate">The learning rate the step used.</param>
/// <param name="TokensPerSecond">Training throughput so far, in tokens per second.</param>
/// <param name="Eta">Estimated time left.</param>
public sealed record TrainingProgress(int Step, int TotalSteps, int Epoch, float TrainLoss, float? ValLoss, float LearningRate, double TokensPerSecond, TimeSpan Eta);

/// <summary>What the run will cost, from a measured warm-up micro-batch and the engine's memory formula.</summary>
public sealed record TrainingEstimate(long TrainableParameters, int TotalSteps, int StepsPerEpoch, int SeqLen, TimeSpan PerStep, TimeSpan Total, long MemoryBytes, long AvailableBytes)
{
    /// <summary>One line for the console: parameters, steps, time per step and in all, memory needed and available.</summary>
    public override string ToString() =>
        $"{TrainableParameters:N0} trainable parameters; {TotalSteps} steps ({StepsPerEpoch} per epoch) at seq-len {SeqLen}; ~{PerStep.TotalSeconds:F2} s/step, ~{Total:hh\\:mm\\:ss} in all; memory ~{MemoryBytes / (1024.0 * 1024):F1} MiB of {AvailableBytes / (1024.0 * 1024 * 1024):F1} GiB available";
}

/// <summary>The outcome: where the adapter (or, with --method full, the model folder) is and which step it comes from.</summary>
public sealed record TrainingResult(int Steps, int? BestStep, float? BestValLoss, float FinalTrainLoss, bool StoppedEarly, bool Overfitting, string AdapterDir, IReadOnlyList<string> Files);

/// <summary>
/// LoRA (or, with --method full, full) fine-tuning on the engine's <see cref="TrainingSession"/>. Batching: each micro-batch is B examples padded on
/// the right to T = min(--seq-len, longest example) with masked targets; no packing, because the engine's causal
/// attention has no per-document mask and packed examples would see each other. Gradients of --grad-accum
/// micro-batches (each a mean over its unmasked targets, scaled 1/k) make one AdamW step with clipping, warmup and a
/// cosine/linear/constant schedule. Data order: examples are shuffled per epoch from (seed, epoch), so a checkpoint
/// needs only (epoch, cursor) to continue the same order.
/// </summary>
public sealed class Trainer(TuneOptions options) : IDisposable
{
    /// <summary>The model file a full fine-tune (<see cref="TuneOptions.Method"/> <c>full</c>) writes in <see cref="TrainingResult.AdapterDir"/>.</summary>
    public const string FullModelFileName = TrainedModel.ModelFileName;

    /// <summary>The format name a training checkpoint carries (checked on resume).</summary>
    public const string CheckpointFormat = "ragtune-checkpoint";

    /// <summary>The checkpoint format version; a newer one is refused on resume.</summary>
    public const int CheckpointVersion = 1;

    /// <summary>Set after <see cref="Prepare"/>: the dataset reports (training, validation).</summary>
    public DatasetReport? TrainReport { get; private set; }

    /// <summary>Set after <see cref="Prepare"/>: the validation set's report; null when there is no validation set.</summary>
    public DatasetReport? ValidationReport { get; private set; }

    /// <summary>Set after <see cref="Prepare"/>: what the run will cost (steps, time, memory).</summary>
    public TrainingEstimate? Estimate { get; private set; }

    /// <summary>Set after <see cref="Prepare"/>: how conversations are rendered (the model's chat template or the plain format).</summary>
    public string? PromptFormat { get; private set; }

    private LocalModel? _model;
    private FullModelParameters? _full; // --method full: the trainable copy of every weight
    private List<TokenizedExample> _train = [];
    private List<TokenizedExample> _val = [];
    private int _seqLen;
    private int _totalSteps;
    private int _stepsPerEpoch;

    // The session's micro-batch counter keys the dropout masks; restoring it makes a resumed run draw the same masks.
    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_step")]
    private static extern ref long DropoutStep(TrainingSession session);

    /// <summary>
    /// Everything that can fail before training: options, model, datasets, targets, memory. Returns the trainer ready
    /// for <see cref="Run"/>; throws with a clear message otherwise.
    /// </summary>
    public void Prepare()
    {
        options.Validate();
        var lora = options.LoraConfig;
        _model = LocalModel.Load(options.ModelPath, options.TokenizerPath);
        var config = _model.Engine.Config;
        long available = options.MemoryLimitBytes ?? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (options.Method == "full")
        {
            // Full fine-tuning: F32 weights + gradients + two AdamW moments = 16 bytes per parameter, before activations.
            long need = 16 * config.ParameterCount(_model.Engine.Weights.TiedOutput);
            if (need > available)
                throw new SettingException(nameof(TuneOptions), $"A full fine-tune of {Path.GetFileName(options.ModelPath)} needs at least {need / (1024.0 * 1024 * 1024):F2} GiB (weights, gradients and AdamW state at 16 bytes per parameter) but {available / (1024.0 * 1024 * 1024):F2} GiB is available. Set {{Method}} to lora.", nameof(TuneOptions.Method));
            if (_model.Engine.Gguf is null)
                throw new NotSupportedException($"{options.ModelPath}: full fine-tuning writes a GGUF model with the base's metadata, so the base must be a GGUF file. Convert it first: ragtune model convert {options.ModelPath} --type f32 --out base-f32.gguf.");
            _full = new FullModelParameters(_model.Engine); // throws NotSupportedException naming a non-F32 tensor
        }

        var dataset = DatasetReader.Read(options.DataPath, options.Format);
        int maxSeq = Math.Min(options.SeqLen, config.ContextLength);
        var template = TokenizerLoader.ResolveChatTemplate(_model.Engine, _model.Tokenizer, options.TokenizerPath).Template;
        var tokenizer = new DatasetTokenizer(_model.Tokenizer, maxSeq, options.Overlong, TrainingPromptFormats.For(template, _model.Tokenizer));
        PromptFormat = tokenizer.Format is ChatTemplatePromptFormat ? $"chat template ({template.Source}); loss on assistant turns only" : "plain (the model has no chat template); loss on answers only";
        var (examples, report) = tokenizer.Tokenize(dataset);
        if (options.ValidationPath != null)
        {
            var (val, valReport) = tokenizer.Tokenize(DatasetReader.Read(options.ValidationPath, options.Format));
            (_train, _val, ValidationReport) = (examples, val, valReport);
        }
        else
        {
            (_train, _val) = DatasetSplit.Split(examples, options.EffectiveValidationSplit, options.Seed);
        }
        TrainReport = report;
        if (_train.Count == 0)
            throw new DatasetFormatException(options.DataPath, [new DatasetIssue(0, $"no training examples are left (after {report.Dropped} dropped and the validation split); add examples or raise --seq-len")]);
        _seqLen = Math.Max(2, _train.Concat(_val).Max(e => e.Length));

        int microPerEpoch = (_train.Count + options.BatchSize - 1) / options.BatchSize;
        _stepsPerEpoch = Math.Max(1, microPerEpoch / options.GradAccum);
        _totalSteps = options.Steps ?? _stepsPerEpoch * (options.Epochs ?? TuneOptions.DefaultEpochs);

        var training = new TrainingOptions(options.BatchSize, _seqLen, options.Threads, options.Recompute, options.Seed);
        long trainable = _full?.ParameterCount ?? new LoraAdapter(config, lora).ParameterCount;
        long memory = TrainingSession.EstimateBytes(config, _full is null ? lora.Rank : 0, training) + trainable * 16 // values, gradients, two moments
            + _model.Engine.Weights.ByteLength;
        if (memory > available)
            throw new SettingException(nameof(TuneOptions), $"Training needs about {memory / (1024.0 * 1024 * 1024):F2} GiB but {available / (1024.0 * 1024 * 1024):F2} GiB is available. Lower {{BatchSize}} (raise {{GradAccum}} to keep the effective batch), {{SeqLen}}, or turn on {{Recompute}}.",
                nameof(TuneOptions.BatchSize), nameof(TuneOptions.GradAccum), nameof(TuneOptions.SeqLen), nameof(TuneOptions.Recompute));
        Estimate = new TrainingEstimate(trainable, _totalSteps, _stepsPerEpoch, _seqLen, TimeSpan.Zero, TimeSpan.Zero, memory, available);
    }

    /// <summary>Trains, evaluates, checkpoints and writes the artefacts. Call <see cref="Prepare"/> first.</summary>
    public TrainingResult Run(IProgress<TrainingProgress>? progress = null, Action<TrainingEstimate>? estimated = null, CancellationToken ct = default)
    {
        var model = _model ?? throw new InvalidOperationException("Call Prepare() first.");
        var config = model.Engine.Config;
        var lora = options.LoraConfig;
        Directory.CreateDirectory(options.OutputDir);
        var checkpointDir = Path.Combine(options.OutputDir, "checkpoint");
        TrainedWeights trained = _full is { } full ? new TrainedModel(full) : new TrainedAdapter(model.Engine, new LoraAdapter(config, lora, options.Seed));
        using var session = trained.CreateSession(new TrainingOptions(options.BatchSize, _seqLen, options.Threads, options.Recompute, options.Seed));
        var optimizer = new AdamW(trained.Parameters);
        var exportDir = Path.Combine(options.OutputDir, trained.ExportName);
        var schedule = new LearningRateSchedule(options.LearningRate, _totalSteps, (int)Math.Round(options.Warmup * _totalSteps), options.Schedule);
        var history = new LossHistory();
        var state = new LoopState();

        var inputs = new int[options.BatchSize * _seqLen];
        var targets = new int[options.BatchSize * _seqLen];

        // Warm-up: one measured micro-batch gives the time estimate; its gradients and dropout step are discarded.
        // Two calls: the first pays for JIT compilation, the second is timed.
        int warm = Fill(_train, 0, Math.Min(options.BatchSize, _train.Count), inputs, targets);
        session.ForwardBackward(inputs.AsSpan(0, warm * _seqLen), targets.AsSpan(0, warm * _seqLen));
        var sw = Stopwatch.StartNew();
        session.ForwardBackward(inputs.AsSpan(0, warm * _seqLen), targets.AsSpan(0, warm * _seqLen));
        var perMicro = sw.Elapsed;
        session.ZeroGrad();
        DropoutStep(session) = 0;
        int evalEvery = options.EvalEvery > 0 ? options.EvalEvery : _stepsPerEpoch;
        int evalBatches = (_val.Count + options.BatchSize - 1) / options.BatchSize;
        var perStep = perMicro * options.GradAccum;
        var total = perStep * _totalSteps + perMicro * 0.4 * evalBatches * Math.Max(1, _totalSteps / evalEvery);
        Estimate = Estimate! with { PerStep = perStep, Total = total };
        estimated?.Invoke(Estimate);

        if (options.Resume)
        {
            if (!Directory.Exists(checkpointDir))
                throw new SettingException(nameof(TuneOptions), $"{{{nameof(TuneOptions.Resume)}}}: no checkpoint in {checkpointDir}. Run without {{{nameof(TuneOptions.Resume)}}} to start from the beginning.", nameof(TuneOptions.Resume));
            optimizer = LoadCheckpoint(checkpointDir, trained, config, state, ref history);
        }
        DropoutStep(session) = (long)state.Step * options.GradAccum;

        var order = EpochOrder(state.Epoch);
        var run = Stopwatch.StartNew();
        int startStep = state.Step;
        long tokensThisRun = 0;
        bool stoppedEarly = false;
        while (state.Step < _totalSteps)
        {
            ct.ThrowIfCancellationRequested();
            double stepLoss = 0;
            for (int micro = 0; micro < options.GradAccum; micro++)
            {
                if (state.Cursor >= order.Length)
                {
                    state.Epoch++;
                    state.Cursor = 0;
                    order = EpochOrder(state.Epoch);
                }
                int take = Math.Min(options.BatchSize, order.Length - state.Cursor);
                var batch = order.AsSpan(state.Cursor, take).ToArray().Select(i => _train[i]).ToList();
                state.Cursor += take;
                int rows = Fill(batch, 0, batch.Count, inputs, targets);
                stepLoss += session.ForwardBackward(inputs.AsSpan(0, rows * _seqLen), targets.AsSpan(0, rows * _seqLen), 1f / options.GradAccum);
                tokensThisRun += batch.Sum(e => e.Length);
            }
            if (options.MaxGradNorm > 0) optimizer.ClipGradNorm(options.MaxGradNorm);
            float lr = schedule.At(state.Step);
            optimizer.Step(lr);
            session.ZeroGrad();
            state.Step++;
            float trainLoss = (float)(stepLoss / options.GradAccum);
            double tps = tokensThisRun / Math.Max(1e-9, run.Elapsed.TotalSeconds);

            float? valLoss = null;
            bool overfit = false;
            bool evaluate = _val.Count > 0 && (state.Step % evalEvery == 0 || state.Step == _totalSteps);
            if (evaluate)
            {
                valLoss = Evaluate(session, inputs, targets);
                float trainMean = history.Points.Where(p => p.Step > history.Evaluations.Select(e => e.Step).DefaultIfEmpty(0).Max()).Select(p => p.TrainLoss).Append(trainLoss).Average();
                overfit = history.IsOverfitting(trainMean, valLoss.Value);
                state.Overfitting |= overfit;
                if (state.BestValLoss is not { } b || valLoss.Value < b)
                {
                    state.BestValLoss = valLoss;
                    state.BestStep = state.Step;
                    state.BadEvals = 0;
                    trained.Export(exportDir, BaseName());
                }
                else state.BadEvals++;
            }
            history.Points.Add(new LossPoint(state.Step, state.Epoch, trainLoss, valLoss, lr, tps, overfit));

            int doneThisRun = state.Step - startStep;
            var eta = TimeSpan.FromSeconds(run.Elapsed.TotalSeconds / Math.Max(1, doneThisRun) * (_totalSteps - state.Step));
            progress?.Report(new TrainingProgress(state.Step, _totalSteps, state.Epoch, trainLoss, valLoss, lr, tps, eta));

            stoppedEarly = options.Patience > 0 && state.BadEvals >= options.Patience;
            int checkpointEvery = options.CheckpointEvery > 0 ? options.CheckpointEvery : evalEvery;
            if (state.Step % checkpointEvery == 0 || state.Step == _totalSteps || stoppedEarly)
            {
                SaveCheckpoint(checkpointDir, trained, optimizer, state, history);
                history.WriteAll(options.OutputDir, state.BestStep);
            }
            if (stoppedEarly) break;
        }

        var lastDir = Path.Combine(options.OutputDir, "last");
        trained.Export(lastDir, BaseName());
        if (state.BestStep == null) trained.Export(exportDir, BaseName());
        history.WriteAll(options.OutputDir, state.BestStep);
        WriteReport(state, stoppedEarly);
        var files = trained.ExportFiles.Select(f => Path.Combine(exportDir, f))
            .Append(Path.Combine(lastDir, trained.ExportFiles[^1]))
            .Concat(new[] { "loss.csv", "loss.json", "loss.svg", "training.json", "checkpoint/state.json" }.Select(f => Path.Combine(options.OutputDir, f)))
            .ToList();
        return new TrainingResult(state.Step, state.BestStep, state.BestValLoss, history.Points.Count > 0 ? history.Points[^1].TrainLoss : float.NaN,
            stoppedEarly, state.Overfitting, exportDir, files);
    }

    private string BaseName() => Path.GetFileName(options.ModelPath);

    private int[] EpochOrder(int epoch)
    {
        var order = Enumerable.Range(0, _train.Count).ToArray();
        new TrainingRng(options.Seed + 0x9E37_79B9UL * (ulong)(epoch + 1)).Shuffle(order);
        return order;
    }

    /// <summary>Copies examples into [rows, T] buffers, padding inputs with 0 and targets with -1.</summary>
    private int Fill(IReadOnlyList<TokenizedExample> examples, int start, int count, int[] inputs, int[] targets)
    {
        for (int r = 0; r < count; r++)
        {
            var e = examples[start + r];
            var row = inputs.AsSpan(r * _seqLen, _seqLen);
            var trow = targets.AsSpan(r * _seqLen, _seqLen);
            row.Clear();
            trow.Fill(-1);
            e.Inputs.CopyTo(row);
            e.Targets.CopyTo(trow);
        }
        return count;
    }

    /// <summary>Validation loss: the mean over every unmasked target of the validation set (batches weighted by targets).</summary>
    private float Evaluate(TrainingSession session, int[] inputs, int[] targets)
    {
        double sum = 0;
        long count = 0;
        for (int i = 0; i < _val.Count; i += options.BatchSize)
        {
            int rows = Fill(_val, i, Math.Min(options.BatchSize, _val.Count - i), inputs, targets);
            int n = targets.AsSpan(0, rows * _seqLen).ToArray().Count(t => t >= 0);
            if (n == 0) continue;
            sum += (double)session.Loss(inputs.AsSpan(0, rows * _seqLen), targets.AsSpan(0, rows * _seqLen)) * n;
            count += n;
        }
        return count == 0 ? float.NaN : (float)(sum / count);
    }

    /// <summary>Disposes the loaded model.</summary>
    public void Dispose() => _model?.Dispose(); // _full's arrays are managed; its model view owns nothing

    private sealed class LoopState
    {
        public int Step;
        public int Epoch;
        public int Cursor;
        public float? BestValLoss;
        public int? BestStep;
        public int BadEvals;
        public bool Overfitting;
    }

    /// <summary>Identity of the run a checkpoint belongs to: base model shape, data and the flags that shape the curve.</summary>
    private string Fingerprint(ModelConfig c) =>
        $"{c.Architecture}/L{c.Layers}/D{c.Dim}/F{c.HiddenDim}/H{c.Heads}/{c.KvHeads}/V{c.VocabSize}|train {_train.Count}x{_train.Sum(e => (long)e.Length)}|val {_val.Count}|{(_full is null ? $"r{options.LoraRank}/a{options.LoraAlpha}/d{options.LoraDropout}/{options.Targets}" : "full")}|b{options.BatchSize}/k{options.GradAccum}/T{_seqLen}|seed {options.Seed}";

    // Checkpoint folder: adapter.rtlora (engine format; model.gguf with --method full), optimizer.adamw, state.json (format, version, step, epoch,
    // cursor, early-stopping state, fingerprint, history). Written to checkpoint.tmp then swapped in, so a kill at any
    // moment leaves either the old or the new checkpoint.
    private void SaveCheckpoint(string dir, TrainedWeights trained, AdamW optimizer, LoopState s, LossHistory history)
    {
        var tmp = dir + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        trained.SaveCheckpoint(tmp);
        using (var fs = File.Create(Path.Combine(tmp, "optimizer.adamw"))) optimizer.Save(fs);
        var json = JsonSerializer.Serialize(new
        {
            format = CheckpointFormat, version = CheckpointVersion, step = s.Step, epoch = s.Epoch, cursor = s.Cursor,
            best_val_loss = s.BestValLoss, best_step = s.BestStep, bad_evals = s.BadEvals, overfitting = s.Overfitting,
            fingerprint = Fingerprint(_model!.Engine.Config), history = JsonDocument.Parse(history.Json(s.BestStep)).RootElement,
        });
        File.WriteAllText(Path.Combine(tmp, "state.json"), json);
        var old = dir + ".old";
        if (Directory.Exists(old)) Directory.Delete(old, true);
        if (Directory.Exists(dir)) Directory.Move(dir, old);
        Directory.Move(tmp, dir);
        if (Directory.Exists(old)) Directory.Delete(old, true);
    }

    private AdamW LoadCheckpoint(string dir, TrainedWeights trained, ModelConfig config, LoopState s, ref LossHistory history)
    {
        if (!File.Exists(Path.Combine(dir, "state.json")) && Directory.Exists(dir + ".old")) dir += ".old"; // killed mid-swap
        var statePath = Path.Combine(dir, "state.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(statePath));
        var root = doc.RootElement;
        if (root.GetProperty("format").GetString() != CheckpointFormat || root.GetProperty("version").GetInt32() != CheckpointVersion)
            throw new IOException($"{statePath}: not a {CheckpointFormat} version {CheckpointVersion} file.");
        var expected = Fingerprint(config);
        var found = root.GetProperty("fingerprint").GetString();
        if (found != expected)
            throw new IOException($"{statePath}: the checkpoint belongs to another run ({found}); this run is ({expected}). Resume with the same --model, --data and training flags, or use another --out.");
        trained.LoadCheckpoint(dir);
        AdamW optimizer;
        using (var fs = File.OpenRead(Path.Combine(dir, "optimizer.adamw"))) optimizer = AdamW.Load(fs, trained.Parameters);
        s.Step = root.GetProperty("step").GetInt32();
        s.Epoch = root.GetProperty("epoch").GetInt32();
        s.Cursor = root.GetProperty("cursor").GetInt32();
        s.BestValLoss = root.GetProperty("best_val_loss").ValueKind == JsonValueKind.Null ? null : root.GetProperty("best_val_loss").GetSingle();
        s.BestStep = root.GetProperty("best_step").ValueKind == JsonValueKind.Null ? null : root.GetProperty("best_step").GetInt32();
        s.BadEvals = root.GetProperty("bad_evals").GetInt32();
        s.Overfitting = root.GetProperty("overfitting").GetBoolean();
        history = LossHistory.FromJson(root.GetProperty("history"));
        return optimizer;
    }

    private void WriteReport(LoopState s, bool stoppedEarly)
    {
        var json = JsonSerializer.Serialize(new
        {
            format = "ragtune-training-report", version = 1, model = options.ModelPath, data = options.DataPath,
            steps = s.Step, total_steps = _totalSteps, best_step = s.BestStep, best_val_loss = s.BestValLoss,
            stopped_early = stoppedEarly, overfitting = s.Overfitting, train = TrainReport?.ToString(), validation_examples = _val.Count,
            estimate = Estimate?.ToString(),
        }, new JsonSerializerOptions { WriteIndented = true });
        LossHistory.WriteAtomically(Path.Combine(options.OutputDir, "training.json"), json);
    }
}
