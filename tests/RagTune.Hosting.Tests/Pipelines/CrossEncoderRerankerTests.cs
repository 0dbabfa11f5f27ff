using RagTune.Hosting.Pipelines;
using RagTune.Engine.Encoders;
using RagTune.Models.Embeddings;
using RagTune.Rag.Store;
using RagTune.TestKit;

namespace RagTune.Hosting.Tests.Pipelines;

public sealed class CrossEncoderRerankerTests
{
    private static SearchHit Hit(long id, string text, int rank) =>
        new(new StoredChunk(id, "doc" + id, "doc" + id + ".md", "Doc " + id, new Chunk(0, text, 0, text.Length, [], 4),
            new Dictionary<string, string>()), Score: 10 - rank, Rank: rank, Retriever: "bm25");

    [Fact]
    public async Task The_top_candidates_are_ordered_by_the_cross_encoder_and_the_rest_keep_their_place()
    {
        using var dir = new TempDir();
        // A random-weight cross-encoder (one-label head) at a small shape, with a synthetic vocabulary of w0..wN.
        var config = new BertConfig(512, 64, 1, 4, 128, 64, 2, 1e-12f, NumLabels: 1);
        RandomEmbeddingModelWriter.Write(dir.Path, config, seed: 3, f16: false);
        var hits = Enumerable.Range(1, 8).Select(i => Hit(i, $"w{200 + i} w{300 + 2 * i} w{400 + 3 * i}", i)).ToList();

        using var scorer = LocalCrossEncoder.Load(dir.Path, threads: 1);
        var scores = await scorer.ScoreAsync("w201 w302", hits.Take(5).Select(h => h.Chunk.Chunk.Text).ToList());
        var expectedHead = hits.Take(5).Select((h, i) => (h.Chunk.ChunkId, Score: scores[i])).OrderByDescending(x => x.Score).Select(x => x.ChunkId);

        using var reranker = new CrossEncoderReranker(LocalCrossEncoder.Load(dir.Path, threads: 1), candidates: 5);
        var reranked = await reranker.RerankAsync("w201 w302", hits, topN: 7, CancellationToken.None);

        Assert.Equal(7, reranked.Count);
        Assert.Equal(expectedHead.Concat([6L, 7L]), reranked.Select(h => h.Chunk.ChunkId));
        Assert.Equal(Enumerable.Range(1, 7), reranked.Select(h => h.Rank));
        Assert.All(reranked.Take(5), h => Assert.Equal("rerank", h.Retriever));
    }
}
