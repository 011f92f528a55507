#!/usr/bin/env bash
# Our side of bench/compare.sh's rows 1-4 on a GPU, through wgpu (Vulkan) and, with a trainer
# built with `--features cuda`, CUDA: encoder forward (batch 1, 16), recommendNext-style beam
# search with and without the item constraint (number ids and item tokens), CLIP ViT-B/32
# (batch 1, 16) and one training step (t5-small adapters batch 16, demo adapters and full batch
# 32). Random weights, the same shapes as compare.sh. One table of medians (--json: one document).
#
# The GPU machine has no Rust and no network, so the binary travels (under 5 minutes there):
#   bash bench/gpu.sh --pack                 # here: release build, stripped and gzipped into .gpu/,
#                                            # the Vulkan loader's .debs into .gl/ (both
#                                            # git-ignored)
#   bash bench/gpu.sh [--json]               # there, with .gpu and .gl carried
#   DEVICES="wgpu cuda" REPS=5 PRESET=t5-small bash bench/gpu.sh
# Locally (Mesa's lavapipe stands in for a GPU: correctness only) the build's own binary is used.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vip5-rs/target}"

if [ "${1:-}" = --pack ]; then
  cargo build --release -q --workspace
  mkdir -p .gpu .gl
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo /.gpu/ >>.git/info/exclude
  grep -qx '/.gl/' .git/info/exclude 2>/dev/null || echo /.gl/ >>.git/info/exclude
  strip -o .gpu/trainer "$CARGO_TARGET_DIR/release/trainer"
  gzip -9 -f .gpu/trainer
  # The Vulkan and EGL loaders, unpacked on the GPU machine (it may lack them).
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  mkdir -p /tmp/amd64/partial
  apt-get "${o[@]}" update -qq
  (cd .gl &&
    apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
  du -sh .gpu .gl
  exit 0
fi

JSON=0
[ "${1:-}" = --json ] && JSON=1
REPS=${REPS:-5}
ITEMS=${ITEMS:-12101}
PRESET=${PRESET:-t5-small}
if [ -f .gpu/trainer.gz ]; then
  # On the GPU machine: the carried binary and loaders.
  for f in .gl/*.deb; do [ -e "$f" ] && dpkg -x "$f" /; done
  ldconfig 2>/dev/null || true
  [ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] &&
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  T=$(mktemp -d)/trainer
  gunzip -c .gpu/trainer.gz >"$T"
  chmod +x "$T"
else
  cargo build --release -q --workspace
  T=$CARGO_TARGET_DIR/release/trainer
fi
DEVICES=${DEVICES:-wgpu}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader \
  >"$work/gpu.txt" 2>/dev/null ||
  echo "no nvidia-smi" >"$work/gpu.txt"

for dev in $DEVICES; do
  # 1-2. Encoder and generation.
  for naming in numbers tokens; do
    flag=()
    [ $naming = tokens ] && flag=(--item-tokens)
    "$T" bench-model --preset "$PRESET" --items "$ITEMS" "${flag[@]}" --reps "$REPS" \
      --device "$dev" --json >"$work/model-$dev-$naming.json"
  done
  # 3. CLIP ViT-B/32, seeded random weights.
  for b in 1 16; do
    "$T" bench-clip --images $((b * REPS)) --batch $b --device "$dev" |
      tail -1 >"$work/clip-$dev-$b.txt"
  done
  # 4. Training steps (the t5-small row follows PRESET, for a quick check on tiny).
  for spec in "$PRESET adapters 16" "demo adapters 32" "demo full 32"; do
    set -- $spec
    "$T" bench-train --preset "$1" --mode "$2" --batch "$3" --input-len 64 --images 8 \
      --target-len 4 --steps "$REPS" --device "$dev" | tail -1 >"$work/train-$dev-$1-$2.txt"
  done
done

python3 - "$work" "$JSON" "$DEVICES" "$PRESET" <<'PY'
import json, re, sys
work, as_json, devices, preset = sys.argv[1], sys.argv[2] == "1", sys.argv[3].split(), sys.argv[4]
rows = []
def value(path, key):
    return float(re.search(key + r"=([\d.]+)", open(path).read()).group(1))
for dev in devices:
    for naming in ("numbers", "tokens"):
        doc = json.load(open(f"{work}/model-{dev}-{naming}.json"))
        label = "item tokens" if naming == "tokens" else "number ids"
        for r in doc["rows"]:
            rows.append({"device": dev, "name": f"{r['name']} ({preset}, {label})",
                         "ours_s": r["median_s"]})
    for b in (1, 16):
        rows.append({"device": dev, "name": f"CLIP ViT-B/32 image embedding, batch {b} (per batch)",
                     "ours_s": b / value(f"{work}/clip-{dev}-{b}.txt", "images_per_s")})
    for p, mode in ((preset, "adapters"), ("demo", "adapters"), ("demo", "full")):
        path = f"{work}/train-{dev}-{p}-{mode}.txt"
        rows.append({"device": dev, "name": f"training step, {p} {mode}",
                     "ours_s": value(path, "step_s"),
                     "host_peak_rss_mb": int(value(path, "peak_rss_mb"))})
gpu = open(f"{work}/gpu.txt").read().strip()
if as_json:
    print(json.dumps({"gpu": gpu, "rows": rows}, indent=2))
else:
    print(f"GPU: {gpu}")
    print(f"{'device':<6} {'row':<72} {'ours s':>10}")
    for r in rows:
        print(f"{r['device']:<6} {r['name']:<72} {r['ours_s']:>10.4f}")
PY
