#!/usr/bin/env bash
# Runs every test. The engine tests run three times: with all instruction sets, with AVX-512 off
# (Vector256 paths) and with AVX2 off too (Vector128 paths), so every SIMD branch is exercised on one machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
results="$(pwd)/artifacts/test-results"
rm -rf "$results"; mkdir -p "$results"

# The PostgreSQL store tests run against $RAGTUNE_TEST_POSTGRES (.ci/run starts one) or else start the PGlite server
# in dev/pglite themselves, which needs its npm packages.
if [ -z "${RAGTUNE_TEST_POSTGRES:-}" ] && [ ! -d dev/pglite/node_modules ]; then
  npm ci --prefix dev/pglite --no-audit --no-fund --loglevel=error
fi
dotnet build RagTune.slnx -c Release -nologo -v q
dotnet test RagTune.slnx -c Release --no-build -nologo --logger "trx;LogFilePrefix=all" --results-directory "$results"
# The instruction-set reruns skip the few slow whole-model tests (Category=Slow); the kernels all run.
DOTNET_EnableAVX512=0 dotnet test tests/RagTune.Engine.Tests -c Release --no-build -nologo --filter "Category!=Slow" \
  --logger "trx;LogFilePrefix=noavx512" --results-directory "$results"
DOTNET_EnableAVX512=0 DOTNET_EnableAVX2=0 dotnet test tests/RagTune.Engine.Tests -c Release --no-build -nologo --filter "Category!=Slow" \
  --logger "trx;LogFilePrefix=noavx2" --results-directory "$results"

# One closing line summing every run (the .trx files are the detailed record).
python3 - "$results" <<'PY' 2>/dev/null || true
import sys, glob, re
p = f = s = 0
for path in glob.glob(sys.argv[1] + "/**/*.trx", recursive=True):
    text = open(path, encoding="utf-8").read()
    m = re.search(r'<Counters [^>]*', text)
    if not m: continue
    c = dict(re.findall(r'(\w+)="(\d+)"', m.group(0)))
    p += int(c.get("passed", 0)); f += int(c.get("failed", 0)); s += int(c.get("notExecuted", 0))
print(f"{p} passed, {f} failed, {s} skipped")
PY
