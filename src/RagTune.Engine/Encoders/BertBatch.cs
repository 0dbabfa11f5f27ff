namespace RagTune.Engine.Encoders;

/// <summary>The input contract of a packed encoder batch, checked once for inference and training alike.</summary>
internal static class BertBatch
{
    /// <summary>
    /// ids [T], typeIds [T] or empty, lengths [B] summing to T, each in 1..MaxPositions; ids and types in range.
    /// </summary>
    public static void Check(BertConfig c, ReadOnlySpan<int> ids, ReadOnlySpan<int> typeIds, ReadOnlySpan<int> lengths)
    {
        long total = 0;
        foreach (var len in lengths)
        {
            if (len < 1 || len > c.MaxPositions)
                throw new ArgumentOutOfRangeException(nameof(lengths), len, $"Each sequence needs 1..{c.MaxPositions} tokens (max_position_embeddings); truncate longer inputs.");
            total += len;
        }
        if (total != ids.Length)
            throw new ArgumentException($"lengths sum to {total} but {ids.Length} ids were given.", nameof(lengths));
        if (!typeIds.IsEmpty && typeIds.Length != ids.Length)
            throw new ArgumentException($"typeIds has {typeIds.Length} entries for {ids.Length} ids; pass one per id or none.", nameof(typeIds));
        foreach (var id in ids)
            if ((uint)id >= (uint)c.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id {id} is outside the vocabulary [0, {c.VocabSize}); the tokenizer does not match the model.");
        foreach (var ty in typeIds)
            if ((uint)ty >= (uint)c.TypeVocabSize)
                throw new ArgumentOutOfRangeException(nameof(typeIds), ty, $"Token type {ty} is outside [0, {c.TypeVocabSize}).");
    }
}
