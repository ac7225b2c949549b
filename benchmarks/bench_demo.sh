#!/usr/bin/env bash
# Wall time of `crate demo` (import, train, score six records, evaluate), on a throw-away database and
# models folder. "After set-up": the package is installed and the embedding cache is warm — run it twice
# on a fresh machine and take the second figure (the first also embeds the catalogue once).
# Target: <= 3 min.   Usage: benchmarks/bench_demo.sh   (from anywhere; uses .venv if there is one)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ -f .venv/bin/activate ]]; then . .venv/bin/activate; fi
TMP="$(mktemp -d -t crate-demo-XXXXXX)"
trap 'rm -rf "$TMP"' EXIT
export CRATE_PATHS__MODELS_DIR="$TMP/models"
start=$(date +%s.%N)
crate --database "sqlite:///$TMP/demo.db" demo > "$TMP/demo.log" 2>&1 || { cat "$TMP/demo.log"; exit 1; }
end=$(date +%s.%N)
tail -n 25 "$TMP/demo.log"
secs=$(python -c "print(f'{$end - $start:.1f}')")
echo
echo "crate demo: ${secs} s wall ($(nproc) CPUs); target <= 180 s: $(python -c "print('OK' if $end - $start <= 180 else 'MISSED')")"
