using RagTune.Engine.Kernels;
using RagTune.Engine.Threading;
using static RagTune.Engine.Tests.Kernels.KernelTestData;

namespace RagTune.Engine.Tests.Kernels;

[Trait("Category", "Kernels")]
public sealed unsafe class AttentionTests
{
    // Scores go through TensorPrimitives.Dot and Exp (fast) vs plain loops and MathF.Exp (reference).
    private const double Abs = 1e-5, Rel = 1e-4;

    [Theory]
    [InlineData(4, 4, 8)]
    [InlineData(4, 2, 64)]
    [InlineData(9, 3, 64)]     // SmolLM2-135M: 9 query heads share 3 kv heads
    [InlineData(6, 1, 6)]
    public void Forward_MatchesReference(int nHeads, int nKvHeads, int headDim)
    {
        var rng = new Random(40 + headDim);
        foreach (int nPos in new[] { 1, 2, 5, 33, 257 })
        {
            var q = Floats(rng, nHeads * headDim);
            var k = Floats(rng, nPos * nKvHeads * headDim, 2f);
            var v = Floats(rng, nPos * nKvHeads * headDim);
            var fast = new float[nHeads * headDim];
            var reference = new float[nHeads * headDim];
            var scores = new float[nPos];
            Attention.Forward(fast, q, k, v, nPos, nHeads, nKvHeads, headDim, scores);
            Attention.ForwardReference(reference, q, k, v, nPos, nHeads, nKvHeads, headDim, scores);
            AllClose(reference, fast, Abs, Rel, $"H {nHeads} Hkv {nKvHeads} hd {headDim} P {nPos}");
        }
    }

    [Fact]
    public void Forward_OnePosition_ReturnsItsValue()
    {
        float[] q = [1f, 2f];
        float[] k = [3f, 4f];
        float[] v = [5f, 6f];
        var o = new float[2];
        Attention.Forward(o, q, k, v, 1, 1, 1, 2, new float[1]);
        Assert.Equal(v, o);
    }

    [Theory]
    [InlineData(1, 0, 1)]
    [InlineData(1, 12, 2)]
    [InlineData(3, 0, 2)]
    [InlineData(7, 5, 3)]
    public void ForwardBatch_IsCausal_AndMatchesReferencePerToken(int t, int startPos, int threads)
    {
        const int nHeads = 9, nKvHeads = 3, headDim = 16, ctx = 32;
        int qDim = nHeads * headDim, kvDim = nKvHeads * headDim;
        var rng = new Random(50 + t);
        var q = Floats(rng, t * qDim);
        var k = Floats(rng, ctx * kvDim, 2f);
        var v = Floats(rng, ctx * kvDim);
        // Poison positions beyond the last query: a non-causal kernel would pick them up.
        for (int i = (startPos + t) * kvDim; i < ctx * kvDim; i++) { k[i] = float.NaN; v[i] = float.NaN; }
        var output = new float[t * qDim];
        using var pool = new KernelThreadPool(threads);
        var scratch = new float[Attention.ScratchFloats(pool.Threads, ctx)];
        fixed (float* po = output, pq = q, pk = k, pv = v, ps = scratch)
            Attention.ForwardBatch(pool, po, pq, pk, pv, t, startPos, nHeads, nKvHeads, headDim, ps);

        for (int i = 0; i < t; i++)
        {
            int nPos = startPos + i + 1;
            var expected = new float[qDim];
            Attention.ForwardReference(expected, q.AsSpan(i * qDim, qDim), k.AsSpan(0, nPos * kvDim), v.AsSpan(0, nPos * kvDim),
                nPos, nHeads, nKvHeads, headDim, new float[nPos]);
            AllClose(expected, output.AsSpan(i * qDim, qDim), Abs, Rel, $"token {i} at pos {startPos + i}");
        }
    }

    // Packed sequences (as the encoder batches them): every token of each sequence against the reference, over lengths
    // that cover the vector kernel's two-vector, one-vector and scalar tails, and head widths that are and are not a
    // multiple of the vector width. Keys of other sequences are NaN-poisoned: reading across a boundary would show.
    [Theory]
    [InlineData(32, 12)]   // all-MiniLM-L6-v2, snowflake-arctic-embed-xs
    [InlineData(64, 2)]
    [InlineData(12, 3)]
    [InlineData(5, 1)]
    public void BidirectionalHead_MatchesReference_OverSequenceLengths(int headDim, int heads)
    {
        var rng = new Random(60 + headDim);
        int hidden = heads * headDim;
        int[] lengths = [1, 2, 7, 8, 15, 16, 17, 31, 33, 64, 129, 257];
        int t = lengths.Sum();
        var q = Floats(rng, t * hidden);
        var k = Floats(rng, t * hidden, 2f);
        var v = Floats(rng, t * hidden);
        var kt = new float[t * hidden];
        var output = new float[headDim];
        var expected = new float[headDim];
        for (int b = 0, s0 = 0; b < lengths.Length; s0 += lengths[b], b++)
        {
            int len = lengths[b];
            // Poisoned copies: only this sequence's keys and values are real.
            var kp = Enumerable.Repeat(float.NaN, t * hidden).ToArray();
            var vp = Enumerable.Repeat(float.NaN, t * hidden).ToArray();
            Array.Copy(k, s0 * hidden, kp, s0 * hidden, len * hidden);
            Array.Copy(v, s0 * hidden, vp, s0 * hidden, len * hidden);
            fixed (float* pk = kp, pkt = kt) Attention.TransposeKeys(pkt, pk, t, hidden);
            foreach (int tok in new[] { s0, s0 + len / 2, s0 + len - 1 })
                for (int head = 0; head < heads; head++)
                {
                    fixed (float* po = output, pq = q, pkt = kt, pv = vp)
                        Attention.BidirectionalHead(po, pq + tok * hidden + head * headDim, pkt, pv, t, hidden, head, headDim, s0, len, new float[len]);
                    Attention.BidirectionalHeadReference(expected, q.AsSpan(tok * hidden + head * headDim, headDim), kp, vp, hidden, head, headDim, s0, len);
                    AllClose(expected, output, Abs, Rel, $"d {headDim} L {len} token {tok - s0} head {head}");
                }
        }
    }

