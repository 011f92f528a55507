#!/usr/bin/env bash
# vip5-rs against PyTorch on this CPU, side by side in one run, both sides pinned to the same
# thread count: the encoder forward pass and recommendNext-style generation (t5-small VIP5 shape,
# a 20-item visitor prompt with k = 2, the same random weights: trainer bench-model ->
# bench/model_cpu.py), CLIP ViT-B/32 (bench/clip_cpu.py), one training step (bench/train_cpu.py).
# Prints one table of medians and ratios (ours / PyTorch); --json prints
# {"machine", "rows": [{"name", "ours_s", "reference_s", "ratio"}]} instead.
#   bash bench/compare.sh [--json]          THREADS=2 REPS=5 ITEMS=12101
# Python needs bench/requirements.txt. Run it on an idle machine: nothing else on the cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vip5-rs/target}"
JSON=0
[ "${1:-}" = --json ] && JSON=1
THREADS=${THREADS:-2}
REPS=${REPS:-5}
ITEMS=${ITEMS:-12101}
export RAYON_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS
cargo build --release -q --workspace
T=$CARGO_TARGET_DIR/release/trainer
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1-2. Encoder and generation, number ids and item tokens: the same weights and prompt both sides.
for naming in numbers tokens; do
  flag=(); [ $naming = tokens ] && flag=(--item-tokens)
  "$T" bench-model --preset t5-small --items "$ITEMS" "${flag[@]}" --reps "$REPS" \
    --write "$work/$naming" --json > "$work/ours-$naming.json"
  python3 bench/model_cpu.py "$work/$naming" --threads "$THREADS" --reps "$REPS" \
    > "$work/ref-$naming.json"
done
# 3. CLIP ViT-B/32, batch 1 and 16 (random weights written by the PyTorch side).
for b in 1 16; do
  python3 bench/clip_cpu.py --dir "$work/clip" --images $((b * REPS)) --batch $b \
    --threads "$THREADS" | tail -1 > "$work/clip-ref-$b.txt"
  "$T" bench-clip --clip "$work/clip/model.safetensors" --images $((b * REPS)) --batch $b |
    tail -1 > "$work/clip-ours-$b.txt"
done
# 4. One training step: adapters on t5-small (batch 16), adapters on demo (batch 32), full
#    fine-tuning on demo (batch 32).
for spec in "t5-small adapters 16" "demo adapters 32" "demo full 32"; do
  set -- $spec
  args=(--preset "$1" --mode "$2" --batch "$3" --input-len 64 --images 8 --target-len 4 \
    --steps "$REPS")
  "$T" bench-train "${args[@]}" | tail -1 > "$work/train-ours-$1-$2.txt"
  python3 bench/train_cpu.py "${args[@]}" --threads "$THREADS" 2>/dev/null | tail -1 \
    > "$work/train-ref-$1-$2.txt"
done

python3 - "$work" "$JSON" "$THREADS" <<'PY'
import json, os, platform, re, subprocess, sys
work, as_json, threads = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
rows = []
def add(name, ours, ref, **extra):
    rows.append({"name": name, "ours_s": ours, "reference_s": ref, "ratio": ours / ref, **extra})
agreement = {}
for naming in ("numbers", "tokens"):
    ours_doc, ref_doc = (json.load(open(f"{work}/ours-{naming}.json")),
                         json.load(open(f"{work}/ref-{naming}.json")))
    # Same weights, same prompt: the constrained top-10 items must agree, or the rows time
    # different work.
    a, b = ours_doc["constrained_top_items"][:10], ref_doc["constrained_top_items"][:10]
    agreement[naming] = {"top1_equal": a[:1] == b[:1],
                         "top10_overlap": len(set(a) & set(b)) / max(len(a), 1)}
    ours = {r["name"]: r for r in ours_doc["rows"]}
    ref = {r["name"]: r for r in ref_doc["rows"]}
    for name in ours:
        add(f"{name} (t5-small, {'item tokens' if naming == 'tokens' else 'number ids'})",
            ours[name]["median_s"], ref[name]["median_s"])
def rate(path, key):
    return float(re.search(key + r"=([\d.]+)", open(path).read()).group(1))
for b in (1, 16):
    add(f"CLIP ViT-B/32 image embedding, batch {b} (per batch)",
        b / rate(f"{work}/clip-ours-{b}.txt", "images_per_s"),
        b / rate(f"{work}/clip-ref-{b}.txt", "images_per_s"))
for spec in ("t5-small-adapters", "demo-adapters", "demo-full"):
    o, r = open(f"{work}/train-ours-{spec}.txt").read(), open(f"{work}/train-ref-{spec}.txt").read()
    peak = re.search(r"peak_rss_mb=(\d+)", o)
    add(f"training step, {spec.replace('-a', ' a').replace('-f', ' f').replace('demo', 'demo')}",
        rate(f"{work}/train-ours-{spec}.txt", "step_s"),
        rate(f"{work}/train-ref-{spec}.txt", "step_s"),
        ours_peak_rss_mb=int(peak.group(1)) if peak else None)
ref = json.load(open(f"{work}/ref-numbers.json"))
machine = {"cpu": subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                                 capture_output=True, text=True).stdout.strip(),
           "threads": int(threads), "python": platform.python_version(),
           "torch": ref["torch"], "transformers": ref["transformers"],
           "constrained_agreement": agreement}
if as_json:
    print(json.dumps({"machine": machine, "rows": rows}, indent=2))
else:
    print(f"{machine['cpu']}, {threads} threads, torch {machine['torch']}, "
          f"transformers {machine['transformers']}")
    print(f"{'row':<72} {'ours s':>10} {'PyTorch s':>10} {'ratio':>7}")
    for r in rows:
        print(f"{r['name']:<72} {r['ours_s']:>10.4f} {r['reference_s']:>10.4f} {r['ratio']:>7.2f}")
    print("ratio = ours / PyTorch (below 1: ours is faster)")
    for naming, a in agreement.items():
        print(f"constrained answers, {naming}: "
              f"top-1 {'equal' if a['top1_equal'] else 'DIFFERENT'}, "
              f"top-10 overlap {a['top10_overlap']:.0%}")
PY
