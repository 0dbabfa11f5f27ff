using System.Numerics.Tensors;
using RagTune.Rag.Sqlite;
using RagTune.TestKit.Stores;

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

    [Theory]
    [InlineData(1, 1, 12)]
    [InlineData(37, 5, 12)]
    [InlineData(500, 10, 384)]
    [InlineData(5_000, 50, 33)]
    [InlineData(70_001, 25, 12)] // large enough for the per-core split
    public void Int8_filtered_top_k_equals_the_float_scan(int rows, int k, int dim)
    {
        var rng = new Random(rows + dim);
        var data = new float[rows * dim];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        for (int r = 0; r < rows; r++) VectorMatrix.Normalize(data.AsSpan(r * dim, dim));
        if (rows > 10) // duplicates, near-duplicates and a zero row: ties and tight intervals
        {
            data.AsSpan(0, dim).CopyTo(data.AsSpan(dim, dim));
            data.AsSpan(0, dim).CopyTo(data.AsSpan(2 * dim, dim));
            data[2 * dim] += 1e-7f;
            data.AsSpan(3 * dim, dim).Clear();
        }
        var ids = Enumerable.Range(0, rows).Select(i => 10L + 3 * i).ToArray();
        var m = new VectorMatrix(1, dim, ids, data);
        var allowed = ids.Where((_, i) => i % 3 == 0).ToHashSet();
        for (int t = 0; t < 4; t++)
        {
            // Random queries, and a stored row itself (its neighbours are the tightest case).
            var q = t == 0 && rows > 10 ? data.AsSpan(0, dim).ToArray() : StoreData.RandomVector(rng, dim);
            VectorMatrix.Normalize(q);
            foreach (var filter in new[] { null, allowed })
            {
                var exact = m.TopK(q, k, filter);
                var fast = m.TopKInt8Filtered(q, k, filter, out int rescored);
                Assert.Equal(exact, fast);
                Assert.InRange(rescored, exact.Count, rows);
            }
        }
        Assert.Empty(m.TopKInt8Filtered(new float[dim], 0, null, out _));
        Assert.Throws<ArgumentException>(() => m.TopKInt8Filtered(new float[dim + 1], 3, null, out _));
    }

    [Fact]
    public void Int8_filter_rescoring_few_rows_on_random_unit_vectors()
    {
        const int rows = 20_000, dim = 384;
        var rng = new Random(5);
        var data = new float[rows * dim];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
        for (int r = 0; r < rows; r++) VectorMatrix.Normalize(data.AsSpan(r * dim, dim));
        var m = new VectorMatrix(1, dim, Enumerable.Range(0, rows).Select(i => (long)i).ToArray(), data);
        var q = StoreData.RandomVector(rng, dim);
        VectorMatrix.Normalize(q);
        m.TopKInt8Filtered(q, 50, null, out int rescored);
        Assert.InRange(rescored, 50, rows / 20); // the filter must rule out most rows, or it only adds work
    }
}
