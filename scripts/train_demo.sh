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

# 1. Seeded random re-indexing (no id leak). With item tokens the model never sees the numbers, so
#    the re-indexed and the original numbering train the same model up to a relabelling.
$T prepare --sequential $B/sequential_data.txt --datamaps $B/datamaps.json --titles $B/item_short_titles.txt \
  --reindex-seed 2022 --out "$WORK/beauty-reindexed"

# 2. Train (the 60-minute budget is enforced by timeout): one token per item, newest 10 items.
timeout 3600 $T train --data "$WORK/beauty-reindexed" --out "$WORK/run" --preset demo --mode scratch --item-tokens \
  --tasks sequential --sequential-per-user 11 --epochs 1 --batch-size 32 --max-history-items 10 \
  --dropout 0 --seed 2022 --checkpoint-every 1000 --device cpu

# 3. Evaluate on the test split (A-3, beams 20, full catalogue) beside the baselines: constrained
#    decoding on every user, the paper's unconstrained decoding on a seeded 5,000.
$T eval --data "$WORK/beauty-reindexed" --model "$WORK/run" --prompts A-3 --decoding constrained \
  --max-history-items 10 --json --rankings-out "$WORK/rankings-f32.jsonl" > "$WORK/eval-test.json"
$T eval --data "$WORK/beauty-reindexed" --model "$WORK/run" --prompts A-3 --max-users 5000 \
  --max-history-items 10 --json > "$WORK/eval-test-5000.json"

# 4. Bundles and the accuracy cost of quantization on the same users.
for q in f32 q8_0 q4_0; do
  $T export --model "$WORK/run" --data "$WORK/beauty-reindexed" --quant $q --out "$WORK/demo-$q.gguf"
done
for q in q8_0 q4_0; do
  $T eval --data "$WORK/beauty-reindexed" --model "$WORK/demo-$q.gguf" --prompts A-3 --decoding constrained \
    --max-users 1000 --max-history-items 10 --json --rankings-out "$WORK/rankings-$q.jsonl" > "$WORK/eval-$q.json"
done
$T eval --data "$WORK/beauty-reindexed" --model "$WORK/demo-f32.gguf" --prompts A-3 --decoding constrained \
  --max-users 1000 --max-history-items 10 --json --rankings-out "$WORK/rankings-f32-1000.jsonl" > "$WORK/eval-f32-1000.json"
for q in q8_0 q4_0; do
  $T compare-rankings --a "$WORK/rankings-f32-1000.jsonl" --b "$WORK/rankings-$q.jsonl"
done
