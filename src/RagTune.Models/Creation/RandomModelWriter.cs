using RagTune.Engine.Formats;
using RagTune.Engine.Models;
using RagTune.Engine.Tensors;

namespace RagTune.Models.Creation;

/// <summary>
/// Writes a GGUF model (or a Hugging Face folder) with random weights at a real shape, with a synthetic SentencePiece vocabulary, so
/// every code path (loading, tokenizing, generating, quantized kernels) runs at real sizes without real weights.
/// The same preset, type and seed always give the same bytes.
/// </summary>
public static class RandomModelWriter
{
    private enum Kind { Matrix, Norm, Bias, Canon }

    private sealed record PlannedTensor(string Name, int Rows, int Cols, Kind Kind, ulong Seed);

    /// <summary>
    /// Writes the model; returns the number of matrices stored in a fallback type (F32, or Q8_0 for K-quants)
    /// because their width is not a whole number of blocks. <paramref name="mediumMix"/> (with Q4_K) writes
    /// llama.cpp's Q4_K_M mix (see <see cref="KQuantMix"/>). <paramref name="chatMl"/> gives the vocabulary ChatML's
    /// control tokens (<c>&lt;|im_start|&gt;</c>, <c>&lt;|im_end|&gt;</c>, the last two ids) and stores the ChatML template
    /// as <c>tokenizer.chat_template</c>, as a Qwen2 file carries it. <paramref name="vocab"/> replaces the synthetic
    /// vocabulary with one learned from a corpus (its size must be the preset's vocabulary size).
    /// </summary>
    public static int Write(ModelPreset preset, GgmlType type, ulong seed, string outPath, bool mediumMix = false, bool chatMl = false, CorpusVocab? vocab = null, float canonStd = 0.2f)
    {
        if (vocab != null && vocab.Tokens.Length != preset.Config.VocabSize)
            throw new ArgumentException($"The vocabulary has {vocab.Tokens.Length} tokens but the preset '{preset.Name}' has vocab_size {preset.Config.VocabSize}; set the preset's size from the vocabulary.", nameof(vocab));
        if (vocab != null && chatMl) throw new ArgumentException("A corpus vocabulary has no ChatML control tokens; write it without chatMl.", nameof(chatMl));
        var traits = GgmlTypes.Traits(type);
        if (!traits.Supported)
            throw new ArgumentException($"Type '{traits.Name}' cannot be written yet; choose f32, f16, bf16, q8_0, q4_0, q4_k, q5_k or q6_k.", nameof(type));
        var c = preset.Config;
        var a = c.Architecture;
        var w = new GgufWriter();
        w.SetString("general.architecture", a);
        w.SetString("general.name", $"ragtune-random-{preset.Name}");
        w.SetString("general.description", $"Random weights (seed {seed}) at the shape of {preset.Source}; not a trained model.");
        GgufMetadata.AddHyperparameters(w, c);
        if (vocab != null) vocab.AddTo(w);
        else SyntheticVocab.AddTo(w, c.VocabSize, chatMl ? SyntheticVocab.ChatMlControls : []);
        if (chatMl) w.SetString("tokenizer.chat_template", Tokenizers.ChatTemplates.ChatTemplate.ChatMl.Text);

        int fallbacks = 0;
        foreach (var t in Plan(preset, seed))
        {
            if (t.Kind == Kind.Canon)
            {
                // Always F32: the canon layer is a handful of values per channel, read as floats.
                w.AddTensor(t.Name, GgmlType.F32, [t.Cols, t.Rows], stream => WriteTensor(stream, GgmlType.F32, t, canonStd));
                continue;
            }
            if (t.Kind != Kind.Matrix)
            {
                w.AddTensor(t.Name, GgmlType.F32, [t.Cols], stream => WriteTensor(stream, GgmlType.F32, t));
                continue;
            }
            var want = KQuantMix.Choose(t.Name, type, mediumMix, c.Layers, preset.TiedOutput);
            var tt = KQuantMix.Fallback(want, t.Cols);
            if (tt != want) fallbacks++;
            w.AddTensor(t.Name, tt, [t.Cols, t.Rows], stream => WriteTensor(stream, tt, t));
        }
        if (c.RopeScaling is { } scaling)
            AddRopeFreqs(w, c, scaling);
        w.Write(outPath);
        return fallbacks;
    }

