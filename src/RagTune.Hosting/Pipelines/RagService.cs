using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using RagTune.Hosting.Collections;
using RagTune.Rag.Answering;
using RagTune.Rag.Retrieval;
using RagTune.Rag.Store;

namespace RagTune.Hosting.Pipelines;

/// <summary>
/// Search and grounded answers over one opened collection: the one place retrieval (<see cref="Retriever"/> with
/// the reranker, metadata filters and the agreement gate) and answering (<see cref="GroundedAnswerer"/>, or
/// <see cref="ExtractiveAnswerer"/> without a model) are composed, and their results turned into the records every
/// front end sends (CollectionModels.cs). <see cref="RagPipeline"/> (the CLI, stdio MCP) and
/// <see cref="CollectionService"/> (the server, its MCP endpoint) both answer through it, so a search or an answer
/// is the same whichever front end asked. It owns nothing: the caller disposes the store and the models.
/// </summary>
/// <param name="store">The collection.</param>
/// <param name="queryEmbedder">Embeds queries for dense and hybrid search; null: BM25 only.</param>
/// <param name="retrieval">Reranker and fusion settings.</param>
/// <param name="showPaths">
/// False where results leave the machine (the server): a hit's source is then its document id, never a path on the
/// server's disk.
/// </param>
internal sealed class RagService(IChunkStore store, IEmbeddingGenerator<string, Embedding<float>>? queryEmbedder, RetrieverOptions retrieval, bool showPaths)
{
    /// <summary>The most tokens an answer may have when the request names no limit.</summary>
    public const int DefaultMaxTokens = 256;

    /// <summary>The collection.</summary>
    public IChunkStore Store => store;

    /// <summary>The mode used when a request names none: hybrid when the collection has vectors and a model embeds queries, else BM25.</summary>
    public SearchMode DefaultMode => queryEmbedder != null && store.Embedding != null ? SearchMode.Hybrid : SearchMode.Bm25;

    /// <summary>
    /// The best <paramref name="k"/> chunks for <paramref name="query"/> whose document metadata passes
    /// <paramref name="filter"/>; <paramref name="mode"/> null for <see cref="DefaultMode"/>. A user-fixable problem
    /// (no query embedder, vectors from another model) is a <see cref="HostingException"/> (Invalid); without an
    /// embedder its message ends with <paramref name="embedderHint"/>, the front end's way to give one.
    /// </summary>
    public async Task<IReadOnlyList<SearchHit>> SearchAsync(string query, SearchMode? mode, int k, SearchFilter filter, string embedderHint, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(query)) throw HostingException.Invalid("The query is empty; send the text to search for.", "query");
        var searchMode = mode ?? DefaultMode;
        if (searchMode != SearchMode.Bm25 && queryEmbedder == null)
            throw HostingException.Invalid($"Search mode '{searchMode.ToString().ToLowerInvariant()}' needs an embedding model: {embedderHint}.", "mode");
        try
        {
            return await new Retriever(store, searchMode == SearchMode.Bm25 ? null : queryEmbedder, retrieval).SearchAsync(query, searchMode, k, filter, ct).ConfigureAwait(false);
        }
        catch (InvalidOperationException e)
        {
            // The collection's vectors come from another model, or it has none yet: the message says which.
            throw HostingException.Invalid(e.Message, "mode");
        }
    }

    /// <summary>The hits as the result records the front ends send.</summary>
    public IReadOnlyList<SearchResult> Results(IReadOnlyList<SearchHit> hits) => [.. hits.Select(h => SearchResult.From(h, showPaths))];

    /// <summary>
    /// Answers <paramref name="question"/> from <paramref name="hits"/>, streaming the text; the last update carries
    /// the verified answer with the model call's token usage and finish reason. <paramref name="generation"/> is
    /// passed to the model (max tokens, temperature, top_p, seed, stop sequences), under <paramref name="modelName"/>
    /// as its model id when given (which picks an adapter on a local model). Without a temperature the answer is
    /// greedy, so the same question over the same collection gets the same answer; without max tokens it has at most
    /// <see cref="DefaultMaxTokens"/>. With no <paramref name="chat"/> the answer quotes the sources (extractive) and
    /// reports zero tokens, as does an abstention decided before the model was called.
    /// </summary>
    public async IAsyncEnumerable<AskUpdate> AnswerAsync(string question, IReadOnlyList<SearchHit> hits, int sources, IChatClient? chat, string? modelName,
        ChatOptions generation, [EnumeratorCancellation] CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(generation);
        if (generation.MaxOutputTokens is < 1) throw HostingException.Invalid($"maxTokens {generation.MaxOutputTokens} must be at least 1.", "maxTokens");
        var settings = generation.Clone();
        settings.Temperature ??= 0;
        settings.MaxOutputTokens ??= DefaultMaxTokens;
        if (modelName != null) settings.ModelId = modelName;
        var answerer = new AnswererOptions { MaxSources = sources, ChatOptions = settings };
        if (chat == null)
        {
            var answer = new ExtractiveAnswerer(answerer).Answer(question, hits);
            yield return new AskUpdate(answer.Text, null);
            yield return new AskUpdate("", AskResult.From(question, answer, null, showPaths));
            yield break;
        }
        // The abstention check weighs the question's terms by their IDF in this collection.
        var statistics = await GroundedAnswerer.StatisticsAsync(store, question, ct).ConfigureAwait(false);
        await foreach (var update in new GroundedAnswerer(chat, answerer).StreamAsync(question, hits, statistics, ct).ConfigureAwait(false))
        {
            if (update.Final is { } final)
            {
                // An abstention arrives in one piece: its text is the delta and the final answer at once.
                if (update.TextDelta.Length > 0) yield return new AskUpdate(update.TextDelta, null);
                yield return new AskUpdate("", AskResult.From(question, final, modelName, showPaths));
            }
            else if (update.TextDelta.Length > 0)
            {
                yield return new AskUpdate(update.TextDelta, null);
            }
        }
    }

    /// <summary>The verified answer of <see cref="AnswerAsync"/>, without streaming.</summary>
    public async Task<AskResult> AnswerOnceAsync(string question, IReadOnlyList<SearchHit> hits, int sources, IChatClient? chat, string? modelName, ChatOptions generation, CancellationToken ct)
    {
        await foreach (var update in AnswerAsync(question, hits, sources, chat, modelName, generation, ct).ConfigureAwait(false))
            if (update.Final is { } final) return final;
        throw new InvalidOperationException("The answerer ended without a final answer.");
    }

    /// <summary>A request's search mode (bm25, dense or hybrid; null or empty for the default).</summary>
    public static SearchMode? ParseMode(string? mode) => mode?.ToLowerInvariant() switch
    {
        null or "" => null,
        "bm25" => SearchMode.Bm25,
        "dense" => SearchMode.Dense,
        "hybrid" => SearchMode.Hybrid,
        _ => throw HostingException.Invalid($"Search mode '{mode}' is not known; use bm25, dense or hybrid.", "mode"),
    };
}
