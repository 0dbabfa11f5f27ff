using System.Numerics.Tensors;

namespace RagTune.Rag.Sqlite;

// Dimension legend
//   N   rows (stored vectors)
//   D   dimensions
//   k   results asked for
//
// The int8 scan reads a quarter of the bytes of the float scan, and the float scan is bound by memory bandwidth
// (100k x 384 floats = 147 MiB a query). It is a filter, not an approximation: every row gets an interval that
// surely holds its exact (float) score, the k-th best lower end is a threshold, and only rows whose upper end
// reaches it are scored again in float, so the result is the exact path's result (same rows, same float scores,
// same order). Row x = s·x̂ + e (x̂ int8, |x̂| ≤ 127), query q = t·q̂ + f:
//   x·q = s·t·(x̂·q̂) + x·f + e·(t·q̂),  |x·f| ≤ ‖x‖·‖f‖,  |e·(t·q̂)| ≤ ‖e‖·‖t·q̂‖   (Cauchy–Schwarz)
// plus the rounding of the float dot itself, ≤ D·2^-23·‖x‖·‖q‖ (twice the classic γ_D bound, u = 2^-24).

internal sealed partial class VectorMatrix
{
    private readonly object _int8Lock = new();
    private Int8Rows? _int8;

    /// <summary>
    /// The same result as <see cref="TopK"/> (same rows, scores and order), found by an int8 pass over all rows and
    /// a float pass over the rows the int8 scores cannot rule out; <paramref name="rescored"/> counts those.
    /// </summary>
    public List<(long Id, float Score)> TopKInt8Filtered(ReadOnlySpan<float> query, int k, HashSet<long>? allowed, out int rescored)
    {
        if (query.Length != Dimensions) throw new ArgumentException($"Query vector has {query.Length} dimensions; the collection's have {Dimensions}.");
        rescored = 0;
        if (k <= 0 || Count == 0) return [];
        if (Dimensions > Int8Dot.MaxLength || k >= Count)
        {
            rescored = Count; // nothing to rule out: the float scan scores every row
            return TopK(query, k, allowed);
        }
        var rows = GetInt8Rows();
        var q = query.ToArray();
        var qi = new sbyte[Dimensions];
        var (qScale, qError, qNorm) = Int8Rows.Quantize(q, qi);
        var probe = new Probe(q, qi, qScale, qError, qScale * Norm(qi), qNorm);

        int parts = Count >= ParallelRows ? Math.Min(Environment.ProcessorCount, Count / (ParallelRows / 4)) : 1;
        var slices = new SliceResult[parts];
        if (parts == 1) slices[0] = ScanInt8(rows, probe, k, allowed, 0, Count);
        else
            Parallel.For(0, parts, p =>
            {
                int from = (int)((long)Count * p / parts), to = (int)((long)Count * (p + 1) / parts);
                slices[p] = ScanInt8(rows, probe, k, allowed, from, to);
            });

        // The k-th best lower end over all rows (−∞ when fewer than k rows are allowed: every one is rescored).
        var lows = slices.SelectMany(s => s.Lows).OrderByDescending(x => x).ToList();
        double threshold = lows.Count >= k ? lows[k - 1] : double.NegativeInfinity;
        var data = Data.AsSpan();
        var heap = new PriorityQueue<int, (float Score, long NegId)>(k + 1);
        foreach (var slice in slices)
            foreach (var (row, high) in slice.Candidates)
            {
                if (high < threshold) continue;
                rescored++;
                float s = TensorPrimitives.Dot(data.Slice(row * Dimensions, Dimensions), q);
                var key = (s, -Ids[row]);
                if (heap.Count < k) heap.Enqueue(row, key);
                else if (heap.TryPeek(out _, out var weakest) && key.CompareTo(weakest) > 0) heap.EnqueueDequeue(row, key);
            }
        var result = new List<(long Id, float Score)>(heap.Count);
        while (heap.TryDequeue(out int r, out var key)) result.Add((Ids[r], key.Score));
        result.Reverse();
        return result;
    }

