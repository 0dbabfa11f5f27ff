using System.Diagnostics;
using RagTune.Engine.Models;
using RagTune.Engine.Training;

namespace RagTune.Models.Local;

/// <summary>
/// Continuous batching over one multi-slot <see cref="InferenceSession"/> (issue 19): every step runs one decode
/// token of each generating request and, with the batch's room left, a chunk of a waiting prompt, in one forward
/// pass. New requests join at the next step, finished ones leave at once, and a long prompt is prefilled in chunks
/// between decode steps, so it never stalls the others. Requests beyond the slots wait in order.
/// </summary>
/// <remarks>
/// Adapters: all slots of a batch run with one adapter (the session's). A request for another adapter waits until
/// the running requests have finished; then the session switches, which forgets every slot's cached prefix.
/// Each slot keeps the tokens it last held, so a request that continues a conversation reuses its cached prefix.
/// Sampling, stop strings and callbacks run on the scheduler's own thread, one request after another.
/// </remarks>
internal sealed class BatchScheduler : IDisposable
{
    private readonly LocalModel _model;
    private readonly InferenceSession _session;
    private readonly object _lock = new();
    private readonly Queue<Request> _waiting = new();
    private readonly Request?[] _slots;
    private readonly List<int>[] _cached;   // per slot: tokens whose K/V the slot holds
    private readonly Thread _thread;
    private bool _stopping;
    private LoraDelta? _adapter;

    public BatchScheduler(LocalModel model, InferenceSession session)
    {
        _model = model;
        _session = session;
        _adapter = session.Adapter;
        _slots = new Request?[session.Options.Slots];
        _cached = [.. Enumerable.Range(0, _slots.Length).Select(_ => new List<int>())];
        _thread = new Thread(Loop) { IsBackground = true, Name = "ragtune-batch" };
        _thread.Start();
    }

