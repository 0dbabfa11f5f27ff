using System.Diagnostics;
using RagTune.Engine.Models;
using RagTune.Engine.Sampling;
using RagTune.Tokenizers;

namespace RagTune.Models.Local;

/// <summary>Settings of one generation, validated before any token is computed.</summary>
/// <param name="Sampler">How tokens are chosen.</param>
/// <param name="MaxTokens">Most tokens to generate.</param>
/// <param name="Stops">Strings that end generation; the stop string itself is not emitted.</param>
/// <param name="StopAtEos">End at the tokenizer's end-of-sequence token.</param>
/// <param name="StopTokens">Token ids that end generation (a chat template's end-of-turn tokens, which decode to no text).</param>
public sealed record GenerationSettings(SamplerOptions Sampler, int MaxTokens = 256, IReadOnlyList<string>? Stops = null, bool StopAtEos = true,
    IReadOnlyList<int>? StopTokens = null)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the bad setting.</summary>
    public void Validate()
    {
        Sampler.Validate();
        if (MaxTokens < 0) throw new ArgumentOutOfRangeException(nameof(MaxTokens), MaxTokens, "The number of tokens to generate must be 0 or positive.");
        if (Stops != null)
            foreach (var s in Stops)
                if (string.IsNullOrEmpty(s)) throw new ArgumentException("Stop strings must not be empty.", nameof(Stops));
    }
}

/// <summary>Why generation ended.</summary>
public enum FinishReason
{
    /// <summary>The most tokens asked for were generated.</summary>
    Length,

    /// <summary>A stop string or stop token was generated.</summary>
    Stop,

    /// <summary>The tokenizer's end-of-sequence token was generated.</summary>
    EndOfSequence,

    /// <summary>The model's context is full.</summary>
    ContextFull,

    /// <summary>The caller cancelled.</summary>
    Cancelled,
}

/// <summary>Counts and timings of one generation.</summary>
public sealed record GenerationStats(int PromptTokens, int ReusedPromptTokens, int GeneratedTokens, FinishReason Finish, TimeSpan Prefill, TimeSpan Decode)
{
    /// <summary>Prompt tokens actually computed per second (tokens reused from the cache are not counted).</summary>
    public double PrefillTokensPerSecond => Prefill.TotalSeconds > 0 ? (PromptTokens - ReusedPromptTokens) / Prefill.TotalSeconds : 0;

    /// <summary>Generated tokens per second, excluding the prefill.</summary>
    public double DecodeTokensPerSecond => Decode.TotalSeconds > 0 ? GeneratedTokens / Decode.TotalSeconds : 0;
}

/// <summary>
/// The decode loop over one <see cref="InferenceSession"/>: prefill (reusing whatever prefix the cache already
/// holds), then sample → emit text → forward, with stop strings held back until they can be ruled out.
/// </summary>
public sealed class TextGenerator
{
    private readonly LocalModel _model;
    private readonly InferenceSession _session;
    private readonly List<int> _cached = [];  // tokens whose K/V are in the session, in order

    /// <summary>A generator of <paramref name="model"/>'s text over <paramref name="session"/> (made from the same model).</summary>
    public TextGenerator(LocalModel model, InferenceSession session)
    {
        _model = model;
        _session = session;
    }

    /// <summary>The session it decodes with.</summary>
    public InferenceSession Session => _session;

    /// <summary>Tokens the KV cache currently holds.</summary>
    public IReadOnlyList<int> CachedTokens => _cached;

    /// <summary>
    /// Generates from <paramref name="prompt"/>, calling <paramref name="onText"/> with each piece of text as it
    /// becomes final, and <paramref name="onToken"/> (optional) with each generated token id.
    /// </summary>
    public GenerationStats Generate(IReadOnlyList<int> prompt, GenerationSettings settings, Action<string> onText,
        CancellationToken cancellationToken = default, Action<int>? onToken = null)
    {
        settings.Validate();
        if (prompt.Count == 0) throw new ArgumentException("The prompt must hold at least one token (BOS for an empty prompt).", nameof(prompt));
        int ctx = _session.Options.ContextSize;
        if (prompt.Count >= ctx)
            throw new ContextLengthExceededException(prompt.Count, ctx);

        int reuse = ReusablePrefix(_cached, prompt);
        _session.Truncate(reuse);
        _cached.RemoveRange(reuse, _cached.Count - reuse);

        var sw = Stopwatch.StartNew();
        var rest = new int[prompt.Count - reuse];
        for (int i = 0; i < rest.Length; i++) rest[i] = prompt[reuse + i];
        _session.Forward(rest);
        _cached.AddRange(rest);
        var prefill = sw.Elapsed;
        sw.Restart();

        var step = new GenerationStep(_model, prompt, settings, onText, onToken);
        var finish = FinishReason.Length;
        int[] one = new int[1];
        while (step.Generated < settings.MaxTokens)
        {
            if (cancellationToken.IsCancellationRequested) { finish = FinishReason.Cancelled; break; }
            if (step.Advance(_session.Logits, out int next) is { } end) { finish = end; break; }
            if (_session.Position >= ctx) { finish = FinishReason.ContextFull; break; }
            one[0] = next;
            _session.Forward(one);
            _cached.Add(next);
        }
        step.Finish(finish);
        return new GenerationStats(prompt.Count, reuse, step.Generated, finish, prefill, sw.Elapsed);
    }

