using RagTune.Engine.Formats;
using RagTune.Tokenizers;

namespace RagTune.Models.Creation;

/// <summary>
/// Writes a tokenizer into GGUF metadata the way llama.cpp's convert_hf_to_gguf.py does, so a converted model runs
/// on its own (and in llama.cpp): <c>tokenizer.ggml.model</c> "gpt2", tokens, merges, token types, the
/// pre-tokenizer name, special ids, and the chat template.
/// </summary>
internal static class GgufTokenizerMetadata
{
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