    /// <summary>
    /// Queues a generation from <paramref name="prompt"/> with <paramref name="adapter"/> (null: the base alone);
    /// <paramref name="onText"/> receives each piece of text as it becomes final, on the scheduler's thread.
    /// </summary>
    public Task<GenerationStats> GenerateAsync(IReadOnlyList<int> prompt, GenerationSettings settings, LoraDelta? adapter, Action<string> onText,
        CancellationToken cancellationToken)
    {
        settings.Validate();
        if (prompt.Count == 0) throw new ArgumentException("The prompt must hold at least one token (BOS for an empty prompt).", nameof(prompt));
        int ctx = _session.Options.ContextSize;
        if (prompt.Count >= ctx)
            throw new ContextLengthExceededException(prompt.Count, ctx);
        var request = new Request(prompt, settings, adapter, onText, cancellationToken);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_stopping, this);
            _waiting.Enqueue(request);
            Monitor.Pulse(_lock);
        }
        return request.Done.Task;
    }

    private void Loop()
    {
        var segments = new SlotTokens[_slots.Length];
        var tokens = new int[_session.Options.BatchSize];
        var inBatch = new Request[_slots.Length];
        while (true)
        {
            int count = 0, used = 0;
            lock (_lock)
            {
                while (!_stopping && !Admit())
                    Monitor.Wait(_lock);
                if (_stopping) break;
                // Decode tokens first (one per generating slot), then prompt chunks in the room left.
                foreach (var r in _slots)
                    if (r is { Prefilling: false })
                    {
                        segments[count] = new SlotTokens(r.Slot, 1);
                        tokens[used++] = r.Next;
                        inBatch[count++] = r;
                    }
                foreach (var r in _slots)
                    if (r is { Prefilling: true } && used < tokens.Length)
                    {
                        int n = Math.Min(r.Prompt.Count - r.Computed, tokens.Length - used);
                        for (int i = 0; i < n; i++) tokens[used + i] = r.Prompt[r.Computed + i];
                        segments[count] = new SlotTokens(r.Slot, n);
                        used += n;
                        inBatch[count++] = r;
                    }
            }
            try
            {
                _session.Forward(segments.AsSpan(0, count), tokens.AsSpan(0, used));
            }
            catch (Exception e)
            {
                for (int i = 0; i < count; i++) Finish(inBatch[i], e);
                continue;
            }
            for (int i = 0; i < count; i++)
            {
                var r = inBatch[i];
                var seg = segments[i];
                if (r.Prefilling)
                {
                    for (int t = 0; t < seg.Count; t++) _cached[r.Slot].Add(r.Prompt[r.Computed + t]);
                    r.Computed += seg.Count;
                    if (r.Computed < r.Prompt.Count) continue;
                    r.StartDecoding(_model);
                    if (r.Settings.MaxTokens == 0) { Finish(r, FinishReason.Length); continue; }
                }
                else _cached[r.Slot].Add(r.Next);
                Step(r);
            }
        }
        lock (_lock)
        {
            foreach (var r in _waiting) r.Done.TrySetException(new ObjectDisposedException(nameof(LocalChatClient)));
            foreach (var r in _slots) r?.Done.TrySetException(new ObjectDisposedException(nameof(LocalChatClient)));
        }
    }

    /// <summary>Moves waiting requests into free slots; true when any slot has work. Called under the lock.</summary>
    private bool Admit()
    {
        while (_waiting.TryPeek(out var next))
        {
            if (next.Cancellation.IsCancellationRequested)
            {
                _waiting.Dequeue();
                next.Done.TrySetResult(new GenerationStats(next.Prompt.Count, 0, 0, FinishReason.Cancelled, TimeSpan.Zero, TimeSpan.Zero));
                continue;
            }
            if (!ReferenceEquals(next.Adapter, _adapter))
            {
                if (Busy()) break; // one adapter per batch: wait for the running requests to finish
                _session.Adapter = next.Adapter; // forgets every slot's sequence
                _adapter = next.Adapter;
                foreach (var c in _cached) c.Clear();
            }
            int slot = PickSlot(next.Prompt);
            if (slot < 0) break;
            _waiting.Dequeue();
            var cached = _cached[slot];
            int reuse = TextGenerator.ReusablePrefix(cached, next.Prompt);
            _session.Truncate(slot, reuse);
            cached.RemoveRange(reuse, cached.Count - reuse);
            next.Admit(slot, reuse);
            _slots[slot] = next;
        }
        return Busy();
    }

    /// <summary>True while any slot holds a request. Called under the lock; a loop, since it runs every step.</summary>
    private bool Busy()
    {
        foreach (var r in _slots)
            if (r != null) return true;
        return false;
    }

    /// <summary>The free slot whose cached tokens share the longest reusable prefix with <paramref name="prompt"/>; -1 when none is free.</summary>
    private int PickSlot(IReadOnlyList<int> prompt)
    {
        int best = -1, bestShared = -1;
        for (int s = 0; s < _slots.Length; s++)
        {
            if (_slots[s] != null) continue;
            int shared = TextGenerator.ReusablePrefix(_cached[s], prompt);
            if (shared > bestShared) (best, bestShared) = (s, shared);
        }
        return best;
    }

    /// <summary>Picks the request's next token from its slot's logits (<see cref="GenerationStep"/>, as for one sequence).</summary>
    private void Step(Request r)
    {
        if (r.Cancellation.IsCancellationRequested) { Finish(r, FinishReason.Cancelled); return; }
        FinishReason? end;
        int next;
        try
        {
            end = r.Generation!.Advance(_session.LogitsOf(r.Slot), out next);
        }
        catch (Exception e)
        {
            Finish(r, e); // the caller's text callback threw
            return;
        }
        if (end is { } finish) Finish(r, finish);
        else if (_session.PositionOf(r.Slot) >= _session.Options.ContextSize) Finish(r, FinishReason.ContextFull);
        else r.Next = next;
    }

    private void Finish(Request r, FinishReason finish)
    {
        try
        {
            r.Generation?.Finish(finish);
        }
        catch (Exception e)
        {
            Finish(r, e);
            return;
        }
        Release(r);
        r.Done.TrySetResult(r.Stats(finish));
    }

    private void Finish(Request r, Exception e)
    {
        Release(r);
        _cached[r.Slot].Clear();
        _session.Truncate(r.Slot, 0); // the slot's cache may hold part of a failed batch
        r.Done.TrySetException(e);
    }

    private void Release(Request r)
    {
        lock (_lock) _slots[r.Slot] = null;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_stopping) return;
            _stopping = true;
            Monitor.PulseAll(_lock);
        }
        _thread.Join();
    }

    /// <summary>One queued generation and its progress through prefill and decoding.</summary>
    private sealed class Request(IReadOnlyList<int> prompt, GenerationSettings settings, LoraDelta? adapter, Action<string> onText, CancellationToken ct)
    {
        private readonly Stopwatch _clock = new();
        private TimeSpan _prefill;
        private int _reused;

        public IReadOnlyList<int> Prompt { get; } = prompt;
        public GenerationSettings Settings { get; } = settings;
        public LoraDelta? Adapter { get; } = adapter;
        public CancellationToken Cancellation { get; } = ct;
        public TaskCompletionSource<GenerationStats> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int Slot { get; private set; } = -1;
        public int Computed { get; set; }         // prompt tokens in the slot's cache
        public bool Prefilling => Generation is null;
        public int Next { get; set; }             // the token the next decode step feeds
        public GenerationStep? Generation { get; private set; }

        public void Admit(int slot, int reused)
        {
            Slot = slot;
            Computed = _reused = reused;
            _clock.Start();
        }

        public void StartDecoding(LocalModel model)
        {
            _prefill = _clock.Elapsed;
            _clock.Restart();
            Generation = new GenerationStep(model, Prompt, Settings, onText);
        }

        public GenerationStats Stats(FinishReason finish) =>
            new(Prompt.Count, _reused, Generation?.Generated ?? 0, finish, _prefill, Generation is null ? TimeSpan.Zero : _clock.Elapsed);
    }
}
