using RagTune.Engine.Formats;
using RagTune.Tokenizers;

namespace RagTune.Models.Creation;

/// <summary>The GGUF metadata our writers share, keyed and ordered as llama.cpp's converters write them.</summary>
internal static class GgufMetadata
{
    /// <summary>The <c>{arch}.*</c> hyperparameters of <paramref name="c"/>.</summary>
    public static void AddHyperparameters(GgufWriter w, Engine.Models.ModelConfig c)
    {
        var a = c.Architecture;
        w.SetUInt32($"{a}.context_length", (uint)c.ContextLength);
        w.SetUInt32($"{a}.embedding_length", (uint)c.Dim);
        w.SetUInt32($"{a}.block_count", (uint)c.Layers);
        w.SetUInt32($"{a}.feed_forward_length", (uint)c.HiddenDim);
        w.SetUInt32($"{a}.attention.head_count", (uint)c.Heads);
        w.SetUInt32($"{a}.attention.head_count_kv", (uint)c.KvHeads);
        w.SetUInt32($"{a}.rope.dimension_count", (uint)c.HeadDim);
        w.SetFloat32($"{a}.rope.freq_base", c.RopeTheta);
        w.SetFloat32($"{a}.attention.layer_norm_rms_epsilon", c.NormEps);
        w.SetUInt32($"{a}.vocab_size", (uint)c.VocabSize);
        if (c.CanonKernel > 0) w.SetUInt32($"{a}.{Engine.Models.GgufModelLoader.CanonKernelKey}", (uint)c.CanonKernel);
    }

    /// <summary>
    /// A SentencePiece ("llama") vocabulary as llama.cpp reads it: pieces, scores, token types, and the fixed
    /// &lt;unk&gt;=0, &lt;s&gt;=1, &lt;/s&gt;=2 ids our vocabularies use, with the space prefix on.
    /// </summary>
    public static void AddSentencePiece(GgufWriter w, string[] tokens, float[] scores, int[] types)
    {
        w.SetString("tokenizer.ggml.model", "llama");
        w.SetStringArray("tokenizer.ggml.tokens", tokens);
        w.SetFloat32Array("tokenizer.ggml.scores", scores);
        w.SetInt32Array("tokenizer.ggml.token_type", types);
        w.SetUInt32("tokenizer.ggml.bos_token_id", 1);
        w.SetUInt32("tokenizer.ggml.eos_token_id", 2);
        w.SetUInt32("tokenizer.ggml.unknown_token_id", 0);
        w.SetBool("tokenizer.ggml.add_space_prefix", true);
    }

    /// <summary>
    /// A byte-level BPE tokenizer as llama.cpp's convert_hf_to_gguf.py writes it, so a converted model runs on its
    /// own (and in llama.cpp): <c>tokenizer.ggml.model</c> "gpt2", tokens, merges, token types, the pre-tokenizer
    /// name, special ids, and the chat template.
    /// </summary>
    public static void AddByteLevel(GgufWriter w, ByteLevelBpeTokenizer tokenizer, string? chatTemplate)
    {
        var v = tokenizer.Vocab;
        var types = new int[v.Tokens.Length];
        for (int i = 0; i < types.Length; i++) types[i] = (int)tokenizer.TokenType(i);
        w.SetString("tokenizer.ggml.model", "gpt2");
        // The names llama.cpp reads back (llama_vocab::impl::load) for each pre-tokenizer RagTune implements.
        w.SetString("tokenizer.ggml.pre", v.PreTokenizer switch
        {
            ByteLevelPreTokenizerKind.Llama3 => "llama-bpe",
            ByteLevelPreTokenizerKind.Qwen2 => "qwen2",
            ByteLevelPreTokenizerKind.DigitsThenGpt2 => "smollm",
            _ => "gpt-2",
        });
        w.SetStringArray("tokenizer.ggml.tokens", v.Tokens);
        w.SetStringArray("tokenizer.ggml.merges", v.Merges.Select(m => m.Left + " " + m.Right).ToArray());
        w.SetInt32Array("tokenizer.ggml.token_type", types);
        if (v.BosId >= 0) w.SetUInt32("tokenizer.ggml.bos_token_id", (uint)v.BosId);
        if (v.EosId >= 0) w.SetUInt32("tokenizer.ggml.eos_token_id", (uint)v.EosId);
        if (v.UnknownId >= 0) w.SetUInt32("tokenizer.ggml.unknown_token_id", (uint)v.UnknownId);
        w.SetBool("tokenizer.ggml.add_bos_token", v.AddBosByDefault);
        if (chatTemplate != null) w.SetString("tokenizer.chat_template", chatTemplate);
    }
}
