using System.Globalization;
using System.Text;
using System.Text.Json;
using RagTune.Evaluation.Experiments;

namespace RagTune.Hosting.Compare;

/// <summary>
/// Writes the experiment spec (docs/compare.md) a front end's form fields describe, with a comment per section, so a
/// user can start from it, edit it, and rerun it. The service stores every comparison's spec in this one format.
/// </summary>
internal static class ComparisonTemplate
{
    /// <summary>
    /// The spec for <paramref name="request"/>'s fields; unset ones take the defaults of <c>ragtune compare</c>.
    /// <paramref name="threads"/> and <paramref name="embedModel"/> are the server's settings.
    /// </summary>
    public static string Build(ComparisonRequest request, int threads, string? embedModel)
    {
        var y = new StringBuilder();
        y.AppendLine("# A RagTune comparison (every field: docs/compare.md). The server resolves names, never paths:");
        y.AppendLine("# a collection, an uploaded questions file and a served model id.");
        y.AppendLine($"name: {Quote(request.Name ?? (request.Collection is { } c ? c + "-comparison" : "comparison"))}");
        y.AppendLine("documents:");
        y.AppendLine($"  collection: {Quote(request.Collection ?? "")}           # its uploaded documents are copied and ingested afresh");
        y.AppendLine("questions:");
        if (request.Questions is { } q) y.AppendLine($"  file: {Quote(q)}                 # an uploaded questions file (question, answer, id?, fact?, paraphrase_of?)");
        else y.AppendLine("  generate: true                    # written from the documents by the base model");
        y.AppendLine($"  test_share: {Number(request.TestShare ?? 0.3)}                   # share of the facts held out for testing");
        y.AppendLine("model:");
        y.AppendLine($"  path: {Quote(request.Model ?? "")}                # a served model id");
        y.AppendLine($"  threads: {threads}");
        y.AppendLine($"  max_tokens: {request.MaxTokens ?? 48}");
        y.AppendLine($"arms: [{string.Join(", ", request.Arms ?? ArmNames.All)}]");
        y.AppendLine("fine_tuning:");
        y.AppendLine($"  steps: {request.Steps ?? 30}");
        y.AppendLine("  rank: 8");
        y.AppendLine("  lr: 0.001");
        y.AppendLine("retrieval:");
        y.AppendLine("  top_k: 3");
        if (embedModel is { Length: > 0 })
        {
            y.AppendLine("  mode: hybrid");
            y.AppendLine($"  embed_model: {Quote(embedModel)}");
        }
        else
        {
            y.AppendLine("  mode: bm25                        # the server has no embedding model (--embed-model)");
        }
        y.AppendLine("constraints:");
        y.AppendLine("  updates_per_month: 4");
        y.AppendLine("  citations_required: false");
        if (request.Freshness || request.DataEfficiency || request.Forgetting)
        {
            y.AppendLine("experiments:");
            if (request.Freshness) y.AppendLine("  freshness: true                   # change some facts, re-ingest, ask again");
            if (request.DataEfficiency) y.AppendLine("  data_efficiency: true             # retrain ft on 10/25/50/100% of the data");
            if (request.Forgetting) y.AppendLine("  forgetting: true                  # perplexity on general text before and after");
        }
        y.AppendLine($"seed: {request.Seed ?? 42}");
        return y.ToString();
    }

    // A JSON string is a valid YAML double-quoted scalar, so any name survives whatever characters it holds.
    private static string Quote(string value) => JsonSerializer.Serialize(value);

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);
}
