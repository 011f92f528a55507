#!/usr/bin/env bash
# Trains the bundled demo model on Beauty from scratch on this machine's CPU (<= 60 min), evaluates
# it the paper's way beside the baselines, and exports the bundle the demo site loads.
#   bash scripts/train_demo.sh [work dir, default /tmp/vip5-demo]
# Figures in the README came from this script (2 cores, no GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/vip5-demo}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vip5-rs/target}
cargo build --release --workspace
T=$CARGO_TARGET_DIR/release/trainer
mkdir -p "$WORK"
B=data/amazon/beauty

# 1. Seeded random re-indexing (no id leak), then ids along training successor chains.
$T prepare --sequential $B/sequential_data.txt --datamaps $B/datamaps.json --titles $B/item_short_titles.txt \
  --reindex-seed 2022 --successor-index --out "$WORK/beauty-chains"
# The same for the leaky original numbering, for the second table.
$T prepare --sequential $B/sequential_data.txt --datamaps $B/datamaps.json --titles $B/item_short_titles.txt \
  --out "$WORK/beauty-original"

# 2. Train (the 60-minute budget is enforced by timeout).
timeout 3600 $T train --data "$WORK/beauty-chains" --out "$WORK/run" --preset demo --mode scratch \
  --tasks sequential --sequential-per-user 7 --epochs 1 --batch-size 32 --max-history-items 10 \
  --dropout 0 --seed 2022 --checkpoint-every 500 --device cpu

# 3. Evaluate on the test split (A-3, beams 20, full catalogue), both decodings, with baselines.
$T eval --data "$WORK/beauty-chains" --model "$WORK/run" --prompts A-3 --max-users 2000 --json \
  --rankings-out "$WORK/rankings-f32.jsonl" > "$WORK/eval-test.json"

# 4. Bundles and the accuracy cost of quantization on the same users.
for q in f32 q8_0 q4_0; do
  $T export --model "$WORK/run" --data "$WORK/beauty-chains" --quant $q --out "$WORK/demo-$q.gguf"
done
for q in q8_0 q4_0; do
  $T eval --data "$WORK/beauty-chains" --model "$WORK/demo-$q.gguf" --prompts A-3 --decoding constrained \
    --max-users 1000 --json --rankings-out "$WORK/rankings-$q.jsonl" > "$WORK/eval-$q.json"
done
$T eval --data "$WORK/beauty-chains" --model "$WORK/demo-f32.gguf" --prompts A-3 --decoding constrained \
  --max-users 1000 --json --rankings-out "$WORK/rankings-f32-1000.jsonl" > "$WORK/eval-f32-1000.json"
for q in q8_0 q4_0; do
  $T compare-rankings --a "$WORK/rankings-f32-1000.jsonl" --b "$WORK/rankings-$q.jsonl"
done
