using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace RagTune.Evaluation.Experiments;

/// <summary>A spec error: the file, line and field at fault and what to do.</summary>
public sealed class ExperimentSpecException(string path, int line, string field, string message)
    : ArgumentException($"{path}:{line}: {field}: {message}")
{
    /// <summary>The spec file at fault.</summary>
    public string SpecPath { get; } = path;

    /// <summary>The line (1-based) of the field at fault.</summary>
    public int Line { get; } = line;

    /// <summary>The field at fault, as its dotted path in the spec (e.g. <c>retrieval.top_k</c>).</summary>
    public string Field { get; } = field;

    /// <summary>What is wrong and what to do, without the file and line.</summary>
    public string Reason { get; } = message;
}

/// <summary>
/// How a spec sent by a client of the server names what it compares: by what the server holds, never by paths on the
/// server's disk. Each resolver throws <see cref="ArgumentException"/> saying what exists instead; the reader reports
/// it on the field's line.
/// </summary>
/// <param name="Collection">A collection name to its documents (files to copy, or the collection opened as is).</param>
/// <param name="Dataset">An uploaded questions file's name to its path.</param>
/// <param name="Model">A served model id to its file.</param>
/// <param name="EmbedModel">An embedding model name to what the server loads for it.</param>
public sealed record SpecNames(Func<string, DocumentsSpec> Collection, Func<string, string> Dataset, Func<string, string> Model, Func<string, string> EmbedModel);

/// <summary>
/// Reads <c>experiment.yaml</c> through YamlDotNet's node model, so every error names the line of the field at
/// fault. Unknown fields are errors (a typo silently falling back to a default would change the experiment).
/// </summary>
public static class ExperimentSpecReader
{
    /// <summary>Reads and validates the spec file at <paramref name="path"/>.</summary>
    /// <exception cref="ExperimentSpecException">A field is missing, unknown or invalid; the message names its line.</exception>
    public static ExperimentSpec Read(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Spec file '{path}' does not exist. Pass an experiment.yaml (see docs/compare.md).", path);
        return Parse(File.ReadAllText(path), Path.GetFullPath(path));
    }

