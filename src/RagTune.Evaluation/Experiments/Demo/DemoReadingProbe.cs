using System.Globalization;
using Microsoft.Extensions.AI;
using RagTune.Rag.Answering;

namespace RagTune.Evaluation.Experiments.Demo;

/// <summary>What <see cref="DemoReadingProbe"/> measured: the share of answerable questions whose answer holds the passage's value, and the share of unanswerable ones abstained on.</summary>
public sealed record DemoReadingScore(int Answerable, int Read, int Unanswerable, int Abstained, IReadOnlyList<string> Samples)
{
    /// <summary>The share of answerable questions answered with the passage's value (0 when there were none).</summary>
    public double ReadShare => Answerable == 0 ? 0 : (double)Read / Answerable;
    /// <summary>The share of unanswerable questions abstained on (0 when there were none).</summary>
    public double AbstainShare => Unanswerable == 0 ? 0 : (double)Abstained / Unanswerable;
    /// <summary>One line for the console: both counts and shares.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"read {Read}/{Answerable} ({ReadShare:P0}), abstained {Abstained}/{Unanswerable} ({AbstainShare:P0})");
}

/// <summary>
/// Checks that a model reads: fresh villages of a world no corpus or test world uses, one grounded question each over
/// its own document (the compact prompt the demo's RAG arms send), answered greedily. A model that only guesses a value
/// of the right kind reads about one in twelve to one in forty; a reader copies the passage's value.
/// </summary>
public static class DemoReadingProbe
{
    /// <summary>The probe world's seed: neither the demo's test world nor the pretraining corpus.</summary>
    public const ulong Seed = 31_337;

    /// <summary>Asks <paramref name="chat"/> about <paramref name="villages"/> fresh villages, each question shown <paramref name="sources"/> passages, and scores the answers.</summary>
    public static async Task<DemoReadingScore> RunAsync(IChatClient chat, int villages, int sources = 1, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(chat);
        var world = DemoWorld.Generate(new DemoWorldOptions(Math.Max(4, villages), 1, 0, 0, Seed)).Villages;
        var rng = new Random((int)Seed);
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 16, Seed = 1 };
        int answerable = 0, read = 0, unanswerable = 0, abstained = 0;
        var samples = new List<string>();
        for (int i = 0; i < world.Count; i++)
        {
            var v = world[i];
            var a = DemoWorld.Attributes[rng.Next(DemoWorld.Attributes.Count)];
            var question = string.Format(CultureInfo.InvariantCulture, a.Questions[rng.Next(a.Questions.Length)], v.Name);
            bool ghost = i % 4 == 3;
            int gold = ghost ? -1 : rng.Next(sources);
            var shown = Enumerable.Range(0, sources).Select(k =>
            {
                var s = k == gold ? v : world[(i + 1 + k + rng.Next(world.Count - 2)) % world.Count];
                if (s == v && k != gold) s = world[(i + world.Count / 2) % world.Count];
                return new AnswerSource(k + 1, 0, s.Name, s.Name, s.Name, 0, 0, DemoWorld.Render(s, rng.Next(3)));
            }).ToList();
            var messages = GroundedPrompt.Build(question, shown, ArmAnswerer.MaxSourceChars, GroundedPrompt.CompactSystemMessage);
            var text = (await chat.GetResponseAsync(messages, options, ct).ConfigureAwait(false)).Text ?? "";
            if (samples.Count < 8) samples.Add($"{question} -> {text.Trim()} (passage value: {(ghost ? "none" : a.Value(v))})");
            if (ghost)
            {
                unanswerable++;
                if (CitationVerifier.IsAbstention(text.Trim())) abstained++;
            }
            else
            {
                answerable++;
                if (AnswerScorer.ContainsGold(CitationVerifier.StripCitations(text), [a.Value(v)])) read++;
            }
        }
        return new DemoReadingScore(answerable, read, unanswerable, abstained, samples);
    }
}
