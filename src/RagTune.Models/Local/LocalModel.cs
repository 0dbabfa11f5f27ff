using RagTune.Engine.Formats;
using RagTune.Engine.Models;
using RagTune.Engine.Training;
using RagTune.Tokenizers;
using RagTune.Tokenizers.ChatTemplates;

namespace RagTune.Models.Local;

/// <summary>A model file opened for local inference: the engine's weights plus the tokenizer that goes with them.</summary>
public sealed class LocalModel : IDisposable
{
    private readonly TransformerModel? _base; // kept alive (and disposed) when Engine was derived from it

    private LocalModel(TransformerModel engine, ITokenizer tokenizer, string tokenizerSource, TransformerModel? baseModel = null, LoraDelta? adapter = null)
    {
        Engine = engine;
        Tokenizer = tokenizer;
        TokenizerSource = tokenizerSource;
        _base = baseModel;
        Adapter = adapter;
    }

    /// <summary>
    /// The same tokenizer over another engine model derived from this one (a base merged with a LoRA adapter);
    /// the new object owns both models.
    /// </summary>
    public LocalModel WithEngine(TransformerModel derived) => new(derived, Tokenizer, TokenizerSource, Engine);

    /// <summary>
    /// The same model with <paramref name="adapter"/> applied beside its weights (unmerged) by sessions that honour
    /// <see cref="Adapter"/>; the new object owns this one's engine and the adapter (use it instead of this one).
    /// </summary>
    public LocalModel WithAdapter(LoraDelta adapter) => new(Engine, Tokenizer, TokenizerSource, _base, adapter);

    /// <summary>The LoRA adapter to run beside the base weights by default (set <c>InferenceSession.Adapter</c> to it), or null.</summary>
    public LoraDelta? Adapter { get; }

    /// <summary>The engine's model: config and weights (merged with an adapter when this object was made by <see cref="WithEngine"/>).</summary>
    public TransformerModel Engine { get; }

    /// <summary>The tokenizer that goes with <see cref="Engine"/> (its vocabulary size matches the model's).</summary>
    public ITokenizer Tokenizer { get; }

    /// <summary>Where the tokenizer came from (the GGUF's metadata or a tokenizer file), for display.</summary>
    public string TokenizerSource { get; }

    /// <summary>A short id: the file name without extension.</summary>
    public string Name => Path.GetFileNameWithoutExtension(Engine.Path);