    [Fact]
    public void TransposeKeys_TransposesEveryRow()
    {
        var rng = new Random(61);
        foreach (int t in new[] { 1, 15, 16, 17, 40 })
        {
            const int hidden = 6;
            var k = Floats(rng, t * hidden);
            var kt = new float[t * hidden];
            fixed (float* pk = k, pkt = kt) Attention.TransposeKeys(pkt, pk, t, hidden);
            for (int r = 0; r < t; r++)
                for (int c = 0; c < hidden; c++)
                    Assert.Equal(k[r * hidden + c], kt[c * t + r]);
        }
    }

    // The encoder's 8-query tile against the per-query reference: every block size 1 … 8 at the start, middle and
    // end of sequences whose lengths cover the 16-key vectors and their scalar tail; head widths of 32 and 64 (the
    // 32-channel value tile), 16 and 48 (the 16-channel one) and 12 (no tile: the per-row kernel). Other sequences'
    // keys and values, and the output beyond the block's rows, are NaN-poisoned / checked untouched.
    [Theory]
    [InlineData(32, 12)]   // all-MiniLM-L6-v2, snowflake-arctic-embed-xs
    [InlineData(64, 2)]
    [InlineData(16, 2)]
    [InlineData(48, 1)]
    [InlineData(12, 3)]
    public void BidirectionalBlock_MatchesReference_ForEveryBlockSize(int headDim, int heads)
    {
        var rng = new Random(70 + headDim);
        int hidden = heads * headDim;
        int[] lengths = [1, 5, 8, 15, 16, 17, 31, 40, 129, 257];
        int t = lengths.Sum();
        var q = Floats(rng, t * hidden);
        var k = Floats(rng, t * hidden, 2f);
        var v = Floats(rng, t * hidden);
        var kt = new float[t * hidden];
        var expected = new float[headDim];
        for (int b = 0, s0 = 0; b < lengths.Length; s0 += lengths[b], b++)
        {
            int len = lengths[b];
            var kp = Enumerable.Repeat(float.NaN, t * hidden).ToArray();
            var vp = Enumerable.Repeat(float.NaN, t * hidden).ToArray();
            Array.Copy(k, s0 * hidden, kp, s0 * hidden, len * hidden);
            Array.Copy(v, s0 * hidden, vp, s0 * hidden, len * hidden);
            fixed (float* pk = kp, pkt = kt) Attention.TransposeKeys(pkt, pk, t, hidden);
            var scores = new float[Attention.BlockRows * Attention.BlockScoreStride(len)];
            for (int rows = 1; rows <= Math.Min(Attention.BlockRows, len); rows++)
                foreach (int first in new[] { s0, s0 + (len - rows) / 2, s0 + len - rows }.Distinct())
                    for (int head = 0; head < heads; head++)
                    {
                        var output = Enumerable.Repeat(float.NaN, t * hidden).ToArray();
                        long at = (long)first * hidden + head * headDim;
                        fixed (float* po = output, pq = q, pkt = kt, pv = vp)
                            Attention.BidirectionalBlock(po + at, pq + at, pkt, pv, t, hidden, head, headDim, s0, len, rows, scores);
                        for (int r = 0; r < rows; r++)
                        {
                            int tok = first + r;
                            Attention.BidirectionalHeadReference(expected, q.AsSpan(tok * hidden + head * headDim, headDim), kp, vp, hidden, head, headDim, s0, len);
                            AllClose(expected, output.AsSpan(tok * hidden + head * headDim, headDim).ToArray(), Abs, Rel,
                                $"d {headDim} L {len} rows {rows} token {tok - s0} head {head}");
                        }
                        // Nothing outside the block's rows of this head was written.
                        int written = 0;
                        for (int i = 0; i < output.Length; i++) if (!float.IsNaN(output[i])) written++;
                        Assert.Equal(rows * headDim, written);
                    }
        }
    }

    [Fact]
    public void BidirectionalBlock_RejectsBadRowsAndShortScratch()
    {
        var buffer = new float[64];
        fixed (float* p = buffer)
        {
            float* f = p;
            Assert.Throws<ArgumentOutOfRangeException>(() => Attention.BidirectionalBlock(f, f, f, f, 4, 4, 0, 4, 0, 4, 0, new float[128]));
            Assert.Throws<ArgumentOutOfRangeException>(() => Attention.BidirectionalBlock(f, f, f, f, 4, 4, 0, 4, 0, 4, 9, new float[128]));
            Assert.Throws<ArgumentException>(() => Attention.BidirectionalBlock(f, f, f, f, 4, 4, 0, 4, 0, 4, 2, new float[127]));
        }
    }
}
