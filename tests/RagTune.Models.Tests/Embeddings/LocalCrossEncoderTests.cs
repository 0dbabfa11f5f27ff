using RagTune.Engine.Encoders;
using RagTune.Models.Embeddings;
using RagTune.TestKit;

namespace RagTune.Models.Tests.Embeddings;

public sealed class LocalCrossEncoderTests
{
    [Fact]
    public async Task Pair_score_matches_the_torch_reference_and_batches_agree()
    {
        var doc = Golden.Load("bert_random.json");
        var c = doc.GetProperty("config");
        int I(string n) => c.GetProperty(n).GetInt32();
        var config = new BertConfig(I("vocab_size"), I("hidden_size"), I("num_hidden_layers"), I("num_attention_heads"),
            I("intermediate_size"), I("max_position_embeddings"), I("type_vocab_size"), c.GetProperty("layer_norm_eps").GetSingle(), NumLabels: 1);
        var want = Golden.Floats(doc.GetProperty("results").GetProperty("classifier_f32").GetProperty("logits"));
        using var dir = new TempDir();
        RandomEmbeddingModelWriter.Write(dir.Path, config, doc.GetProperty("seed").GetUInt64(), f16: false);

        using var reranker = LocalCrossEncoder.Load(dir.Path, batchSize: 2, threads: 2);
        // Golden input 4 is [CLS] w200 w201 [SEP] w300 w301 w302 [SEP] with segment ids 0…0 1…1.
        var scores = await reranker.ScoreAsync("w200 w201", ["w300 w301 w302", "w555", "w300 w301 w302"]);
        Assert.True(Math.Abs(scores[0] - want[4]) <= 2e-4f, $"{scores[0]} vs {want[4]}");
        Assert.Equal(scores[0], scores[2], 5);
        Assert.NotEqual(scores[0], scores[1]);
    }

    [Fact]
    public void A_plain_encoder_is_not_a_cross_encoder()
    {
        using var dir = new TempDir();
        RandomEmbeddingModelWriter.Write(dir.Path, new BertConfig(128, 32, 1, 2, 64, 16, 2, 1e-12f), 1, f16: false);
        var e = Assert.Throws<EmbeddingModelException>(() => LocalCrossEncoder.Load(dir.Path));
        Assert.Contains("BertForSequenceClassification", e.Message);
    }
}
