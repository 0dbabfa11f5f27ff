#!/usr/bin/env bash
# Reproduces the generation figures in docs/benchmarks.md: RagTune's engine and the PyTorch fp32 reference,
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

torch_json="$(/usr/bin/python3 "$root/dev/reference/bench_torch.py" --preset "$preset" --prompt-tokens "$prompt" --gen-tokens "$gen" --threads "$threads" --json)"
echo "| engine | type | prefill tok/s | decode tok/s | TTFT ms | peak RSS MiB | RSS / file | decode vs PyTorch | prefill vs PyTorch |"
echo "|---|---|---|---|---|---|---|---|---|"
/usr/bin/python3 - "$torch_json" <<'PY'
import json, sys
t = json.loads(sys.argv[1])
print(f"| PyTorch {t.get('torch_version','')} fp32 ({t.get('blas','?')}) | f32 | {t['prefill_tokens_per_s']:.1f} | {t['decode_tokens_per_s']:.1f} | {t['time_to_first_token_s']*1000:.0f} | {t['peak_rss_mib']:.0f} | | 1.00 | 1.00 |")
PY
for t in $types; do
  ours="$("$root/ragtune" bench generate --model "$work/$preset-$t.gguf" --prompt-tokens "$prompt" --gen-tokens "$gen" --threads "$threads" --json)"
  /usr/bin/python3 - "$ours" "$torch_json" "$t" <<'PY'
import json, sys
o, t, ty = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
print(f"| RagTune | {ty} | {o['prefill_tokens_per_second']:.1f} | {o['decode_tokens_per_second']:.1f} | {o['time_to_first_token_ms']:.0f} | {o['peak_rss_mib']:.0f} | {o['peak_rss_over_file_size']:.2f} | {o['decode_tokens_per_second']/t['decode_tokens_per_s']:.2f} | {o['prefill_tokens_per_second']/t['prefill_tokens_per_s']:.2f} |")
PY
done
echo
echo "threads $threads, prompt $prompt tokens, $gen generated, preset $preset; load average before/after: see uptime"
uptime