    /// <summary>
    /// How many leading tokens of <paramref name="prompt"/> a cache holding <paramref name="cached"/> can keep
    /// (multi-turn chat re-sends the whole conversation); never the last prompt token, whose logits must be fresh.
    /// </summary>
    internal static int ReusablePrefix(IReadOnlyList<int> cached, IReadOnlyList<int> prompt)
    {
        int reuse = 0;
        while (reuse < cached.Count && reuse < prompt.Count - 1 && cached[reuse] == prompt[reuse]) reuse++;
        return reuse;
    }

    /// <summary>
    /// Selects the LoRA adapter applied beside the base (null: the base alone). A change forgets the cached sequence,
    /// whose keys and values the previous weights produced, so two adapters never share a cached prefix.
    /// </summary>
    public void UseAdapter(Engine.Training.LoraDelta? adapter)
    {
        if (ReferenceEquals(_session.Adapter, adapter)) return;
        _session.Adapter = adapter;
        _cached.Clear();
    }

    /// <summary>Forgets the cached sequence.</summary>
    public void Reset()
    {
        _session.Reset();
        _cached.Clear();
    }
}

/// <summary>
/// One generation after its prompt, a token at a time: samples from the logits, ends at the end-of-sequence token, a
/// stop token, a stop string or the token limit, and emits the text as it becomes final. Shared by
/// <see cref="TextGenerator"/> (one sequence) and <see cref="BatchScheduler"/> (a slot of a batch).
/// </summary>
internal sealed class GenerationStep
{
    private readonly ITokenizer _tokenizer;
    private readonly GenerationSettings _settings;
    private readonly Sampler _sampler;
    private readonly StreamingDecoder _decoder;
    private readonly StopMatcher _stops;
    private readonly Action<int>? _onToken;

    public GenerationStep(LocalModel model, IReadOnlyList<int> prompt, GenerationSettings settings, Action<string> onText, Action<int>? onToken = null)
    {
        _tokenizer = model.Tokenizer;
        _settings = settings;
        _onToken = onToken;
        _sampler = new Sampler(model.Engine.Config.VocabSize, settings.Sampler);
        foreach (var t in prompt) _sampler.Accept(t);
        // Text right after BOS drops SentencePiece's leading space; a continuation keeps it.
        _decoder = _tokenizer.CreateStreamingDecoder(atSequenceStart: prompt[^1] == _tokenizer.BosId);
        _stops = new StopMatcher(settings.Stops, onText);
    }

    /// <summary>Tokens generated so far.</summary>
    public int Generated { get; private set; }

    /// <summary>
    /// Picks the next token from <paramref name="logits"/>; null when generation goes on with <paramref name="next"/>
    /// fed to the model, else why it ended (the token that reached the limit has been emitted).
    /// </summary>
    public FinishReason? Advance(ReadOnlySpan<float> logits, out int next)
    {
        next = _sampler.Sample(logits);
        if (_settings.StopAtEos && next == _tokenizer.EosId) return FinishReason.EndOfSequence;
        if (_settings.StopTokens is { } stopTokens && stopTokens.Contains(next)) return FinishReason.Stop;
        Generated++;
        _sampler.Accept(next);
        _onToken?.Invoke(next);
        if (_stops.Push(_decoder.Append(next))) return FinishReason.Stop;
        return Generated >= _settings.MaxTokens ? FinishReason.Length : null;
    }

    /// <summary>Emits the text still held back, unless a stop string ended the generation.</summary>
    public void Finish(FinishReason finish)
    {
        if (finish != FinishReason.Stop) _stops.Finish(_decoder.Flush());
    }
}

/// <summary>
/// Emits text while watching for stop strings: text that could be the start of a stop string is held back
/// until the next piece confirms or rules it out, so a stop string never leaks into the output.
/// </summary>
internal sealed class StopMatcher(IReadOnlyList<string>? stops, Action<string> emit)
{
    private readonly System.Text.StringBuilder _pending = new();

    /// <summary>Adds a piece; returns true when a stop string was found (text before it has been emitted).</summary>
    public bool Push(string piece)
    {
        if (stops is null || stops.Count == 0)
        {
            if (piece.Length > 0) emit(piece);
            return false;
        }
        _pending.Append(piece);
        var text = _pending.ToString();
        int first = -1;
        foreach (var s in stops)
        {
            int i = text.IndexOf(s, StringComparison.Ordinal);
            if (i >= 0 && (first < 0 || i < first)) first = i;
        }
        if (first >= 0)
        {
            if (first > 0) emit(text[..first]);
            _pending.Clear();
            return true;
        }
        int hold = 0;
        foreach (var s in stops)
            for (int len = Math.Min(s.Length - 1, text.Length); len > hold; len--)
                if (text.AsSpan(text.Length - len).SequenceEqual(s.AsSpan(0, len))) { hold = len; break; }
        if (text.Length > hold) emit(text[..^hold]);
        _pending.Clear().Append(text, text.Length - hold, hold);
        return false;
    }

    /// <summary>Emits whatever is held back at the end of generation.</summary>
    public void Finish(string tail)
    {
        if (stops is null || stops.Count == 0)
        {
            if (tail.Length > 0) emit(tail);
            return;
        }
        if (Push(tail)) return;
        if (_pending.Length > 0) emit(_pending.ToString());
        _pending.Clear();
    }
}
