using System.Runtime.InteropServices;

namespace RagTune.Engine.Training;

/// <summary>
/// AdamW (Loshchilov and Hutter 2019) with bias correction, the update of <c>torch.optim.AdamW</c>:
/// p ← p·(1 − lr·wd); m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
/// p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + eps).
/// Moments are F32 arrays beside each parameter (2 × the adapter's size).
/// </summary>
public sealed class AdamW
{
    private const string Magic = "RTADAMW";
    private const int FormatVersion = 1;

    private readonly IReadOnlyList<LoraParameter> _params;
    private readonly float[][] _m, _v;

    /// <summary>Creates zeroed moments for <paramref name="parameters"/>.</summary>
    public AdamW(IReadOnlyList<LoraParameter> parameters, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0f)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (!(beta1 >= 0 && beta1 < 1)) throw new ArgumentOutOfRangeException(nameof(beta1), beta1, "beta1 must be in [0, 1).");
        if (!(beta2 >= 0 && beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(beta2), beta2, "beta2 must be in [0, 1).");
        if (!(eps > 0)) throw new ArgumentOutOfRangeException(nameof(eps), eps, "eps must be positive.");
        if (!(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "Weight decay must be 0 or positive.");
        _params = parameters;
        Beta1 = beta1; Beta2 = beta2; Eps = eps; WeightDecay = weightDecay;
        _m = new float[parameters.Count][];
        _v = new float[parameters.Count][];
        for (int i = 0; i < parameters.Count; i++)
        {
            _m[i] = new float[parameters[i].Values.Length];
            _v[i] = new float[parameters[i].Values.Length];
        }
    }

    /// <summary>First-moment decay.</summary>
    public float Beta1 { get; }

    /// <summary>Second-moment decay.</summary>
    public float Beta2 { get; }

    /// <summary>Denominator epsilon.</summary>
    public float Eps { get; }

    /// <summary>Decoupled weight decay.</summary>
    public float WeightDecay { get; }

    /// <summary>Steps taken so far (t of the bias correction).</summary>
    public long StepCount { get; private set; }

    /// <summary>Applies one update with learning rate <paramref name="lr"/> from the accumulated gradients (which it leaves alone).</summary>
    public void Step(float lr)
    {
        StepCount++;
        double bc1 = 1 - Math.Pow(Beta1, StepCount), bc2 = 1 - Math.Pow(Beta2, StepCount);
        float stepSize = (float)(lr / bc1), invSqrtBc2 = (float)(1 / Math.Sqrt(bc2));
        float decay = 1f - lr * WeightDecay, b1 = Beta1, b2 = Beta2, eps = Eps;
        for (int i = 0; i < _params.Count; i++)
        {
            var p = _params[i].Values;
            var g = _params[i].Grad;
            var m = _m[i];
            var v = _v[i];
            for (int j = 0; j < p.Length; j++)
            {
                float gj = g[j];
                m[j] = b1 * m[j] + (1 - b1) * gj;
                v[j] = b2 * v[j] + (1 - b2) * gj * gj;
                p[j] = p[j] * decay - stepSize * m[j] / (MathF.Sqrt(v[j]) * invSqrtBc2 + eps);
            }
        }
    }

    /// <summary>
    /// Scales every gradient so their global L2 norm is at most <paramref name="maxNorm"/> (torch.nn.utils.clip_grad_norm_:
    /// factor maxNorm / (norm + 1e-6) when the norm exceeds it) and returns the norm before clipping.
    /// </summary>
    public float ClipGradNorm(float maxNorm)
    {
        if (!(maxNorm > 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "The clipping norm must be positive.");
        double sum = 0;
        for (int i = 0; i < _params.Count; i++)
            sum += System.Numerics.Tensors.TensorPrimitives.SumOfSquares<float>(_params[i].Grad);
        float norm = (float)Math.Sqrt(sum);
        if (norm > maxNorm)
        {
            float scale = maxNorm / (norm + 1e-6f);
            for (int i = 0; i < _params.Count; i++) System.Numerics.Tensors.TensorPrimitives.Multiply(_params[i].Grad, scale, _params[i].Grad);
        }
        return norm;
    }

    /// <summary>Writes the optimizer state ("RTADAMW" magic, version, hyperparameters, step, moments) for resuming.</summary>
    public void Save(Stream stream)
    {
        using var w = new BinaryWriter(stream, System.Text.Encoding.ASCII, leaveOpen: true);
        w.Write(System.Text.Encoding.ASCII.GetBytes(Magic));
        w.Write(FormatVersion);
        w.Write(Beta1); w.Write(Beta2); w.Write(Eps); w.Write(WeightDecay);
        w.Write(StepCount);
        w.Write(_params.Count);
        for (int i = 0; i < _params.Count; i++)
        {
            w.Write(_m[i].Length);
            w.Write(MemoryMarshal.AsBytes(_m[i].AsSpan()));
            w.Write(MemoryMarshal.AsBytes(_v[i].AsSpan()));
        }
    }

    /// <summary>Restores state written by <see cref="Save"/> for the same parameter list; hyperparameters come from the file.</summary>
    public static AdamW Load(Stream stream, IReadOnlyList<LoraParameter> parameters)
    {
        using var r = new BinaryReader(stream, System.Text.Encoding.ASCII, leaveOpen: true);
        if (System.Text.Encoding.ASCII.GetString(r.ReadBytes(Magic.Length)) != Magic)
            throw new InvalidDataException($"Not a RagTune AdamW state (magic '{Magic}' missing).");
        int version = r.ReadInt32();
        if (version != FormatVersion) throw new InvalidDataException($"AdamW state format version {version}; this build reads version {FormatVersion}.");
        var opt = new AdamW(parameters, r.ReadSingle(), r.ReadSingle(), r.ReadSingle(), r.ReadSingle()) { StepCount = r.ReadInt64() };
        int count = r.ReadInt32();
        if (count != parameters.Count)
            throw new InvalidDataException($"AdamW state holds {count} tensors but the adapter has {parameters.Count}; it belongs to another adapter.");
        for (int i = 0; i < count; i++)
        {
            int len = r.ReadInt32();
            if (len != opt._m[i].Length)
                throw new InvalidDataException($"AdamW state tensor {i} ({parameters[i].Name}) holds {len} values, the adapter {opt._m[i].Length}.");
            r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(opt._m[i].AsSpan()));
            r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(opt._v[i].AsSpan()));
        }
        return opt;
    }
}

