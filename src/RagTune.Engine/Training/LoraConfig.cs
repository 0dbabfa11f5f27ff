namespace RagTune.Engine.Training;

/// <summary>The linear layers of a block a LoRA adapter can wrap (PEFT's <c>target_modules</c>).</summary>
[Flags]
public enum LoraTargets
{
    /// <summary>No layer.</summary>
    None = 0,
    /// <summary>self_attn.q_proj (Wq).</summary>
    Q = 1,
    /// <summary>self_attn.k_proj (Wk).</summary>
    K = 2,
    /// <summary>self_attn.v_proj (Wv).</summary>
    V = 4,
    /// <summary>self_attn.o_proj (Wo).</summary>
    O = 8,
    /// <summary>mlp.gate_proj.</summary>
    Gate = 16,
    /// <summary>mlp.up_proj.</summary>
    Up = 32,
    /// <summary>mlp.down_proj.</summary>
    Down = 64,
    /// <summary>Every linear layer of the block (the QLoRA paper's recommendation).</summary>
    All = Q | K | V | O | Gate | Up | Down,
}

/// <summary>Names and parsing of <see cref="LoraTargets"/>.</summary>
public static class LoraTargetNames
{
    /// <summary>The seven targets in PEFT order; index = <see cref="Index"/>.</summary>
    public static readonly LoraTargets[] Order = [LoraTargets.Q, LoraTargets.K, LoraTargets.V, LoraTargets.O, LoraTargets.Gate, LoraTargets.Up, LoraTargets.Down];

    private static readonly string[] s_short = ["q", "k", "v", "o", "gate", "up", "down"];
    private static readonly string[] s_peft = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"];

    /// <summary>Position of a single target in <see cref="Order"/>.</summary>
    public static int Index(LoraTargets target) => Array.IndexOf(Order, target) is var i and >= 0 ? i
        : throw new ArgumentException($"'{target}' is not a single LoRA target.", nameof(target));

    /// <summary>Short name (<c>q</c>, <c>gate</c>, …).</summary>
    public static string ShortName(LoraTargets target) => s_short[Index(target)];

    /// <summary>PEFT module path inside a layer (<c>self_attn.q_proj</c>, <c>mlp.down_proj</c>, …).</summary>
    public static string PeftModule(LoraTargets target) => s_peft[Index(target)];

    /// <summary>
    /// Parses a comma-separated list such as <c>q,k,v,o,gate,up,down</c>; PEFT module names (<c>q_proj</c>) and
    /// <c>all</c> are accepted too, case-insensitively. Unknown names throw with the list of valid ones.
    /// </summary>
    public static LoraTargets Parse(string list)
    {
        ArgumentNullException.ThrowIfNull(list);
        var result = LoraTargets.None;
        foreach (var raw in list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var name = raw.ToLowerInvariant();
            if (name == "all") { result |= LoraTargets.All; continue; }
            if (name.EndsWith("_proj", StringComparison.Ordinal)) name = name[..^5];
            int i = Array.IndexOf(s_short, name);
            if (i < 0)
                throw new ArgumentException($"Unknown LoRA target '{raw}'. Valid targets: q, k, v, o, gate, up, down (or q_proj, …, down_proj, or all).", nameof(list));
            result |= Order[i];
        }
        if (result == LoraTargets.None)
            throw new ArgumentException("The LoRA target list is empty; name at least one of q, k, v, o, gate, up, down.", nameof(list));
        return result;
    }
}

/// <summary>
/// LoRA hyperparameters (Hu et al. 2021): each targeted frozen weight W [out, in] gains a trainable low-rank update,
/// y = W·x + (alpha / rank) · B·(A·dropout(x)) with A [rank, in] and B [out, rank].
/// </summary>
/// <param name="Rank">Rank r of the update; 8 by default (PEFT's default).</param>
/// <param name="Alpha">Scale numerator; the update is multiplied by alpha / rank (16 by default, so 2).</param>
/// <param name="Dropout">Probability of zeroing an input feature of the LoRA branch during training (0.05 by default); off in evaluation.</param>
/// <param name="Targets">Which linear layers get an adapter; all seven by default.</param>
public sealed record LoraConfig(int Rank = 8, float Alpha = 16, float Dropout = 0.05f, LoraTargets Targets = LoraTargets.All)
{
    /// <summary>alpha / rank, the factor applied to B·A.</summary>
    public float Scaling => Alpha / Rank;

    /// <summary>Throws a specific message when a value is out of range.</summary>
    public void Validate()
    {
        if (Rank < 1 || Rank > 4096) throw new ArgumentOutOfRangeException(nameof(Rank), Rank, "LoRA rank must be between 1 and 4096 (8 or 16 are typical).");
        if (!(Alpha > 0) || !float.IsFinite(Alpha)) throw new ArgumentOutOfRangeException(nameof(Alpha), Alpha, "LoRA alpha must be a positive number (typically 2 × rank).");
        if (!(Dropout >= 0 && Dropout < 1)) throw new ArgumentOutOfRangeException(nameof(Dropout), Dropout, "LoRA dropout must be in [0, 1).");
        if (Targets == LoraTargets.None || (Targets & ~LoraTargets.All) != 0)
            throw new ArgumentOutOfRangeException(nameof(Targets), Targets, "LoRA targets must be a non-empty combination of Q, K, V, O, Gate, Up, Down.");
    }
}
