#!/usr/bin/env bash
# Training throughput on the CPU: vip5-rs (burn flex) vs PyTorch, same VIP5 model config, same
# fixed-shape batch, 2 threads, in one run. MODE=adapters|full, PRESET=demo|t5-small.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vip5-rs/target}"
args=(--preset "${PRESET:-demo}" --mode "${MODE:-adapters}" --batch "${BATCH:-32}" --input-len 64 \
  --images 8 --target-len 4 --steps "${STEPS:-10}")
cargo build --release -q --workspace
rs=$(RAYON_NUM_THREADS=2 "$CARGO_TARGET_DIR/release/trainer" bench-train "${args[@]}" | tail -1)
py=$(python3 bench/train_cpu.py "${args[@]}" --threads 2 2>/dev/null | tail -1)
echo "$rs"
echo "$py"
python3 - "$rs" "$py" <<'PY'
import re, sys
r = float(re.search(r"samples_per_s=([\d.]+)", sys.argv[1]).group(1))
p = float(re.search(r"samples_per_s=([\d.]+)", sys.argv[2]).group(1))
print(f"ratio vip5-rs/pytorch = {r / p:.2f}")
PY
