#!/usr/bin/env bash
# The demo recipe of scripts/train_demo.sh, unchanged, on Amazon Sports (not shipped: pass the
# folder with its P5-layout sequential_data.txt, datamaps.json and item_short_titles.txt).
#   bash scripts/train_sports.sh <sports dir> [work dir, default /tmp/vip5-sports]
# With BASELINES_ONLY=1 it prepares the data and evaluates the baselines only (seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=${1:?usage: train_sports.sh <sports dir> [work dir]}
WORK=${2:-/tmp/vip5-sports}
EPOCHS=${EPOCHS:-6}
source scripts/recipe.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vip5-rs/target}
cargo build --release --workspace
T=$CARGO_TARGET_DIR/release/trainer
mkdir -p "$WORK"
[ -s "$WORK/sports-reindexed/sequential_data.txt" ] || $T prepare \
  --sequential "$SRC/sequential_data.txt" --datamaps "$SRC/datamaps.json" \
  --titles "$SRC/item_short_titles.txt" --reindex-seed 2022 --out "$WORK/sports-reindexed"
for split in val test; do
  $T eval --data "$WORK/sports-reindexed" --split $split --prompts A-3 --json \
    > "$WORK/baselines-$split.json"
done
[ "${BASELINES_ONLY:-0}" = 1 ] && exit 0
# A run cut short (session end, kill) continues from its last checkpoint when started again.
resume=()
[ -d "$WORK/run/checkpoints" ] && [ ! -s "$WORK/run/train_report.json" ] && resume=(--resume)
[ -s "$WORK/run/train_report.json" ] ||
  /usr/bin/time -v -o "$WORK/time-train.txt" $T train --data "$WORK/sports-reindexed" \
    --out "$WORK/run" "${RECIPE[@]}" "${resume[@]}"
$T eval --data "$WORK/sports-reindexed" --model "$WORK/run" --split test --prompts A-3 \
  --decoding constrained --json --rankings-out "$WORK/rankings.jsonl" > "$WORK/eval-test.json"
for base in "last-item transitions" "co-occurrence"; do
  $T compare-rankings --a "$WORK/rankings.jsonl" --a-method "$base" --b "$WORK/rankings.jsonl" \
    --b-method "vip5 constrained" --json
done > "$WORK/compare-baselines.jsonl"