    /// <summary>
    /// llama.cpp's <c>rope_freqs.weight</c> for Llama 3 scaling: the per-pair frequency divisors, [headDim/2] f32
    /// (convert_hf_to_gguf.py's LlamaModel.generate_extra_tensors).
    /// </summary>
    internal static void AddRopeFreqs(GgufWriter w, ModelConfig c, RopeScaling scaling)
    {
        var divisors = scaling.FrequencyDivisors(c.HeadDim, c.RopeTheta);
        w.AddTensor(GgufModelLoader.RopeFreqsTensor, GgmlType.F32, [divisors.Length], System.Runtime.InteropServices.MemoryMarshal.AsBytes(divisors.AsSpan()));
    }

    /// <summary>
    /// Writes the model as a Hugging Face folder (config.json + model.safetensors) in <paramref name="type"/>
    /// (f32, f16 or bf16, every tensor, as HF checkpoints store norms in the model dtype). No tokenizer is written.
    /// </summary>
    public static void WriteHuggingFace(ModelPreset preset, GgmlType type, ulong seed, string folder)
    {
        if (preset.Config.CanonKernel > 0)
            throw new NotSupportedException($"Preset '{preset.Name}' has a canon layer, which only RagTune's GGUF files carry; write it as GGUF.");
        var dtype = SafetensorsFile.DtypeName(type);
        Directory.CreateDirectory(folder);
        var st = new SafetensorsWriter();
        st.SetMetadata("format", "pt");
        foreach (var t in Plan(preset, seed))
        {
            var hfName = HuggingFaceNames.ToHf(t.Name)!;
            st.AddTensor(hfName, type, t.Kind == Kind.Matrix ? [t.Rows, t.Cols] : [t.Cols], stream => WriteTensor(stream, type, t));
        }
        st.Write(Path.Combine(folder, SafetensorsShards.SingleFileName));
        string torchDtype = type switch { GgmlType.F16 => "float16", GgmlType.BF16 => "bfloat16", _ => "float32" };
        SafetensorsWriter.WriteText(Path.Combine(folder, HuggingFaceConfig.FileName),
            HuggingFaceConfig.Render(preset.Config, preset.TiedOutput, torchDtype, bosTokenId: 1, eosTokenId: 2));
    }

    // The tensors of a preset in write order with their seeds; llama's order and seeds are fixed by the golden files.
    private static List<PlannedTensor> Plan(ModelPreset preset, ulong seed)
    {
        var c = preset.Config;
        bool bias = c.Family.HasQkvBias;
        var plan = new List<PlannedTensor>();
        int index = 0;
        void Add(string name, int rows, int cols, Kind kind) =>
            plan.Add(new PlannedTensor(name, rows, cols, kind, seed * 0x9E3779B97F4A7C15UL + (ulong)index++));

        Add("token_embd.weight", c.VocabSize, c.Dim, Kind.Matrix);
        for (int i = 0; i < c.Layers; i++)
        {
            string p = $"blk.{i}.";
            Add(p + "attn_norm.weight", 1, c.Dim, Kind.Norm);
            Add(p + "attn_q.weight", c.QDim, c.Dim, Kind.Matrix);
            Add(p + "attn_k.weight", c.KvDim, c.Dim, Kind.Matrix);
            Add(p + "attn_v.weight", c.KvDim, c.Dim, Kind.Matrix);
            if (bias)
            {
                Add(p + "attn_q.bias", 1, c.QDim, Kind.Bias);
                Add(p + "attn_k.bias", 1, c.KvDim, Kind.Bias);
                Add(p + "attn_v.bias", 1, c.KvDim, Kind.Bias);
            }
            Add(p + "attn_output.weight", c.Dim, c.QDim, Kind.Matrix);
            Add(p + "ffn_norm.weight", 1, c.Dim, Kind.Norm);
            Add(p + "ffn_gate.weight", c.HiddenDim, c.Dim, Kind.Matrix);
            Add(p + "ffn_up.weight", c.HiddenDim, c.Dim, Kind.Matrix);
            Add(p + "ffn_down.weight", c.Dim, c.HiddenDim, Kind.Matrix);
        }
        Add("output_norm.weight", 1, c.Dim, Kind.Norm);
        if (!preset.TiedOutput) Add("output.weight", c.VocabSize, c.Dim, Kind.Matrix);
        // Last, so models without a canon layer keep every tensor's seed.
        for (int i = 0; i < c.Layers && c.CanonKernel > 0; i++)
            Add(Engine.Models.GgufModelLoader.CanonTensor(i), c.CanonKernel, c.Dim, Kind.Canon);
        return plan;
    }