    /// <summary>
    /// Opens <paramref name="modelPath"/> (GGUF or llama2.c .bin) and its tokenizer: <paramref name="tokenizerPath"/>
    /// when given, else the GGUF's own metadata, else a llama2.c <c>tok{vocab}.bin</c> / <c>tokenizer.bin</c> or a Hugging Face <c>tokenizer.json</c> beside it.
    /// </summary>
    public static LocalModel Load(string modelPath, string? tokenizerPath = null)
    {
        var engine = TransformerModel.Load(modelPath);
        try
        {
            var (tokenizer, source) = TokenizerLoader.Resolve(engine, tokenizerPath);
            if (tokenizer.VocabSize != engine.Config.VocabSize)
                throw new TokenizerFormatException(
                    $"{source}: the tokenizer has {tokenizer.VocabSize} tokens but the model '{modelPath}' has a vocabulary of {engine.Config.VocabSize}. Use the tokenizer that was trained with this model.");
            return new LocalModel(engine, tokenizer, source);
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }

    /// <summary>Disposes the engine model, the base it was derived from (if any) and the adapter (if any).</summary>
    public void Dispose()
    {
        Engine.Dispose();
        _base?.Dispose();
        Adapter?.Dispose();
    }
}

/// <summary>Finds and builds the tokenizer for a model; the bridge between GGUF metadata and the tokenizers project.</summary>
public static class TokenizerLoader
{
    /// <summary>
    /// The tokenizer for <paramref name="model"/> and where it came from: <paramref name="tokenizerPath"/> when given, else
    /// the GGUF's own metadata, else a Hugging Face <c>tokenizer.json</c> or a llama2.c <c>tok{vocab}.bin</c> / <c>tokenizer.bin</c> beside it.
    /// </summary>
    /// <exception cref="TokenizerFormatException">None is found, or the one found cannot be read; the message says what to pass.</exception>
    public static (ITokenizer Tokenizer, string Source) Resolve(TransformerModel model, string? tokenizerPath)
    {
        if (tokenizerPath != null)
            return (FromFile(tokenizerPath, model.Config.VocabSize), tokenizerPath);
        if (model.Gguf is { } gguf && gguf.GetString("tokenizer.ggml.model") != null)
            return (FromGguf(gguf), gguf.Path + " (metadata)");
        // A Hugging Face folder: its tokenizer.json (FromFile decides whether it can be read), else files inside it.
        bool folder = Directory.Exists(model.Path);
        var dir = folder ? Path.GetFullPath(model.Path) : Path.GetDirectoryName(Path.GetFullPath(model.Path)) ?? ".";
        var hfTokenizer = Path.Combine(dir, "tokenizer.json");
        if (folder && File.Exists(hfTokenizer))
            return (FromFile(hfTokenizer, model.Config.VocabSize), hfTokenizer);
        foreach (var name in new[] { $"tok{model.Config.VocabSize}.bin", "tokenizer.bin" })
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
                return (SentencePieceTokenizer.FromLlamaCBin(candidate, model.Config.VocabSize), candidate);
        }
        if (File.Exists(hfTokenizer))
            return (FromFile(hfTokenizer, model.Config.VocabSize), hfTokenizer);
        throw new TokenizerFormatException(
            $"{model.Path}: no tokenizer found. The file has no tokenizer metadata and there is no tok{model.Config.VocabSize}.bin tokenizer.bin or tokenizer.json beside it. Pass one with --tokenizer <file> (a llama2.c tokenizer.bin, a Hugging Face byte-level BPE tokenizer.json, or a GGUF with tokenizer metadata).");
    }

