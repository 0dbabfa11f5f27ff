using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace RagTune.Rag.Sqlite;

/// <summary>
/// Every stored vector of a collection in one contiguous array (row i = chunk <see cref="Ids"/>[i]), for exact
/// search: vectors are L2-normalised at write, so cosine similarity is one dot product per row.
/// 100k x 384 floats is 147 MiB and one pass of dot products over it takes milliseconds.
/// </summary>
internal sealed partial class VectorMatrix
{
    public VectorMatrix(long writeVersion, int dimensions, long[] ids, float[] data)
    {
        WriteVersion = writeVersion;
        Dimensions = dimensions;
        Ids = ids;
        Data = data;
    }

    /// <summary>The collection's write version this matrix was read at.</summary>
    public long WriteVersion { get; }
    public int Dimensions { get; }
    public long[] Ids { get; }   // [N]
    public float[] Data { get; } // [N, Dimensions]
    public int Count => Ids.Length;

    /// <summary>Scales <paramref name="v"/> to unit length in place (a zero vector stays zero).</summary>
    public static void Normalize(Span<float> v)
    {
        float norm = TensorPrimitives.Norm(v);
        if (norm > 0) TensorPrimitives.Divide(v, norm, v);
    }

    public static byte[] ToBlob(ReadOnlySpan<float> v) => MemoryMarshal.AsBytes(v).ToArray();

    /// <summary>
    /// The <paramref name="k"/> rows with the highest dot product with <paramref name="query"/> (unit length),
    /// best first; ties go to the lower chunk id. Rows whose id is not in <paramref name="allowed"/> are skipped.
    /// </summary>
    public List<(long Id, float Score)> TopK(ReadOnlySpan<float> query, int k, HashSet<long>? allowed)
    {
        if (query.Length != Dimensions) throw new ArgumentException($"Query vector has {query.Length} dimensions; the collection's have {Dimensions}.");
        if (k <= 0 || Count == 0) return [];

        // Large matrices are split into one slice per core, each keeping its own best k; the slices' winners are merged.
        int parts = Count >= ParallelRows ? Math.Min(Environment.ProcessorCount, Count / (ParallelRows / 4)) : 1;
        var q = query.ToArray();
        var partial = new List<(int Row, (float Score, long NegId) Key)>[parts];
        if (parts == 1) partial[0] = TopKRows(q, k, allowed, 0, Count);
        else
            Parallel.For(0, parts, p =>
            {
                int from = (int)((long)Count * p / parts), to = (int)((long)Count * (p + 1) / parts);
                partial[p] = TopKRows(q, k, allowed, from, to);
            });
        return partial.SelectMany(x => x).OrderByDescending(x => x.Key).Take(k).Select(x => (Ids[x.Row], x.Key.Score)).ToList();
    }

    /// <summary>Below this many rows one thread is faster than fanning out.</summary>
    private const int ParallelRows = 32_768;

    private List<(int Row, (float Score, long NegId) Key)> TopKRows(float[] query, int k, HashSet<long>? allowed, int from, int to)
    {
        // Min-heap of the best k so far: the root is the weakest kept row; ties prefer the lower chunk id.
        var heap = new PriorityQueue<int, (float Score, long NegId)>(k + 1);
        var data = Data.AsSpan();
        for (int i = from; i < to; i++)
        {
            if (allowed != null && !allowed.Contains(Ids[i])) continue;
            float s = TensorPrimitives.Dot(data.Slice(i * Dimensions, Dimensions), query);
            var key = (s, -Ids[i]);
            if (heap.Count < k) heap.Enqueue(i, key);
            else if (heap.TryPeek(out _, out var weakest) && key.CompareTo(weakest) > 0) heap.EnqueueDequeue(i, key);
        }
        var result = new List<(int, (float, long))>(heap.Count);
        while (heap.TryDequeue(out int row, out var key)) result.Add((row, key));
        return result;
    }
}