    private static void WriteTensor(Stream stream, GgmlType type, PlannedTensor t, float canonStd = 0f)
    {
        switch (t.Kind)
        {
            case Kind.Matrix: WriteRows(stream, type, t.Rows, t.Cols, t.Seed, mean: 0f, std: 1f / MathF.Sqrt(t.Cols)); break;
            // Norm gains near 1 (not exactly 1) so a test notices when they are ignored.
            case Kind.Norm: WriteRows(stream, type, 1, t.Cols, t.Seed, mean: 1f, std: 0.1f); break;
            // Small lag weights: the layer stays close to its identity start but a test still sees it.
            case Kind.Canon: WriteRows(stream, type, t.Rows, t.Cols, t.Seed, mean: 0f, std: canonStd); break;
            // Biases large enough to move the logits visibly when dropped.
            default: WriteRows(stream, type, 1, t.Cols, t.Seed, mean: 0f, std: 0.5f); break;
        }
    }

    private static void WriteRows(Stream stream, GgmlType type, int rows, int cols, ulong seed, float mean, float std)
    {
        var rng = new NormalRandom(seed);
        var row = new float[cols];
        var bytes = new byte[GgmlTypes.Traits(type).RowBytes(cols)];
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < cols; j++) row[j] = mean + std * rng.Next();
            GgmlRows.Quantize(type, row, bytes);
            stream.Write(bytes);
        }
    }

    /// <summary>Seeded normal variates (xorshift64* + Box–Muller): deterministic on every platform.</summary>
    private sealed class NormalRandom(ulong seed)
    {
        private ulong _state = seed == 0 ? 0x2545F4914F6CDD1DUL : seed;
        private float _spare;
        private bool _hasSpare;

        public float Next()
        {
            if (_hasSpare) { _hasSpare = false; return _spare; }
            double u1 = (NextBits() + 1.0) / 9007199254740993.0; // (0, 1]
            double u2 = NextBits() / 9007199254740992.0;
            double mag = Math.Sqrt(-2.0 * Math.Log(u1));
            _spare = (float)(mag * Math.Sin(2 * Math.PI * u2));
            _hasSpare = true;
            return (float)(mag * Math.Cos(2 * Math.PI * u2));
        }

        private ulong NextBits()
        {
            _state ^= _state >> 12; _state ^= _state << 25; _state ^= _state >> 27;
            return (_state * 0x2545F4914F6CDD1DUL) >> 11;
        }
    }
}

/// <summary>
/// A deterministic SentencePiece-style vocabulary for random models: &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, the 256 byte
/// tokens, then lowercase pieces of growing length (each with and without the '▁' word marker), scored so
/// shorter pieces merge first. Any text tokenizes (byte fallback) and lowercase words merge into pieces.
/// </summary>
internal static class SyntheticVocab
{
    /// <summary>ChatML's turn markers, written as control tokens at the end of the vocabulary.</summary>
    public static readonly string[] ChatMlControls = ["<|im_start|>", "<|im_end|>"];

    public static void AddTo(GgufWriter w, int vocabSize) => AddTo(w, vocabSize, []);

