#!/usr/bin/env bash
# Reproduces the generation figures in docs/benchmarks.md: RagTune's engine, llama.cpp on the same file and prompt
# token ids (through LLamaSharp, bench/LlamaCppReference) and the PyTorch fp32 reference,
# measured in the same run on the same machine, then printed as a Markdown table with ratios.
#   bench/generate.sh [--threads 2] [--prompt-tokens 512] [--gen-tokens 128] [--preset smollm2-135m]
# Needs Debian's python3-torch (and libopenblas0-openmp for a fair PyTorch baseline).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
threads=2 prompt=512 gen=128 preset=smollm2-135m types="f32 q8_0 q4_0"
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --prompt-tokens) prompt=$2; shift 2 ;;
    --gen-tokens) gen=$2; shift 2 ;;
    --preset) preset=$2; shift 2 ;;
    --types) types=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
work="${RAGTUNE_BENCH_DIR:-/tmp/ragtune-bench}"
mkdir -p "$work"
for t in $types; do
  f="$work/$preset-$t.gguf"
  [ -f "$f" ] || "$root/ragtune" model create-random --preset "$preset" --type "$t" --seed 1 --out "$f" >&2
done

dotnet build "$root/bench/LlamaCppReference" -c Release -nologo -v q >&2
torch_json="$(/usr/bin/python3 "$root/dev/reference/bench_torch.py" --preset "$preset" --prompt-tokens "$prompt" --gen-tokens "$gen" --threads "$threads" --json)"
echo "| engine | type | prefill tok/s | decode tok/s | TTFT ms | peak RSS MiB | RSS / file | prefill vs llama.cpp | decode vs llama.cpp | prefill vs PyTorch | decode vs PyTorch |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
/usr/bin/python3 - "$torch_json" <<'PY'
import json, sys
t = json.loads(sys.argv[1])
print(f"| PyTorch {t.get('torch_version','')} fp32 ({t.get('blas','?')}) | f32 | {t['prefill_tokens_per_s']:.1f} | {t['decode_tokens_per_s']:.1f} | {t['time_to_first_token_s']*1000:.0f} | {t['peak_rss_mib']:.0f} | | | | 1.00 | 1.00 |")
PY
# Each type: RagTune, then llama.cpp on the same file and prompt token ids (ragtune bench generate --reference llamacpp).
for t in $types; do
  both="$("$root/ragtune" bench generate --model "$work/$preset-$t.gguf" --prompt-tokens "$prompt" --gen-tokens "$gen" --threads "$threads" --reference llamacpp --json)"
  /usr/bin/python3 - "$both" "$torch_json" "$t" <<'PY'
import json, sys
b, t, ty = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
o, l = b['ragtune'], b['reference']
for name, r in (("RagTune", o), ("llama.cpp b10221 (LLamaSharp 0.30.0)", l)):
    print(f"| {name} | {ty} | {r['prefill_tokens_per_second']:.1f} | {r['decode_tokens_per_second']:.1f} | {r['time_to_first_token_ms']:.0f} | {r['peak_rss_mib']:.0f} | {r['peak_rss_over_file_size']:.2f} | "
          f"{r['prefill_tokens_per_second']/l['prefill_tokens_per_second']:.2f} | {r['decode_tokens_per_second']/l['decode_tokens_per_second']:.2f} | "
          f"{r['prefill_tokens_per_second']/t['prefill_tokens_per_s']:.2f} | {r['decode_tokens_per_second']/t['decode_tokens_per_s']:.2f} |")
PY
done
echo
echo "threads $threads, prompt $prompt tokens, $gen generated, preset $preset; load average before/after: see uptime"
uptime
