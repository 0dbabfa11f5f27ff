using RagTune.Engine.Formats;
using RagTune.Engine.Models;
using RagTune.Tokenizers;

namespace RagTune.Models.Local;

/// <summary>A model file opened for local inference: the engine's weights plus the tokenizer that goes with them.</summary>
internal sealed class LocalModel : IDisposable
{
    private LocalModel(TransformerModel engine, ITokenizer tokenizer, string tokenizerSource)
    {
        Engine = engine;
        Tokenizer = tokenizer;
        TokenizerSource = tokenizerSource;
    }

    public TransformerModel Engine { get; }

    public ITokenizer Tokenizer { get; }

    /// <summary>Where the tokenizer came from (the GGUF's metadata or a tokenizer file), for display.</summary>
    public string TokenizerSource { get; }

    /// <summary>A short id: the file name without extension.</summary>
    public string Name => Path.GetFileNameWithoutExtension(Engine.Path);

    /// <summary>
    /// Opens <paramref name="modelPath"/> (GGUF or llama2.c .bin) and its tokenizer: <paramref name="tokenizerPath"/>
    /// when given, else the GGUF's own metadata, else a llama2.c <c>tok{vocab}.bin</c> / <c>tokenizer.bin</c> beside it.
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

    public void Dispose() => Engine.Dispose();
}

/// <summary>Finds and builds the tokenizer for a model; the bridge between GGUF metadata and the tokenizers project.</summary>
internal static class TokenizerLoader
{
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
        throw new TokenizerFormatException(
            $"{model.Path}: no tokenizer found. The file has no tokenizer metadata and there is no tok{model.Config.VocabSize}.bin or tokenizer.bin beside it. Pass one with --tokenizer <file> (a llama2.c tokenizer.bin or a GGUF with tokenizer metadata).");
    }

    public static ITokenizer FromFile(string path, int vocabSize)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Tokenizer file '{path}' does not exist.", path);
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            throw new TokenizerFormatException($"{path}: tokenizer.json files (Hugging Face) are not supported yet; pass a GGUF with tokenizer metadata or a llama2.c tokenizer.bin.");
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

    public static ITokenizer FromGguf(GgufFile gguf)
    {
        var kind = gguf.GetString("tokenizer.ggml.model")
            ?? throw new TokenizerFormatException($"{gguf.Path}: metadata key 'tokenizer.ggml.model' is missing, so the file carries no tokenizer. Pass --tokenizer <file>.");
        if (kind != "llama")
            throw new TokenizerFormatException(
                $"{gguf.Path}: tokenizer model '{kind}' is not supported yet (supported: 'llama', SentencePiece BPE). Byte-level BPE ('gpt2') models such as SmolLM2 and Qwen2 need a later RagTune version.");
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
}
