#!/usr/bin/env bash
# vip5-rs against PyTorch on this CPU, side by side in one run, both sides pinned to the same
# thread count: the encoder forward pass and recommendNext-style generation (t5-small VIP5 shape,
# a 20-item visitor prompt with k = 2, the same random weights: trainer bench-model ->
# bench/model_cpu.py), CLIP ViT-B/32 (bench/clip_cpu.py), one training step with peak memory
# (bench/train_cpu.py), then the page against native (headless Chromium, CPU path). Prints one
# table of medians and ratios (ours / PyTorch, page / native); --json prints
# {"machine", "rows": [{"name", "ours_s", "reference_s", "ratio"} or, for the page,
# {"name", "page_s", "native_s", "ratio"}]} instead.
#   bash bench/compare.sh [--json]          THREADS=2 REPS=5 ITEMS=12101 PAGE=1
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

# 5. The page (headless Chromium, CPU path) against native, same bundle and query: recommendNext
#    (beam 20, 20 returned, a 20-item history) on the demo bundle and on a t5-small-shaped one
#    (seeded random weights, the Beauty catalogue), and CLIP's image embedding (the random
#    ViT-B/32 of row 3); the worker's wasm memory beside native peak RSS. PAGE=0 skips it.
if [ "${PAGE:-1}" = 1 ]; then
  bash scripts/build_site.sh > "$work/site.log" 2>&1 || { tail -20 "$work/site.log"; exit 1; }
  B=data/amazon/beauty
  "$T" prepare --sequential $B/sequential_data.txt --datamaps $B/datamaps.json \
    --titles $B/item_short_titles.txt --out "$work/beauty" > /dev/null
  page=$work/page
  mkdir -p "$page"
  cp tests/browser/parity.html tests/browser/*.js "$page"/
  cp www/assets/demo-q8_0.gguf "$page/demo.gguf"
  "$T" export --random-preset t5-small --data "$work/beauty" --quant q8_0 \
    --out "$page/t5-small.gguf" > /dev/null
  ln -s "$work/clip" "$page/clip"
  # The newest 20 items of the first user with at least 21 (any real history does).
  history=$(awk 'NF > 21 { for (i = NF - 19; i <= NF; i++) printf "%s%s", $i, (i < NF ? " " : ""); exit }' \
    $B/sequential_data.txt | python3 -c '
import json, sys
id2item = json.load(open(sys.argv[1]))["id2item"]
print(",".join(id2item[i] for i in sys.stdin.read().split()))' $B/datamaps.json)
  cases=$(python3 -c '
import json, sys
h, reps = sys.argv[1].split(","), int(sys.argv[2])
print(json.dumps([
  {"name": "demo", "bundle": "/fixtures/demo.gguf", "history": h, "k": 20, "reps": reps},
  {"name": "t5-small", "bundle": "/fixtures/t5-small.gguf", "history": h, "k": 20, "reps": reps},
  {"name": "clip", "bundle": "/fixtures/demo.gguf", "clip": "/fixtures/clip/model.safetensors",
   "reps": reps}]))' "$history" "$REPS")
  node tests/browser/run.mjs --dist dist --fixtures "$page" --out "$work" --page-bench "$cases" \
    > /dev/null
  for bundle in demo t5-small; do
    "$T" recommend --bundle "$page/$bundle.gguf" --history "$history" --k 20 --json > /dev/null
    for i in $(seq "$REPS"); do
      /usr/bin/time -f "peak_rss_kb=%M" -o "$work/native-rss-$bundle-$i.txt" \
        "$T" recommend --bundle "$page/$bundle.gguf" --history "$history" --k 20 --json \
        > "$work/native-$bundle-$i.json"
      # and on one thread, as the page runs (its wasm has no threads)
      RAYON_NUM_THREADS=1 "$T" recommend --bundle "$page/$bundle.gguf" --history "$history" \
        --k 20 --json > "$work/native1-$bundle-$i.json"
    done
  done
  /usr/bin/time -f "peak_rss_kb=%M" -o "$work/native-rss-clip.txt" \
    "$T" bench-clip --clip "$work/clip/model.safetensors" --images "$REPS" --batch 1 \
    > /dev/null
fi

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
        ours_peak_rss_mb=int(peak.group(1)) if peak else None,
        reference_peak_rss_mb=(int(m.group(1)) if (m := re.search(r"peak_rss_mb=(\d+)", r))
                               else None))
page_rows = []
if os.path.exists(f"{work}/page-bench.json"):
    page = json.load(open(f"{work}/page-bench.json"))
    def rss_mb(path):
        return int(re.search(r"peak_rss_kb=(\d+)", open(path).read()).group(1)) // 1024
    def median(xs):
        return sorted(xs)[len(xs) // 2]
    for bundle in ("demo", "t5-small"):
        runs = [n for n in os.listdir(work) if n.startswith(f"native-{bundle}-")]
        docs = [json.load(open(f"{work}/{n}")) for n in runs]
        native_s = median([d["recommend_seconds"] for d in docs])
        native1_s = median([json.load(open(f"{work}/{n.replace('native-', 'native1-')}"))
                            ["recommend_seconds"] for n in runs])
        same = [r["key"] for r in docs[0]["next"]] == page[bundle]["next"]
        page_rows.append({
            "name": f"page recommendNext, beam 20, 20 returned ({bundle} bundle, q8_0)",
            "page_s": page[bundle]["medianSeconds"], "native_s": native_s,
            "ratio": page[bundle]["medianSeconds"] / native_s,
            "native_1_thread_s": native1_s,
            "page_worker_memory_mb": page[bundle]["memoryBytes"] // 2**20,
            "native_peak_rss_mb": median([rss_mb(f"{work}/native-rss-{bundle}-{i + 1}.txt")
                                          for i in range(len(runs))]),
            "same_answer": same})
    clip_native_s = 1 / rate(f"{work}/clip-ours-1.txt", "images_per_s")
    page_rows.append({
        "name": "page CLIP ViT-B/32 image embedding, one image",
        "page_s": page["clip"]["medianSeconds"], "native_s": clip_native_s,
        "ratio": page["clip"]["medianSeconds"] / clip_native_s,
        "page_worker_memory_mb": page["clip"]["memoryBytes"] // 2**20,
        "native_peak_rss_mb": rss_mb(f"{work}/native-rss-clip.txt")})
ref = json.load(open(f"{work}/ref-numbers.json"))
machine = {"cpu": subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                                 capture_output=True, text=True).stdout.strip(),
           "threads": int(threads), "python": platform.python_version(),
           "torch": ref["torch"], "transformers": ref["transformers"],
           "constrained_agreement": agreement}
if as_json:
    print(json.dumps({"machine": machine, "rows": rows + page_rows}, indent=2))
else:
    print(f"{machine['cpu']}, {threads} threads, torch {machine['torch']}, "
          f"transformers {machine['transformers']}")
    print(f"{'row':<72} {'ours s':>10} {'PyTorch s':>10} {'ratio':>7}")
    for r in rows:
        print(f"{r['name']:<72} {r['ours_s']:>10.4f} {r['reference_s']:>10.4f} {r['ratio']:>7.2f}")
    print("ratio = ours / PyTorch (below 1: ours is faster)")
    for r in rows:
        if r.get("ours_peak_rss_mb"):
            print(f"{r['name']}: peak RSS ours {r['ours_peak_rss_mb']} MB, "
                  f"PyTorch {r.get('reference_peak_rss_mb')} MB")
    if page_rows:
        print(f"{'page row (headless Chromium, CPU path, 1 thread)':<72} {'page s':>10} "
              f"{'native s':>10} {'ratio':>7}")
        for r in page_rows:
            print(f"{r['name']:<72} {r['page_s']:>10.4f} {r['native_s']:>10.4f} "
                  f"{r['ratio']:>7.2f}")
        print("ratio = page / native (native: the same build, "
              f"{threads} threads)")
        for r in page_rows:
            extra = "" if "same_answer" not in r else \
                f", same 20 items: {'yes' if r['same_answer'] else 'NO'}"
            if "native_1_thread_s" in r:
                print(f"{r['name']}: native on 1 thread {r['native_1_thread_s']:.4f} s, "
                      f"page / native 1 thread {r['page_s'] / r['native_1_thread_s']:.2f}")
            print(f"{r['name']}: worker wasm memory {r['page_worker_memory_mb']} MB, "
                  f"native peak RSS {r['native_peak_rss_mb']} MB{extra}")
    for naming, a in agreement.items():
        print(f"constrained answers, {naming}: "
              f"top-1 {'equal' if a['top1_equal'] else 'DIFFERENT'}, "
              f"top-10 overlap {a['top10_overlap']:.0%}")
PY