    /// <summary>
    /// Parses spec text; relative paths resolve against the folder of <paramref name="specPath"/>. With
    /// <paramref name="names"/> (a spec from a server's client) documents, questions file and model are names the
    /// server resolves, and fields that would name a path on its disk are refused.
    /// </summary>
    public static ExperimentSpec Parse(string yaml, string specPath, SpecNames? names = null)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            throw new ExperimentSpecException(specPath, (int)e.Start.Line, "(syntax)", $"not valid YAML: {e.Message}");
        }
        catch (InvalidOperationException e)
        {
            // YamlDotNet's parser throws this on some malformed input (found by fuzzing: a quote inside a key) instead
            // of a YamlException, so it carries no position.
            throw new ExperimentSpecException(specPath, 1, "(syntax)", $"not valid YAML ({e.Message}); check quotes and indentation, or compare with docs/compare.md.");
        }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode rootNode)
            throw new ExperimentSpecException(specPath, 1, "(root)", "the spec must be a mapping with at least 'documents', 'questions' and 'model' (see docs/compare.md).");
        var baseDir = Path.GetDirectoryName(specPath) ?? ".";
        var root = new Section(specPath, baseDir, "", rootNode);
        root.Known("name", "documents", "questions", "model", "arms", "fine_tuning", "raft", "retrieval", "constraints", "experiments", "seed", "notes");

        var documents = root.Required("documents");
        documents.Known("paths", "collection");
        var docPaths = names == null ? documents.PathList("paths") : [];
        var collection = documents.String("collection");
        if (names != null)
        {
            if (documents.StringList("paths").Count > 0)
                throw documents.Error("paths", "the server reads documents from its collections, not from its disk: upload them into a collection and write 'collection: <name>'.");
            if (collection == null) throw documents.Error("collection", "name the collection to compare on: 'collection: <name>'.");
            var resolved = documents.Resolve("collection", () => names.Collection(collection));
            (docPaths, collection) = ([.. resolved.Paths], resolved.Collection);
        }
        else if (docPaths.Count == 0 && collection == null)
            throw documents.Error("paths", "name the documents: 'paths: [folder/, file.md]' or 'collection: <existing collection>'.");
        foreach (var (p, line) in names == null ? documents.PathListWithLines("paths") : [])
            if (p.Contains('*', StringComparison.Ordinal) || p.Contains('?', StringComparison.Ordinal))
                throw new ExperimentSpecException(specPath, line, "documents.paths", $"'{p}': name files or folders, not patterns (the documents are copied for the freshness experiment); put the files in a folder and name it.");
            else if (!File.Exists(p) && !Directory.Exists(p))
                throw new ExperimentSpecException(specPath, line, "documents.paths", $"'{p}' does not exist; fix the path (relative paths start at the spec's folder).");

        var questions = root.Required("questions");
        questions.Known("file", "generate", "paraphrases", "test_share", "limit");
        var qFile = names == null ? questions.Path("file")
            : questions.String("file") is { } dataset ? questions.Resolve("file", () => names.Dataset(dataset)) : null;
        bool generate = questions.Bool("generate") ?? false;
        if (qFile == null && !generate)
            throw questions.Error("file", "give 'file: questions.jsonl' (fields question, answer|answers, id?, fact?, paraphrase_of?, unanswerable?) or 'generate: true'.");
        if (qFile != null && generate)
            throw questions.Error("generate", "give either 'file' or 'generate: true', not both.");
        if (qFile != null && !File.Exists(qFile))
            throw questions.Error("file", $"'{qFile}' does not exist; fix the path (relative paths start at the spec's folder).");
        var testShare = questions.Double("test_share") ?? 0.3;
        if (testShare is <= 0 or >= 1) throw questions.Error("test_share", $"must be between 0 and 1 exclusive (got {testShare}); e.g. 0.3.");
        var paraphrases = questions.Int("paraphrases") ?? 1;
        if (paraphrases < 0) throw questions.Error("paraphrases", "must be zero or more.");
        var limit = questions.Int("limit");
        if (limit is < 2) throw questions.Error("limit", "must be at least 2 (one training and one test fact).");

        var model = root.Required("model");
        model.Known("path", "remote", "remote_model", "threads", "max_tokens");
        var modelPath = model.String("path");
        var remote = model.String("remote");
        if (names != null)
        {
            if (remote != null) throw model.Error("remote", "the server compares the models it serves: write 'path: <served model id>' instead.");
            if (modelPath == null) throw model.Error("path", "name the base model: 'path: <served model id>'.");
            modelPath = model.Resolve("path", () => names.Model(modelPath));
        }
        if ((modelPath == null) == (remote == null))
            throw model.Error("path", "give exactly one of 'path: <model file or catalog name>' and 'remote: <http://host/v1>'.");
        if (names == null && modelPath != null && (modelPath.Contains('/', StringComparison.Ordinal) || modelPath.Contains('\\', StringComparison.Ordinal) || modelPath.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)))
            modelPath = System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDir, modelPath));
        if (remote != null && !(Uri.TryCreate(remote, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
            throw model.Error("remote", $"'{remote}' is not an http(s) URL; give the API root, e.g. http://127.0.0.1:8080/v1.");
        var threads = model.Int("threads") ?? 0;
        var maxTokens = model.Int("max_tokens") ?? 48;
        if (threads < 0) throw model.Error("threads", "must be 0 (one per processor) or positive.");
        if (maxTokens < 1) throw model.Error("max_tokens", "must be positive.");

        var arms = root.StringList("arms") is { Count: > 0 } a ? a : ArmNames.All;
        foreach (var (arm, line) in root.StringListWithLines("arms"))
            if (!ArmNames.All.Contains(arm))
                throw new ExperimentSpecException(specPath, line, "arms", $"unknown arm '{arm}'; use {string.Join(", ", ArmNames.All)}.");
        if (arms.Distinct(StringComparer.Ordinal).Count() != arms.Count) throw root.Error("arms", "lists an arm twice.");

        var ft = new FineTuningSpec();
        if (root.Optional("fine_tuning") is { } f)
        {
            f.Known("rank", "alpha", "steps", "epochs", "lr", "seq_len", "batch", "grad_accum", "documents_as_text", "paraphrases", "validation_split");
            ft = new FineTuningSpec(
                f.Int("rank") ?? ft.Rank, (float)(f.Double("alpha") ?? ft.Alpha), f.Int("steps"), f.Int("epochs"), (float)(f.Double("lr") ?? ft.LearningRate),
                f.Int("seq_len") ?? ft.SeqLen, f.Int("batch") ?? ft.Batch, f.Int("grad_accum") ?? ft.GradAccum,
                f.Bool("documents_as_text") ?? ft.DocumentsAsText, f.Bool("paraphrases") ?? ft.Paraphrases, f.Double("validation_split") ?? ft.ValidationSplit);
            if (ft.Rank < 1) throw f.Error("rank", "must be at least 1 (typical: 8 or 16).");
            if (ft.Steps is < 1) throw f.Error("steps", "must be at least 1.");
            if (ft.Epochs is < 1) throw f.Error("epochs", "must be at least 1.");
            if (ft.LearningRate <= 0) throw f.Error("lr", "must be positive (typical: 2e-4 to 1e-3).");
            if (ft.SeqLen < 16) throw f.Error("seq_len", "must be at least 16 tokens.");
            if (ft.Batch < 1) throw f.Error("batch", "must be at least 1.");
            if (ft.GradAccum < 1) throw f.Error("grad_accum", "must be at least 1.");
            if (ft.ValidationSplit is < 0 or >= 1) throw f.Error("validation_split", "must be in [0, 1).");
        }

        var raft = new RaftSpec();
        if (root.Optional("raft") is { } r)
        {
            r.Known("gold_share", "distractors", "answer");
            var answer = r.String("answer") ?? "quote";
            if (answer is not ("quote" or "short")) throw r.Error("answer", $"'{answer}': use quote (the gold sentence, as RAFT answers) or short (the answer alone, cited).");
            raft = new RaftSpec(r.Double("gold_share") ?? raft.GoldShare, r.Int("distractors") ?? raft.Distractors, answer == "short");
            if (raft.GoldShare is < 0 or > 1) throw r.Error("gold_share", "must be between 0 and 1 (RAFT's P; 0.8 is typical).");
            if (raft.Distractors < 0) throw r.Error("distractors", "must be zero or more.");
        }

        var retrieval = new RetrievalSpec();
        if (root.Optional("retrieval") is { } rt)
        {
            rt.Known("top_k", "mode", "embed_model", "chunk_tokens", "overlap", "prompt", "dense_agreement");
            retrieval = new RetrievalSpec(rt.Int("top_k") ?? retrieval.TopK, rt.String("mode") ?? retrieval.Mode, rt.String("embed_model"),
                rt.Int("chunk_tokens") ?? retrieval.ChunkTokens, rt.Int("overlap") ?? retrieval.Overlap, rt.String("prompt") ?? retrieval.Prompt,
                rt.Int("dense_agreement") ?? retrieval.DenseAgreement);
            if (retrieval.DenseAgreement < 0) throw rt.Error("dense_agreement", "must be 0 (no agreement gate) or positive (default 10).");
            if (retrieval.Prompt is not ("standard" or "compact")) throw rt.Error("prompt", $"'{retrieval.Prompt}': use standard or compact (for models with a small context).");
            if (retrieval.TopK < 1) throw rt.Error("top_k", "must be at least 1.");
            if (retrieval.Mode is not ("bm25" or "dense" or "hybrid")) throw rt.Error("mode", $"'{retrieval.Mode}': use bm25, dense or hybrid.");
            if (retrieval.Mode == "dense" && retrieval.EmbedModel is null or "none") throw rt.Error("mode", "dense retrieval needs 'embed_model'.");
            if (names != null && retrieval.EmbedModel is { } em and not "none")
                retrieval = retrieval with { EmbedModel = rt.Resolve("embed_model", () => names.EmbedModel(em)) };
            if (retrieval.ChunkTokens < 16) throw rt.Error("chunk_tokens", "must be at least 16.");
            if (retrieval.Overlap < 0 || retrieval.Overlap >= retrieval.ChunkTokens) throw rt.Error("overlap", "must be zero or more and below chunk_tokens.");
        }

        var constraints = new ExperimentConstraints();
        if (root.Optional("constraints") is { } c)
        {
            c.Known("latency_budget_ms", "updates_per_month", "labelled_examples", "citations_required", "compute_price_per_hour");
            constraints = new ExperimentConstraints(c.Double("latency_budget_ms"), c.Double("updates_per_month") ?? constraints.UpdatesPerMonth,
                c.Int("labelled_examples"), c.Bool("citations_required") ?? false, c.Double("compute_price_per_hour") ?? constraints.ComputePricePerHour);
            try
            {
                constraints.Validate();
            }
            catch (ArgumentException e)
            {
                var field = e.Message.Split(' ')[0].Replace("constraints.", "", StringComparison.Ordinal);
                throw c.Error(field, e.Message);
            }
        }

        var experiments = new ExperimentsSpec(null, null, null);
        if (root.Optional("experiments") is { } ex)
        {
            ex.Known("freshness", "data_efficiency", "forgetting");
            FreshnessSpec? fresh = null;
            if (ex.OptionalOrTrue("freshness") is { } fr)
            {
                fr.Known("share");
                fresh = new FreshnessSpec(fr.Double("share") ?? 0.3);
                if (fresh.Share is <= 0 or > 1) throw fr.Error("share", "must be in (0, 1], the share of test facts to change.");
                if (docPaths.Count == 0)
                    throw ex.Error("freshness", names == null
                        ? "needs 'documents.paths' (the documents are copied and edited); an existing collection cannot be edited."
                        : $"needs the documents' files to edit a copy, and collection '{collection}' has no uploaded documents (it was ingested from elsewhere); upload them or leave freshness out.");
            }
            DataEfficiencySpec? eff = null;
            if (ex.OptionalOrTrue("data_efficiency") is { } de)
            {
                de.Known("fractions", "paraphrases");
                var fractions = de.DoubleList("fractions") is { Count: > 0 } fl ? fl : [0.1, 0.25, 0.5, 1.0];
                if (fractions.Any(x => x is <= 0 or > 1)) throw de.Error("fractions", "each fraction must be in (0, 1], e.g. [0.1, 0.25, 0.5, 1.0].");
                var mode = de.String("paraphrases") ?? "both";
                if (mode is not ("both" or "with" or "without")) throw de.Error("paraphrases", $"'{mode}': use both, with or without.");
                eff = new DataEfficiencySpec(fractions, mode != "without", mode != "with");
            }
            ForgettingSpec? forget = null;
            if (ex.OptionalOrTrue("forgetting") is { } fg)
            {
                fg.Known("text", "file");
                var text = fg.String("text");
                if (names != null && fg.String("file") != null) throw fg.Error("file", "the server reads no files from its disk: give the held-out text inline as 'text: ...'.");
                if (fg.Path("file") is { } file)
                {
                    if (!File.Exists(file)) throw fg.Error("file", $"'{file}' does not exist.");
                    text = File.ReadAllText(file);
                }
                forget = new ForgettingSpec(string.IsNullOrWhiteSpace(text) ? ExperimentSpec.DefaultForgettingText : text);
            }
            experiments = new ExperimentsSpec(fresh, eff, forget);
        }

        var name = root.String("name") ?? System.IO.Path.GetFileNameWithoutExtension(specPath);
        var seed = root.Int("seed") is { } s ? (s >= 0 ? (ulong)s : throw root.Error("seed", "must be zero or more.")) : 42UL;
        return new ExperimentSpec(name, specPath, new DocumentsSpec(docPaths, collection), new QuestionsSpec(qFile, generate, paraphrases, testShare, limit),
            new ModelSpec(modelPath, remote, model.String("remote_model") ?? "default", threads, maxTokens), arms, ft, raft, retrieval, constraints, experiments, seed)
        {
            Notes = root.StringList("notes"),
        };
    }

    /// <summary>One mapping of the spec, with typed getters that fail naming the line and the dotted field.</summary>
    private sealed class Section(string specPath, string baseDir, string prefix, YamlMappingNode node)
    {
        private int LineOf(string key) =>
            node.Children.FirstOrDefault(kv => kv.Key is YamlScalarNode k && k.Value == key) is { Key: not null } kv ? (int)kv.Value.Start.Line : (int)node.Start.Line;

        public ExperimentSpecException Error(string key, string message) => new(specPath, LineOf(key), prefix + key, message);

        /// <summary>Runs a <see cref="SpecNames"/> resolver, reporting its refusal on <paramref name="key"/>'s line.</summary>
        public T Resolve<T>(string key, Func<T> resolve)
        {
            try
            {
                return resolve();
            }
            catch (ArgumentException e) when (e is not ExperimentSpecException)
            {
                throw Error(key, e.Message);
            }
        }

        public void Known(params string[] keys)
        {
            foreach (var k in node.Children.Keys)
            {
                var name = (k as YamlScalarNode)?.Value ?? "?";
                if (!keys.Contains(name))
                    throw new ExperimentSpecException(specPath, (int)k.Start.Line, prefix + name, $"unknown field; the fields here are: {string.Join(", ", keys)}.");
            }
        }

        private YamlNode? Get(string key) =>
            node.Children.FirstOrDefault(kv => kv.Key is YamlScalarNode k && k.Value == key).Value is { } v && !(v is YamlScalarNode { Value: null or "" or "~" or "null" } sv && sv.Style == YamlDotNet.Core.ScalarStyle.Plain) ? v : null;

        public Section Required(string key) => Optional(key) ?? throw new ExperimentSpecException(specPath, (int)node.Start.Line, prefix + key, "is required (see docs/compare.md for an example spec).");

        public Section? Optional(string key) => Get(key) switch
        {
            null => null,
            YamlMappingNode m => new Section(specPath, baseDir, prefix + key + ".", m),
            var other => throw new ExperimentSpecException(specPath, (int)other.Start.Line, prefix + key, "must be a mapping of fields (indented 'field: value' lines)."),
        };

        /// <summary>A section that may also be written as <c>key: true</c> (all defaults) or <c>key: false</c> (off).</summary>
        public Section? OptionalOrTrue(string key)
        {
            if (Get(key) is YamlScalarNode s)
                return ParseBool(s, key) ? new Section(specPath, baseDir, prefix + key + ".", new YamlMappingNode()) : null;
            return Optional(key);
        }

        private YamlScalarNode? Scalar(string key) => Get(key) switch
        {
            null => null,
            YamlScalarNode s => s,
            var other => throw new ExperimentSpecException(specPath, (int)other.Start.Line, prefix + key, "must be a single value, not a list or mapping."),
        };

        public string? String(string key) => Scalar(key)?.Value;

        public string? Path(string key) => String(key) is { } p ? System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDir, p)) : null;

        public int? Int(string key) => Scalar(key) is { } s
            ? int.TryParse(s.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : throw Bad(s, key, "a whole number")
            : null;

        public double? Double(string key) => Scalar(key) is { } s
            ? double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) ? v : throw Bad(s, key, "a number")
            : null;

        public bool? Bool(string key) => Scalar(key) is { } s ? ParseBool(s, key) : null;

        private bool ParseBool(YamlScalarNode s, string key) => s.Value?.ToLowerInvariant() switch
        {
            "true" or "yes" or "on" => true,
            "false" or "no" or "off" => false,
            _ => throw Bad(s, key, "true or false"),
        };

        private ExperimentSpecException Bad(YamlScalarNode s, string key, string what) =>
            new(specPath, (int)s.Start.Line, prefix + key, $"'{s.Value}' is not {what}.");

        public List<(string Value, int Line)> StringListWithLines(string key) => Get(key) switch
        {
            null => [],
            YamlScalarNode s => [(s.Value ?? "", (int)s.Start.Line)],
            YamlSequenceNode seq => seq.Children.Select(c => c is YamlScalarNode sc
                ? (sc.Value ?? "", (int)sc.Start.Line)
                : throw new ExperimentSpecException(specPath, (int)c.Start.Line, prefix + key, "each item must be a single value.")).ToList(),
            var other => throw new ExperimentSpecException(specPath, (int)other.Start.Line, prefix + key, "must be a list, e.g. [a, b]."),
        };

        public List<string> StringList(string key) => StringListWithLines(key).Select(x => x.Value).ToList();

        public List<(string Path, int Line)> PathListWithLines(string key) =>
            StringListWithLines(key).Select(x => (System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDir, x.Value)), x.Line)).ToList();

        public List<string> PathList(string key) => PathListWithLines(key).Select(x => x.Path).ToList();

        public List<double> DoubleList(string key) => StringListWithLines(key).Select(x =>
            double.TryParse(x.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v
                : throw new ExperimentSpecException(specPath, x.Line, prefix + key, $"'{x.Value}' is not a number.")).ToList();
    }
}
