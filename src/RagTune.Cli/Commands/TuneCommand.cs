using System.CommandLine;
using RagTune.Engine.Training;
using RagTune.FineTuning.Datasets;
using RagTune.FineTuning.Training;

namespace RagTune.Cli.Commands;

/// <summary><c>ragtune tune</c>: LoRA fine-tuning of a local model on a dataset file.</summary>
internal static class TuneCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "Base model file (GGUF or llama2.c .bin) or downloaded model name", Required = true };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "Tokenizer file when the model has none" };
        var data = new Option<string>("--data") { Description = "Training file: Alpaca JSON/JSONL, chat JSONL (messages), QA JSONL, or .txt", Required = true };
        var val = new Option<string?>("--val") { Description = "Separate validation file (instead of --val-split)" };
        var valSplit = new Option<double>("--val-split") { Description = "Fraction of --data held out for validation (none with --val)", DefaultValueFactory = _ => TuneOptions.DefaultValidationSplit };
        var format = new Option<string>("--format") { Description = $"Dataset format: {DatasetFormats.Names}", DefaultValueFactory = _ => "auto" };
        var dropLong = new Option<bool>("--drop-long") { Description = "Drop examples longer than --seq-len instead of truncating them" };
        var output = new Option<string>("--out", "-o") { Description = "Output folder (adapter, checkpoints, loss curves)", Required = true };
        var method = new Option<string>("--method") { Description = "lora (an adapter over a frozen base of any type) or full (every weight of an F32 GGUF base; writes model/model.gguf)", DefaultValueFactory = _ => TuneOptions.DefaultMethod };
        var rank = new Option<int>("--lora-rank") { DefaultValueFactory = _ => TuneOptions.DefaultLoraRank };
        var alpha = new Option<float>("--lora-alpha") { DefaultValueFactory = _ => TuneOptions.DefaultLoraAlpha };
        var dropout = new Option<float>("--lora-dropout") { DefaultValueFactory = _ => TuneOptions.DefaultLoraDropout };
        var targets = new Option<string>("--targets") { Description = "LoRA target layers", DefaultValueFactory = _ => TuneOptions.DefaultTargets };
        var epochs = new Option<int?>("--epochs") { Description = $"Epochs (default {TuneOptions.DefaultEpochs}; ignored with --steps)" };
        var steps = new Option<int?>("--steps") { Description = "Optimizer steps" };
        var lr = new Option<float>("--lr") { Description = "Peak learning rate", DefaultValueFactory = _ => TuneOptions.DefaultLearningRate };
        var batch = new Option<int>("--batch") { Description = "Sequences per micro-batch", DefaultValueFactory = _ => TuneOptions.DefaultBatchSize };
        var accum = new Option<int>("--grad-accum") { Description = "Micro-batches per optimizer step", DefaultValueFactory = _ => TuneOptions.DefaultGradAccum };
        var seqLen = new Option<int>("--seq-len") { Description = "Longest sequence in tokens", DefaultValueFactory = _ => TuneOptions.DefaultSeqLen };
        var warmup = new Option<double>("--warmup") { Description = "Warmup fraction of the steps", DefaultValueFactory = _ => TuneOptions.DefaultWarmup };
        var schedule = new Option<string>("--schedule") { Description = "cosine, linear or constant", DefaultValueFactory = _ => TuneOptions.DefaultSchedule.ToString().ToLowerInvariant() };
        var evalEvery = new Option<int>("--eval-every") { Description = "Validate every N steps (0 = once per epoch)" };
        var patience = new Option<int>("--patience") { Description = "Stop after P evaluations without improvement (0 = never)" };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Checkpoint every N steps (0 = at each evaluation)" };
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => TuneOptions.DefaultSeed };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads (0 = one per processor)" };
        var resume = new Option<bool>("--resume") { Description = "Continue from the checkpoint in --out" };
        var recompute = new Option<bool>("--recompute") { Description = "Activation checkpointing (less memory, more compute)" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No live progress line" };

        var cmd = new Command("tune", "Fine-tune a LoRA adapter on a dataset, with validation, checkpoints and loss curves")
        {
            model, tokenizer, data, val, valSplit, format, dropLong, output, method, rank, alpha, dropout, targets, epochs, steps, lr, batch, accum,
            seqLen, warmup, schedule, evalEvery, patience, checkpointEvery, seed, threads, resume, recompute, quiet,
        };
        // How the command line spells each setting a SettingException from TuneOptions or the Trainer may name.
        var flags = new Dictionary<string, Option>
        {
            [nameof(TuneOptions.ModelPath)] = model, [nameof(TuneOptions.TokenizerPath)] = tokenizer, [nameof(TuneOptions.DataPath)] = data,
            [nameof(TuneOptions.ValidationPath)] = val, [nameof(TuneOptions.ValidationSplit)] = valSplit, [nameof(TuneOptions.Format)] = format,
            [nameof(TuneOptions.Overlong)] = dropLong, [nameof(TuneOptions.OutputDir)] = output, [nameof(TuneOptions.Method)] = method,
            [nameof(TuneOptions.LoraRank)] = rank, [nameof(TuneOptions.LoraAlpha)] = alpha, [nameof(TuneOptions.LoraDropout)] = dropout,
            [nameof(TuneOptions.Targets)] = targets, [nameof(TuneOptions.Epochs)] = epochs, [nameof(TuneOptions.Steps)] = steps,
            [nameof(TuneOptions.LearningRate)] = lr, [nameof(TuneOptions.BatchSize)] = batch, [nameof(TuneOptions.GradAccum)] = accum,
            [nameof(TuneOptions.SeqLen)] = seqLen, [nameof(TuneOptions.Warmup)] = warmup, [nameof(TuneOptions.Schedule)] = schedule,
            [nameof(TuneOptions.EvalEvery)] = evalEvery, [nameof(TuneOptions.Patience)] = patience, [nameof(TuneOptions.CheckpointEvery)] = checkpointEvery,
            [nameof(TuneOptions.Seed)] = seed, [nameof(TuneOptions.Threads)] = threads, [nameof(TuneOptions.Resume)] = resume,
            [nameof(TuneOptions.Recompute)] = recompute,
        };
        cmd.SetAction((r, ct) => SettingFlags.Guard(flags, () =>
        {
            var options = new TuneOptions
            {
                ModelPath = RagTune.Models.Downloads.ModelResolver.Resolve(r.GetValue(model)!),
                TokenizerPath = r.GetValue(tokenizer),
                DataPath = r.GetValue(data)!,
                ValidationPath = r.GetValue(val),
                // Left unset unless typed, so that TuneOptions applies its default (none beside --val) and can refuse both.
                ValidationSplit = r.GetResult(valSplit) is { Implicit: false } ? r.GetValue(valSplit) : null,
                Format = DatasetFormats.Parse(r.GetValue(format)!),
                Overlong = r.GetValue(dropLong) ? OverlongPolicy.Drop : OverlongPolicy.Truncate,
                OutputDir = r.GetValue(output)!,
                Method = r.GetValue(method)!,
                LoraRank = r.GetValue(rank), LoraAlpha = r.GetValue(alpha), LoraDropout = r.GetValue(dropout), Targets = r.GetValue(targets)!,
                Epochs = r.GetValue(epochs), Steps = r.GetValue(steps), LearningRate = r.GetValue(lr),
                BatchSize = r.GetValue(batch), GradAccum = r.GetValue(accum), SeqLen = r.GetValue(seqLen), Warmup = r.GetValue(warmup),
                Schedule = r.GetValue(schedule) switch
                {
                    "cosine" => LearningRateDecay.Cosine, "linear" => LearningRateDecay.Linear, "constant" => LearningRateDecay.Constant,
                    var s => throw new UsageException($"--schedule '{s}': use cosine, linear or constant."),
                },
                EvalEvery = r.GetValue(evalEvery), Patience = r.GetValue(patience), CheckpointEvery = r.GetValue(checkpointEvery),
                Seed = r.GetValue(seed), Threads = r.GetValue(threads), Resume = r.GetValue(resume), Recompute = r.GetValue(recompute),
            };
            return Run(options, r.GetValue(quiet), ct);
        }));
        return cmd;
    }

    private static int Run(TuneOptions options, bool quiet, CancellationToken ct)
    {
        var err = Console.Error;
        using var trainer = new Trainer(options);
        try
        {
            trainer.Prepare();
        }
        catch (NotSupportedException e)
        {
            err.WriteLine($"error: {e.Message}");
            return 1;
        }
        err.WriteLine($"prompt format: {trainer.PromptFormat}");
        err.WriteLine($"train: {trainer.TrainReport}");
        if (trainer.ValidationReport is { } v) err.WriteLine($"validation: {v}");
        var result = trainer.Run(new Progress(err, quiet), e => err.WriteLine($"estimate: {e}"), ct);
        if (!quiet) err.WriteLine();
        Console.WriteLine($"steps: {result.Steps}{(result.StoppedEarly ? " (stopped early: no validation improvement)" : "")}");
        Console.WriteLine(result.BestStep is { } b ? $"best: step {b}, validation loss {result.BestValLoss:F4} (saved in {result.AdapterDir})" : $"final training loss {result.FinalTrainLoss:F4} (no validation set; the last step is kept)");
        if (result.Overfitting) Console.WriteLine("warning: overfitting: validation loss rose twice in a row while training loss fell; the best step is the one saved.");
        Console.WriteLine($"final train loss: {result.FinalTrainLoss:R}");
        foreach (var f in result.Files.Where(File.Exists)) Console.WriteLine($"wrote {f}");
        return 0;
    }

    /// <summary>Synchronous progress (System.Progress posts to the thread pool and would interleave lines).</summary>
    private sealed class Progress(TextWriter err, bool quiet) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p)
        {
            if (quiet) return;
            var val = p.ValLoss is { } v ? $" val {v:F4}" : "";
            var line = $"step {p.Step}/{p.TotalSteps} epoch {p.Epoch + 1} loss {p.TrainLoss:F4}{val} lr {p.LearningRate:G3} {p.TokensPerSecond:F0} tok/s eta {p.Eta:hh\\:mm\\:ss}";
            if (p.ValLoss != null || Console.IsErrorRedirected) err.WriteLine(line);
            else err.Write("\r" + line.PadRight(100));
        }
    }
}
