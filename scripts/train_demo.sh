#!/usr/bin/env bash
# Trains the bundled demo model on Beauty from scratch on this machine's CPU (prepare + train in
# at most 120 min, enforced by timeout), draws its validation learning curve, evaluates it the
# paper's way beside the baselines, and exports the bundle the demo site loads.
#   bash scripts/train_demo.sh [work dir, default /tmp/vip5-demo]
#   EPOCHS=6 VAL_ONLY=1 bash scripts/train_demo.sh DIR   # train + validation curve only
#                                                        # (a candidate);
#   VAL_ONLY=0 bash scripts/train_demo.sh DIR            # then the test figures, without retraining
#   EXTRA_FLAGS="--distill-sharpen 2" ...               # a candidate beside the recipe
# Figures in the README came from this script (2 cores, no GPU). Recipe choices were made on the
# validation split (README, "The demo model"); the test split gives only the final figures.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/vip5-demo}
EPOCHS=${EPOCHS:-6}
source scripts/recipe.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vip5-rs/target}
cargo build --release --workspace
T=$CARGO_TARGET_DIR/release/trainer
mkdir -p "$WORK"
B=data/amazon/beauty

# 1+2. Prepare (seeded random re-indexing: no id leak) and train, timed together; skipped when
#   the work dir already holds a finished run (rerun with VAL_ONLY=0 after choosing on
#   validation). The recipe is in scripts/recipe.sh.
if [ ! -s "$WORK/run/train_report.json" ]; then
  /usr/bin/time -v -o "$WORK/time-prepare-train.txt" timeout 7200 bash -c "
    $T prepare --sequential $B/sequential_data.txt --datamaps $B/datamaps.json \
      --titles $B/item_short_titles.txt --reindex-seed 2022 --out '$WORK/beauty-reindexed' &&
    $T train --data '$WORK/beauty-reindexed' --out '$WORK/run' ${RECIPE[*]} ${EXTRA_FLAGS:-}"
fi
grep -E "Elapsed|Maximum resident" "$WORK/time-prepare-train.txt"
for q in q8_0 f32 q4_0; do
  $T export --model "$WORK/run" --data "$WORK/beauty-reindexed" --quant $q \
    --out "$WORK/demo-$q.gguf"
done

# 3. Validation learning curve, where the recipe is chosen: 2,000 seeded users per epoch.
for e in $(ls "$WORK/run/epochs" | sort -n) final; do
  m="$WORK/run/epochs/$e"; [ "$e" = final ] && m="$WORK/run"
  [ -s "$WORK/eval-val-epoch-$e.json" ] && continue
  $T eval --data "$WORK/beauty-reindexed" --model "$m" --split val --prompts A-3 \
    --decoding constrained --max-users 2000 --json > "$WORK/eval-val-epoch-$e.json"
done
# VAL_ONLY=1 stops here: the test split is evaluated only for a run chosen on validation.
[ "${VAL_ONLY:-0}" = 1 ] && exit 0

# 4. The shipped q8_0 bundle first, evaluated exactly as the README states (test split, every user,
#    A-3, beam 20, full catalogue, constrained, beside every baseline), and paired with the
#    baselines.
$T eval --data "$WORK/beauty-reindexed" --model "$WORK/demo-q8_0.gguf" --split test --prompts A-3 \
  --decoding constrained --rankings-out "$WORK/rankings-q8_0.jsonl" --json \
  > "$WORK/eval-test-q8_0.json"
for base in "last-item transitions" "co-occurrence" "popularity"; do
  $T compare-rankings --a "$WORK/rankings-q8_0.jsonl" --a-method "$base" \
    --b "$WORK/rankings-q8_0.jsonl" --b-method "vip5 constrained" --json
done > "$WORK/compare-q8_0-baselines.jsonl"

# 5. The f32 weights on the same users (top-10 agreement with q8_0).
$T eval --data "$WORK/beauty-reindexed" --model "$WORK/run" --prompts A-3 --decoding constrained \
  --json --rankings-out "$WORK/rankings-f32.jsonl" > "$WORK/eval-test.json"
$T compare-rankings --a "$WORK/rankings-f32.jsonl" --a-method "vip5 constrained" \
  --b "$WORK/rankings-q8_0.jsonl" --b-method "vip5 constrained" --json \
  > "$WORK/compare-f32-q8_0.json"

# 6. The paper's unconstrained decoding on a seeded 5,000, and q4_0 on a seeded 2,000.
$T eval --data "$WORK/beauty-reindexed" --model "$WORK/run" --prompts A-3 --decoding unconstrained \
  --max-users 5000 --json > "$WORK/eval-test-5000.json"
$T eval --data "$WORK/beauty-reindexed" --model "$WORK/demo-q4_0.gguf" --prompts A-3 \
  --decoding constrained --max-users 2000 --rankings-out "$WORK/rankings-q4_0.jsonl" --json \
  > "$WORK/eval-test-q4_0.json"