    /// <summary>As <see cref="AddTo(GgufWriter, int)"/>, with <paramref name="controls"/> replacing the last ids as control tokens.</summary>
    public static void AddTo(GgufWriter w, int vocabSize, string[] controls)
    {
        if (vocabSize < 259) throw new ArgumentException($"A random model needs a vocabulary of at least 259 tokens (3 control + 256 bytes), got {vocabSize}.");
        var tokens = new string[vocabSize];
        var scores = new float[vocabSize];
        var types = new int[vocabSize];
        tokens[0] = "<unk>"; types[0] = 2;
        tokens[1] = "<s>"; types[1] = 3;
        tokens[2] = "</s>"; types[2] = 3;
        for (int b = 0; b < 256; b++) { tokens[3 + b] = $"<0x{b:X2}>"; types[3 + b] = 6; }
        int n = 259;
        foreach (var piece in Pieces())
        {
            if (n == vocabSize) break;
            tokens[n] = piece;
            scores[n] = -(n - 259);
            types[n] = 1;
            n++;
        }
        for (int i = 0; i < controls.Length; i++)
        {
            int id = vocabSize - controls.Length + i;
            tokens[id] = controls[i];
            scores[id] = 0;
            types[id] = 3;
        }
        GgufMetadata.AddSentencePiece(w, tokens, scores, types);
    }

    private static IEnumerable<string> Pieces()
    {
        yield return "\u2581";
        const string punct = ".,!?'\"-:;()";
        foreach (var ch in punct) yield return ch.ToString();
        for (char d = '0'; d <= '9'; d++) yield return d.ToString();
        for (int len = 1; ; len++)
        {
            var buf = new char[len];
            long count = (long)Math.Pow(26, len);
            for (long i = 0; i < count; i++)
            {
                long x = i;
                for (int k = len - 1; k >= 0; k--) { buf[k] = (char)('a' + x % 26); x /= 26; }
                var s = new string(buf);
                yield return s;
                yield return "\u2581" + s;
                if (len == 1) yield return char.ToUpperInvariant(buf[0]).ToString();
            }
        }
    }
}

/// <summary>
/// Per-tensor types for K-quant files, and the fallback for rows that are not a whole number of blocks.
/// <para>
/// The "medium" mix follows llama.cpp's LLAMA_FTYPE_MOSTLY_Q4_K_M (llama-quant.cpp), simplified: every matrix is
/// Q4_K except <c>output.weight</c> (or <c>token_embd.weight</c> when the output is tied to it), which is Q6_K, and
/// <c>attn_v.weight</c> / <c>ffn_down.weight</c> of the layers llama.cpp's use_more_bits picks (the first and last
/// eighth of the layers and every third layer between; about half of a small model's layers), which are Q6_K.
/// llama.cpp's extra special cases (GQA-dependent attn_v, MoE experts, Falcon) are not reproduced.
/// </para>
/// <para>
/// Fallback: a K-quant row needs a multiple of 256 values; narrower or ragged rows are stored as Q8_0 when they
/// are a multiple of 32 (llama.cpp also falls back to a 32-block type) and F32 otherwise. Other types fall back to F32.
/// </para>
/// </summary>
internal static class KQuantMix
{
    public static bool UseMoreBits(int layer, int layers) =>
        layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;

    public static GgmlType Choose(string name, GgmlType type, bool mediumMix, int layers, bool tiedOutput)
    {
        if (!mediumMix || type != GgmlType.Q4_K) return type;
        if (name == "output.weight" || (tiedOutput && name == "token_embd.weight")) return GgmlType.Q6_K;
        if (name.StartsWith("blk.", StringComparison.Ordinal) && (name.EndsWith(".attn_v.weight", StringComparison.Ordinal) || name.EndsWith(".ffn_down.weight", StringComparison.Ordinal)))
        {
            int layer = int.Parse(name.AsSpan(4, name.IndexOf('.', 4) - 4), System.Globalization.CultureInfo.InvariantCulture);
            if (UseMoreBits(layer, layers)) return GgmlType.Q6_K;
        }
        return type;
    }

    public static GgmlType Fallback(GgmlType type, int cols)
    {
        if (cols % GgmlTypes.Traits(type).BlockSize == 0) return type;
        if (type is GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K && cols % GgmlTypes.Traits(GgmlType.Q8_0).BlockSize == 0) return GgmlType.Q8_0;
        return GgmlType.F32;
    }
}
