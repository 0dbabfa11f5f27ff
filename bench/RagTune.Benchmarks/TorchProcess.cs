using System.Diagnostics;

namespace RagTune.Benchmarks;

/// <summary>
/// How the PyTorch reference processes start (<c>bench train</c>, <c>bench embed</c>): Debian's python3, whose torch
/// uses the system OpenBLAS. <c>OPENBLAS_CORETYPE</c> and <c>OPENBLAS_L2_SIZE</c>, which some images set for older
/// OpenBLAS builds, made the current one 20–45% slower on the Zen 5 machines (bench train, 2026-12-08: 8.4–10.5 s per
/// step against 6.5–7.2 s without them), so the reference runs without them and every ratio is against PyTorch at
/// its best.
/// </summary>
internal static class TorchProcess
{
    /// <summary>Variables the reference runs without.</summary>
    public static readonly string[] DroppedVariables = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"];

    /// <summary>A start for <paramref name="python"/> with output captured and <see cref="DroppedVariables"/> removed.</summary>
    public static ProcessStartInfo StartInfo(string python)
    {
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var name in DroppedVariables) psi.Environment.Remove(name);
        return psi;
    }
}
