using RagTune.Engine.Formats;
using RagTune.Engine.Kernels;

namespace RagTune.Engine.Models;

/// <summary>
/// Maps a llama2.c legacy (v0) checkpoint onto engine weights. llama2.c files carry no hyperparameters beyond
/// the 7-int header, so the rest are llama2.c's fixed choices (RMSNorm eps 1e-5, RoPE theta 10000).
/// </summary>
internal static class LlamaCModelLoader
{
    public static TransformerModel Load(string path)
    {
        var ckpt = LlamaCCheckpoint.Open(path);
        try
        {
            var h = ckpt.Config;
            var config = new ModelConfig("llama", h.Dim, h.HiddenDim, h.NLayers, h.NHeads, h.NKvHeads, h.VocabSize, h.SeqLen,
                RopeTheta: 10000f, NormEps: 1e-5f, Rope: RopeMode.Normal);
            config.Validate(path);
            var w = new ModelWeights
            {
                TokenEmbedding = ckpt.Get("token_embedding_table"),
                OutputNorm = ckpt.Get("rms_final_weight"),
                Layers = new LayerWeights[h.NLayers],
                TiedOutput = h.SharedClassifier,
            };
            w.Output = h.SharedClassifier ? w.TokenEmbedding : ckpt.Get("wcls");
            for (int i = 0; i < h.NLayers; i++)
            {
                w.Layers[i] = new LayerWeights
                {
                    AttnNorm = ckpt.Get("rms_att_weight", i),
                    Wq = ckpt.Get("wq", i),
                    Wk = ckpt.Get("wk", i),
                    Wv = ckpt.Get("wv", i),
                    Wo = ckpt.Get("wo", i),
                    FfnNorm = ckpt.Get("rms_ffn_weight", i),
                    Gate = ckpt.Get("w1", i),
                    Down = ckpt.Get("w2", i),
                    Up = ckpt.Get("w3", i),
                };
            }
            return new TransformerModel(path, config, w, ckpt, gguf: null);
        }
        catch
        {
            ckpt.Dispose();
            throw;
        }
    }
}
