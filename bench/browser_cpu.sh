#!/usr/bin/env bash
# The wasm CPU path against native CPU on the same bundle and query, in one run: recommendNext(10)
# for a 5-item history with the demo bundle, median of 5 calls after a warm-up, in headless
# Chromium (CPU path, and SwiftShader WebGPU for the record) and natively (`trainer recommend`).
# Also first vs cached load time in the page. Needs dist/ (scripts/build_site.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vip5-rs/target}"
T=$CARGO_TARGET_DIR/release/trainer
BUNDLE=www/assets/demo-q8_0.gguf
HISTORY=B004OHQR1Q,B0069FDR96,B006L1DNWY,B0043OYFKU,B009K7NA1U
OUT=$(mktemp -d)
BENCH_SPEC="{\"bundle\":\"/assets/demo-q8_0.gguf\",\"history\":[\"${HISTORY//,/\",\"}\"],"
BENCH_SPEC+="\"k\":10,\"reps\":9}"
node tests/browser/run.mjs --dist dist --fixtures tests/browser --out "$OUT" \
  --bench "$BENCH_SPEC" > /dev/null
$T recommend --bundle $BUNDLE --history $HISTORY --k 10 --json > "$OUT/native.json"
best=""
for i in 1 2 3 4 5 6; do
  s=$($T recommend --bundle $BUNDLE --history $HISTORY --k 10 --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["recommend_seconds"])')
  best="$best $s"
done
python3 - "$OUT/bench.json" "$OUT/native.json" $best <<'PY'
import json, sys, statistics
b = json.load(open(sys.argv[1]))
native_keys = [r["key"] for r in json.load(open(sys.argv[2]))["next"]]
native = statistics.median(float(x) for x in sys.argv[4:])  # the first native run is a warm-up
for mode in ("cpu", "webgpu"):
    r = b[mode]
    print(f"{mode:>6} in the page: recommendNext(10) median {r['medianSeconds']*1000:.0f} ms "
          f"(history read {r['historyReadSeconds']*1000:.1f} ms, worker call "
          f"{r['workerCallSeconds']*1000:.0f} ms); load {r['loadSeconds']:.2f} s (first), "
          f"{r['secondLoadSeconds']:.2f} s (cached={r['secondCached']})")
print(f"native CPU (trainer recommend): median {native*1000:.0f} ms")
print(f"wasm CPU / native CPU time ratio: {b['cpu']['medianSeconds']/native:.2f}")
print("same top-10 in the page as natively:",
      {m: b[m]["next"] == native_keys for m in ("cpu", "webgpu")})
PY
