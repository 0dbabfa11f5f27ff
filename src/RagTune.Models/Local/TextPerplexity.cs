using RagTune.Engine.Models;

namespace RagTune.Models.Local;

/// <summary>Perplexity of text under a local model: exp of the mean next-token negative log-likelihood.</summary>
public static class TextPerplexity
{
    /// <summary>
    /// BOS + the text's tokens, cut to the context length; every position predicts the next token. Computed with the
    /// log-sum-exp of each row of logits, in double precision.
    /// </summary>
    public static double Of(LocalModel model, string text, int threads)
    {
        var tokens = model.Tokenizer.Encode(text, addBos: true).ToArray();
        int n = Math.Min(tokens.Length, model.Engine.Config.ContextLength);
        if (n < 2) throw new ArgumentException("The forgetting text is too short to measure perplexity: give at least a sentence.");
        int v = model.Engine.Config.VocabSize;
        var logits = new float[(long)n * v];
        using var session = new InferenceSession(model.Engine, new SessionOptions(n, Threads: threads)) { Adapter = model.Adapter };
        session.ForwardAll(tokens.AsSpan(0, n), logits);
        double nll = 0;
        for (int t = 0; t < n - 1; t++)
        {
            var row = logits.AsSpan(t * v, v);
            float max = float.NegativeInfinity;
            foreach (var x in row) max = Math.Max(max, x);
            double sum = 0;
            foreach (var x in row) sum += Math.Exp(x - max);
            nll += max + Math.Log(sum) - row[tokens[t + 1]];
        }
        return Math.Exp(nll / (n - 1));
    }
}