    private SliceResult ScanInt8(Int8Rows rows, Probe probe, int k, HashSet<long>? allowed, int from, int to)
    {
        var lows = new PriorityQueue<double, double>(k + 1); // min-heap of the best k lower ends
        var candidates = new List<(int Row, double High)>();
        var values = rows.Values.AsSpan();
        double roundingPerNorm = Dimensions * (1.0 / (1 << 23)) * probe.Norm;
        double threshold = double.NegativeInfinity; // only rises: a row below it now is below the final one too
        for (int i = from; i < to; i++)
        {
            if (allowed != null && !allowed.Contains(Ids[i])) continue;
            double approx = (double)rows.Scale[i] * probe.Scale * Int8Dot.Dot(values.Slice(i * Dimensions, Dimensions), probe.Values);
            double norm = rows.Norm[i];
            double bound = norm * probe.Error + rows.Error[i] * probe.QuantizedNorm + roundingPerNorm * norm;
            double low = approx - bound, high = approx + bound;
            if (high >= threshold) candidates.Add((i, high));
            if (lows.Count < k) lows.Enqueue(low, low);
            else if (low > threshold) lows.EnqueueDequeue(low, low);
            if (lows.Count == k) threshold = lows.Peek();
        }
        var kept = new List<double>(lows.Count);
        while (lows.TryDequeue(out var low, out _)) kept.Add(low);
        return new SliceResult(kept, candidates);
    }

    private Int8Rows GetInt8Rows()
    {
        lock (_int8Lock) return _int8 ??= Int8Rows.Build(Data, Count, Dimensions);
    }

    private static double Norm(ReadOnlySpan<sbyte> v)
    {
        double s = 0;
        foreach (var x in v) s += x * x;
        return Math.Sqrt(s);
    }

    private sealed record Probe(float[] Query, sbyte[] Values, double Scale, double Error, double QuantizedNorm, double Norm);

    private sealed record SliceResult(List<double> Lows, List<(int Row, double High)> Candidates);

    /// <summary>Every row quantized to int8 with one scale per row, and what the bound needs of each row.</summary>
    private sealed class Int8Rows
    {
        public required sbyte[] Values { get; init; }  // [N, D] round(x / s), in [-127, 127]
        public required float[] Scale { get; init; }   // [N] s = max|x| / 127
        public required double[] Error { get; init; }  // [N] ‖x − s·x̂‖, rounded up
        public required double[] Norm { get; init; }   // [N] ‖x‖, rounded up

        public static Int8Rows Build(float[] data, int n, int dims)
        {
            var rows = new Int8Rows { Values = new sbyte[(long)n * dims], Scale = new float[n], Error = new double[n], Norm = new double[n] };
            for (int r = 0; r < n; r++)
            {
                var (scale, error, norm) = Quantize(data.AsSpan(r * dims, dims), rows.Values.AsSpan(r * dims, dims));
                rows.Scale[r] = (float)scale;
                rows.Error[r] = error;
                rows.Norm[r] = norm;
            }
            return rows;
        }

        /// <summary>
        /// x̂ = round(x / s) with s = max|x| / 127 (as a float, the scale that is stored), and the error norm
        /// ‖x − s·x̂‖ and norm ‖x‖, each computed in double and rounded up by a relative 1e-9 so rounding cannot
        /// make the bound too small.
        /// </summary>
        public static (double Scale, double Error, double Norm) Quantize(ReadOnlySpan<float> x, Span<sbyte> q)
        {
            float max = Math.Abs(TensorPrimitives.MaxMagnitude(x)); // MaxMagnitude keeps the sign
            if (!(max > 0)) { q.Clear(); return (0, 0, 0); } // a zero row scores 0 exactly
            double scale = (float)(max / 127f);
            double error = 0, norm = 0;
            for (int i = 0; i < x.Length; i++)
            {
                double v = Math.Clamp(Math.Round(x[i] / scale), -127, 127);
                q[i] = (sbyte)v;
                double e = x[i] - scale * v;
                error += e * e;
                norm += (double)x[i] * x[i];
            }
            return (scale, Math.Sqrt(error) * (1 + 1e-9), Math.Sqrt(norm) * (1 + 1e-9));
        }
    }
}
