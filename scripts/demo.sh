#!/usr/bin/env bash
# Starts the demo shop on the bundled default model: builds the site into dist/ when its sources
# changed since the last build (a second start serves at once) and serves it on
# http://127.0.0.1:8080 (PORT=... for another port; Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vip5-rs/target}"
bash scripts/setup.sh
bash scripts/build_site.sh
exec node scripts/serve.mjs dist "${PORT:-8080}"
