using System.Numerics.Tensors;
using RagTune.Rag.Sqlite;

namespace RagTune.Rag.Sqlite.Tests;

public sealed class VectorMatrixTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(37, 5)]
    [InlineData(70_001, 25)] // large enough for the per-core split
    public void TopK_equals_brute_force_with_and_without_a_filter(int rows, int k)
    {
        const int dim = 12;
        var rng = new Random(rows);
        var data = new float[rows * dim];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        for (int r = 0; r < rows; r++) VectorMatrix.Normalize(data.AsSpan(r * dim, dim));
        var ids = Enumerable.Range(0, rows).Select(i => 10L + 3 * i).ToArray();
        var m = new VectorMatrix(1, dim, ids, data);
        var q = StoreData.RandomVector(rng, dim);
        VectorMatrix.Normalize(q);
        var allowed = ids.Where((_, i) => i % 3 == 0).ToHashSet();

        foreach (var filter in new[] { null, allowed })
        {
            var expected = Enumerable.Range(0, rows).Where(r => filter == null || filter.Contains(ids[r]))
                .Select(r => (Id: ids[r], Score: TensorPrimitives.Dot(data.AsSpan(r * dim, dim), q)))
                .OrderByDescending(x => x.Score).ThenBy(x => x.Id).Take(k).ToList();
            var top = m.TopK(q, k, filter);
            Assert.Equal(expected.Select(x => x.Id), top.Select(x => x.Id));
            Assert.Equal(expected.Select(x => x.Score), top.Select(x => x.Score));
        }
        Assert.Empty(m.TopK(q, 0, null));
        Assert.Throws<ArgumentException>(() => m.TopK(new float[dim + 1], 3, null));
    }
}