    internal static ITokenizer FromFile(string path, int vocabSize)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Tokenizer file '{path}' does not exist.", path);
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            return ByteLevelBpeTokenizer.FromTokenizerJson(path, padToVocabSize: vocabSize);
        Span<byte> magic = stackalloc byte[4];
        using (var fs = File.OpenRead(path))
            if (fs.Read(magic) < 4) magic.Clear();
        if (magic.SequenceEqual("GGUF"u8))
        {
            using var gguf = GgufFile.Open(path);
            return FromGguf(gguf);
        }
        return SentencePieceTokenizer.FromLlamaCBin(path, vocabSize);
    }

    /// <summary>The tokenizer a GGUF file's metadata describes (<c>tokenizer.ggml.model</c> 'llama' or 'gpt2').</summary>
    /// <exception cref="TokenizerFormatException">The file carries no tokenizer, or one of a kind RagTune does not support.</exception>
    public static ITokenizer FromGguf(GgufFile gguf)
    {
        var kind = gguf.GetString("tokenizer.ggml.model")
            ?? throw new TokenizerFormatException($"{gguf.Path}: metadata key 'tokenizer.ggml.model' is missing, so the file carries no tokenizer. Pass --tokenizer <file>.");
        if (kind == "gpt2")
            return ByteLevelFromGguf(gguf);
        if (kind != "llama")
            throw new TokenizerFormatException(
                $"{gguf.Path}: tokenizer model '{kind}' is not supported (supported: 'llama', SentencePiece BPE; 'gpt2', byte-level BPE). Pass a tokenizer file with --tokenizer <file>.");
        var tokens = gguf.GetStringArray("tokenizer.ggml.tokens")
            ?? throw new TokenizerFormatException($"{gguf.Path}: metadata key 'tokenizer.ggml.tokens' is missing; the tokenizer is incomplete.");
        var scores = gguf.GetFloatArray("tokenizer.ggml.scores") ?? new float[tokens.Length];
        var types = gguf.GetIntArray("tokenizer.ggml.token_type");
        int Id(string key, int fallback) => gguf.GetInt(key) is { } v ? checked((int)v) : fallback;
        var vocab = new SentencePieceVocab(tokens, scores, types,
            BosId: Id("tokenizer.ggml.bos_token_id", 1),
            EosId: Id("tokenizer.ggml.eos_token_id", 2),
            UnknownId: Id("tokenizer.ggml.unknown_token_id", 0),
            AddSpacePrefix: gguf.GetBool("tokenizer.ggml.add_space_prefix") ?? true);
        return new SentencePieceTokenizer(vocab, gguf.Path);
    }

    /// <summary>
    /// Byte-level BPE from GGUF metadata (<c>tokenizer.ggml.model = gpt2</c>): tokens, "a b" merges, token types,
    /// the pre-tokenizer named by <c>tokenizer.ggml.pre</c>, BOS/EOS ids and <c>tokenizer.ggml.add_bos_token</c>.
    /// Absent keys take llama.cpp's defaults for BPE vocabularies: no BOS/EOS/unknown id, no BOS added.
    /// </summary>
    internal static ByteLevelBpeTokenizer ByteLevelFromGguf(GgufFile gguf)
    {
        var tokens = gguf.GetStringArray("tokenizer.ggml.tokens")
            ?? throw new TokenizerFormatException($"{gguf.Path}: metadata key 'tokenizer.ggml.tokens' is missing; the tokenizer is incomplete.");
        var merges = gguf.GetStringArray("tokenizer.ggml.merges")
            ?? throw new TokenizerFormatException($"{gguf.Path}: metadata key 'tokenizer.ggml.merges' is missing; a 'gpt2' (byte-level BPE) tokenizer needs its merge rules.");
        var pre = gguf.GetString("tokenizer.ggml.pre");
        int Id(string key) => gguf.GetInt(key) is { } v ? checked((int)v) : -1;
        var vocab = new ByteLevelBpeVocab(
            tokens,
            ByteLevelBpeVocab.ParseMerges(merges, gguf.Path),
            gguf.GetIntArray("tokenizer.ggml.token_type"),
            ByteLevelBpeVocab.PreTokenizerFromGgufName(pre, gguf.Path),
            BosId: Id("tokenizer.ggml.bos_token_id"),
            EosId: Id("tokenizer.ggml.eos_token_id"),
            UnknownId: Id("tokenizer.ggml.unknown_token_id"),
            AddBosByDefault: gguf.GetBool("tokenizer.ggml.add_bos_token") ?? false,
            IgnoreMerges: ByteLevelBpeVocab.GgufIgnoresMerges(pre));
        return new ByteLevelBpeTokenizer(vocab, gguf.Path);
    }

    /// <summary>
    /// The chat template for a model and its tokenizer: tokenizer_config.json beside an explicit tokenizer.json,
    /// else the GGUF's <c>tokenizer.chat_template</c>, else tokenizer_config.json beside the model; then
    /// <see cref="ChatTemplateResolver"/> (ChatML or plain fallback with a warning when missing or unusable).
    /// </summary>
    public static ChatTemplateSelection ResolveChatTemplate(TransformerModel model, ITokenizer tokenizer, string? tokenizerPath)
    {
        var (text, source) = FindChatTemplate(model, tokenizerPath);
        return ChatTemplateResolver.Resolve(text, source, tokenizer);
    }

    private static (string? Text, string Source) FindChatTemplate(TransformerModel model, string? tokenizerPath)
    {
        if (tokenizerPath != null && tokenizerPath.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
        {
            var config = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(tokenizerPath)) ?? ".", "tokenizer_config.json");
            if (File.Exists(config))
                return (ChatTemplate.ReadFromTokenizerConfig(config), config);
        }
        if (model.Gguf is { } gguf && gguf.GetString("tokenizer.chat_template") is { } fromGguf)
            return (fromGguf, gguf.Path + " (tokenizer.chat_template)");
        var beside = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(model.Path)) ?? ".", "tokenizer_config.json");
        if (File.Exists(beside))
            return (ChatTemplate.ReadFromTokenizerConfig(beside), beside);
        return (null, model.Path);
    }
}
