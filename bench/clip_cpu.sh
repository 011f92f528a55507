#!/usr/bin/env bash
# CLIP ViT-B/32 image features on the CPU: vip5-rs (burn flex) vs PyTorch transformers, same
# random weights, same batch, 2 threads, in one run. Prints both rates and their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vip5-rs/target}"
dir=$(mktemp -d)
images=${IMAGES:-32}
batch=${BATCH:-8}
py=$(python3 bench/clip_cpu.py --dir "$dir" --images "$images" --batch "$batch" --threads 2 |
  tail -1)
echo "$py"
cargo build --release -q -p trainer
rs=$(RAYON_NUM_THREADS=2 "$CARGO_TARGET_DIR/release/trainer" bench-clip \
  --clip "$dir/model.safetensors" --images "$images" --batch "$batch" | tail -1)
echo "$rs"
python3 - "$py" "$rs" <<'PY'
import re, sys
p = float(re.search(r"images_per_s=([\d.]+)", sys.argv[1]).group(1))
r = float(re.search(r"images_per_s=([\d.]+)", sys.argv[2]).group(1))
print(f"ratio vip5-rs/pytorch = {r / p:.2f}")
PY
rm -rf "$dir"
