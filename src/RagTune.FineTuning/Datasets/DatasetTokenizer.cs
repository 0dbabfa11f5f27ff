using RagTune.Tokenizers;

namespace RagTune.FineTuning.Datasets;

/// <summary>
/// Turns records into <see cref="TokenizedExample"/>s. Conversations: BOS + rendered prompt, prompt tokens masked
/// from the loss, answers trained, EOS appended after the final answer. Text: documents joined with EOS and cut
/// into windows of seq-len positions (each window predicts its own next tokens; consecutive windows share one
/// token so no target is lost).
/// </summary>
internal sealed class DatasetTokenizer(ITokenizer tokenizer, int seqLen, OverlongPolicy overlong = OverlongPolicy.Truncate, ITrainingPromptFormat? format = null)
{
    private readonly ITrainingPromptFormat _format = format ?? PlainTrainingPromptFormat.Instance;

    public int SeqLen { get; } = seqLen > 1 ? seqLen : throw new ArgumentOutOfRangeException(nameof(seqLen), seqLen, "The sequence length must be at least 2.");

    public (List<TokenizedExample> Examples, DatasetReport Report) Tokenize(LoadedDataset data)
    {
        var examples = new List<TokenizedExample>();
        int truncated = 0, dropped = 0, longest = 0, longestLine = 0;
        var overlongLines = new List<int>();
        if (data.Format == DatasetFormat.Text)
        {
            foreach (var w in TextWindows(data.Records)) examples.Add(w);
            longest = examples.Count == 0 ? 0 : examples.Max(e => e.Length);
            longestLine = examples.Count == 0 ? 0 : examples.First(e => e.Length == longest).Line;
        }
        else
        {
            foreach (var record in data.Records)
            {
                List<int> tokens;
                List<bool> trainable;
                try
                {
                    (tokens, trainable) = Encode(record.Turns);
                }
                catch (RagTune.Tokenizers.ChatTemplates.ChatTemplateException e)
                {
                    throw new DatasetFormatException(data.Path, [new DatasetIssue(record.Line, $"the model's chat template cannot render this conversation: {e.Message}")]);
                }
                int positions = tokens.Count - 1;
                if (positions > longest) { longest = positions; longestLine = record.Line; }
                if (positions > SeqLen)
                {
                    if (overlongLines.Count < 20) overlongLines.Add(record.Line);
                    if (overlong == OverlongPolicy.Drop) { dropped++; continue; }
                    truncated++;
                    positions = SeqLen;
                }
                var inputs = new int[positions];
                var targets = new int[positions];
                bool any = false;
                for (int t = 0; t < positions; t++)
                {
                    inputs[t] = tokens[t];
                    targets[t] = trainable[t + 1] ? tokens[t + 1] : -1;
                    any |= targets[t] >= 0;
                }
                if (!any) { dropped++; if (positions == SeqLen) truncated--; continue; }
                examples.Add(new TokenizedExample(record.Line, inputs, targets));
            }
        }
        long tokensTotal = examples.Sum(e => (long)e.Length);
        long trainableTotal = examples.Sum(e => (long)e.TrainableCount);
        var report = new DatasetReport(data.Path, data.Format, data.Records.Count, examples.Count, tokensTotal, trainableTotal,
            truncated, dropped, longest, longestLine, SeqLen) { OverlongLines = overlongLines };
        return (examples, report);
    }

    /// <summary>The prompt format conversations are rendered with (the model's chat template, or the plain format).</summary>
    public ITrainingPromptFormat Format => _format;

    /// <summary>
    /// Token ids of BOS + conversation (+ EOS) and, per id, whether it is a loss target. Segment boundaries are
    /// found by encoding each prefix of the text and taking its common prefix with the full encoding, so the ids
    /// are exactly those of encoding the whole prompt at once (a token straddling a boundary is trained).
    /// </summary>
    public (List<int> Tokens, List<bool> Trainable) Encode(IReadOnlyList<ChatTurn> turns)
    {
        var segments = _format.Render(turns);
        var full = string.Concat(segments.Select(s => s.Text));
        var tokens = new List<int>();
        _format.Encode(tokenizer, full, tokens);
        var trainable = new List<bool>(new bool[tokens.Count]);
        int chars = 0, start = 0;
        var prefix = new List<int>();
        for (int s = 0; s < segments.Count; s++)
        {
            chars += segments[s].Text.Length;
            int end;
            if (s == segments.Count - 1) end = tokens.Count;
            else
            {
                prefix.Clear();
                _format.Encode(tokenizer, full[..chars], prefix);
                end = Math.Max(start, CommonPrefix(tokens, prefix));
            }
            if (segments[s].Trainable)
                for (int i = start; i < end; i++) trainable[i] = true;
            start = end;
        }
        if (_format.AppendEos && tokenizer.EosId >= 0 && segments.Count > 0 && segments[^1].Trainable)
        {
            tokens.Add(tokenizer.EosId);
            trainable.Add(true);
        }
        return (tokens, trainable);
    }

    private static int CommonPrefix(List<int> a, List<int> b)
    {
        int n = Math.Min(a.Count, b.Count), i = 0;
        while (i < n && a[i] == b[i]) i++;
        return i;
    }

    private IEnumerable<TokenizedExample> TextWindows(IReadOnlyList<DatasetRecord> records)
    {
        var stream = new List<int>();
        var lineOf = new List<int>(); // record line at each window start, resolved lazily below
        var docStarts = new List<(int Offset, int Line)>();
        foreach (var r in records)
        {
            docStarts.Add((stream.Count, r.Line));
            tokenizer.Encode(r.Text!, addBos: tokenizer.BosId >= 0, stream);
            if (tokenizer.EosId >= 0) stream.Add(tokenizer.EosId);
        }
        int doc = 0;
        for (int start = 0; start + 1 < stream.Count; start += SeqLen)
        {
            int positions = Math.Min(SeqLen, stream.Count - 1 - start);
            while (doc + 1 < docStarts.Count && docStarts[doc + 1].Offset <= start) doc++;
            var inputs = stream.GetRange(start, positions).ToArray();
            var targets = stream.GetRange(start + 1, positions).ToArray();
            yield return new TokenizedExample(docStarts[doc].Line, inputs, targets);
        }
    }
}
