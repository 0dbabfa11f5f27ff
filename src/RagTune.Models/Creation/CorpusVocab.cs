using RagTune.Engine.Formats;

namespace RagTune.Models.Creation;

/// <summary>
/// A SentencePiece ('llama') vocabulary learned from a corpus: &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, the 256 byte tokens (so
/// any text encodes), every character the corpus uses, then the pieces of byte-pair merges, most frequent first.
/// Merges are learned within words (a '▁' and the characters up to the next space or newline), as SentencePiece's
/// BPE trainer does, and scored by merge order, so the tokenizer's highest-score-first merging rebuilds each piece
/// from pieces that are all in the vocabulary.
/// </summary>
public sealed class CorpusVocab
{
    private const char Marker = '\u2581';
    private const int Fixed = 259; // 3 control tokens + 256 bytes

    private CorpusVocab(string[] tokens, float[] scores, int[] types) => (Tokens, Scores, Types) = (tokens, scores, types);

    /// <summary>The vocabulary's token strings, by id (control tokens and bytes first).</summary>
    public string[] Tokens { get; }
    internal float[] Scores { get; }
    internal int[] Types { get; }

    /// <summary>
    /// Learns up to <paramref name="size"/> tokens from <paramref name="texts"/> (fewer when the corpus runs out of
    /// pairs). Each of <paramref name="wholeWords"/> becomes one piece (a space-prefixed word): their merges are learned
    /// first, so they also score above every corpus merge and the tokenizer builds them whole even before punctuation
    /// ("Ashby." is "▁Ashby" + "."), as SentencePiece's user-defined symbols would.
    /// </summary>
    public static CorpusVocab Learn(IEnumerable<string> texts, int size, IEnumerable<string>? wholeWords = null)
    {
        if (size < Fixed + 1) throw new ArgumentException($"A corpus vocabulary needs more than {Fixed} tokens (3 control + 256 bytes), got {size}.", nameof(size));
        var words = new Dictionary<string, long>(StringComparer.Ordinal);
        var chars = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var text in texts)
        {
            foreach (var line in text.Split('\n'))
            {
                foreach (var w in line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    var word = Marker + w;
                    words[word] = words.GetValueOrDefault(word) + 1;
                }
            }
            foreach (var r in (Marker + text.Replace(' ', Marker)).EnumerateRunes())
                chars[r.ToString()] = chars.GetValueOrDefault(r.ToString()) + 1;
        }

        // Counted above any corpus pair (but far from overflow when pairs are summed), so they merge first.
        const long Boost = 1L << 40;
        foreach (var w in wholeWords ?? [])
        {
            if (w.Length == 0 || w.Any(char.IsWhiteSpace)) throw new ArgumentException($"A whole word must be non-empty and hold no space (got \"{w}\").", nameof(wholeWords));
            words[Marker + w] = Boost;
            foreach (var r in (Marker + w).EnumerateRunes())
                chars[r.ToString()] = chars.GetValueOrDefault(r.ToString()) + 1;
        }

        var pieces = new List<string>(size);
        var known = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (c, _) in chars.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (Fixed + pieces.Count == size) break;
            if (known.Add(c)) pieces.Add(c);
        }
        int characters = pieces.Count;

        // Each distinct word as its current symbols; merges rewrite them in place.
        var split = words.Select(kv => (Symbols: kv.Key.EnumerateRunes().Select(r => r.ToString()).ToList(), Count: kv.Value)).ToList();
        while (Fixed + pieces.Count < size)
        {
            var pairs = new Dictionary<(string, string), long>();
            foreach (var (symbols, count) in split)
                for (int i = 1; i < symbols.Count; i++)
                    pairs[(symbols[i - 1], symbols[i])] = pairs.GetValueOrDefault((symbols[i - 1], symbols[i])) + count;
            var best = pairs.Where(kv => kv.Value > 1 && !known.Contains(kv.Key.Item1 + kv.Key.Item2))
                .OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key.Item1 + kv.Key.Item2, StringComparer.Ordinal).FirstOrDefault();
            if (best.Value == 0) break;
            var (left, right) = best.Key;
            var merged = left + right;
            known.Add(merged);
            pieces.Add(merged);
            foreach (var (symbols, _) in split)
            {
                for (int i = 1; i < symbols.Count; i++)
                {
                    if (symbols[i - 1] != left || symbols[i] != right) continue;
                    symbols[i - 1] = merged;
                    symbols.RemoveAt(i);
                }
            }
        }

        int n = Fixed + pieces.Count;
        var tokens = new string[n];
        var scores = new float[n];
        var types = new int[n];
        tokens[0] = "<unk>"; types[0] = 2;
        tokens[1] = "<s>"; types[1] = 3;
        tokens[2] = "</s>"; types[2] = 3;
        for (int b = 0; b < 256; b++) { tokens[3 + b] = $"<0x{b:X2}>"; types[3 + b] = 6; }
        for (int i = 0; i < pieces.Count; i++)
        {
            tokens[Fixed + i] = pieces[i];
            types[Fixed + i] = 1;
            // Characters are never merge results, so their scores only order them below every merge.
            scores[Fixed + i] = i < characters ? -(pieces.Count + i) : -(i - characters);
        }
        return new CorpusVocab(tokens, scores, types);
    }

    /// <summary>Writes the vocabulary as the <c>tokenizer.ggml.*</c> keys of a llama GGUF.</summary>
    internal void AddTo(GgufWriter w)
    {
        GgufMetadata.AddSentencePiece(w, Tokens, Scores, Types);
    }
}