/// <summary>Shape of the learning rate after warmup.</summary>
public enum LearningRateDecay
{
    /// <summary>Half a cosine from the peak down to the minimum (Loshchilov and Hutter 2017, no restarts).</summary>
    Cosine,
    /// <summary>Straight line from the peak down to the minimum.</summary>
    Linear,
    /// <summary>Stays at the peak.</summary>
    Constant,
}

/// <summary>
/// Linear warmup from 0 to <paramref name="PeakLr"/> over <paramref name="WarmupSteps"/>, then <paramref name="Decay"/> down to
/// <paramref name="MinLr"/> at <paramref name="TotalSteps"/> (held there after).
/// </summary>
public sealed record LearningRateSchedule(float PeakLr, int TotalSteps, int WarmupSteps = 0, LearningRateDecay Decay = LearningRateDecay.Cosine, float MinLr = 0f)
{
    /// <summary>Learning rate of 0-based <paramref name="step"/>.</summary>
    public float At(int step)
    {
        if (step < WarmupSteps) return PeakLr * (step + 1) / WarmupSteps;
        if (Decay == LearningRateDecay.Constant || TotalSteps <= WarmupSteps) return PeakLr;
        float progress = Math.Clamp((float)(step - WarmupSteps) / (TotalSteps - WarmupSteps), 0f, 1f);
        float shape = Decay == LearningRateDecay.Cosine ? 0.5f * (1f + MathF.Cos(MathF.PI * progress)) : 1f - progress;
        return MinLr + (PeakLr - MinLr) * shape;
    }
}
