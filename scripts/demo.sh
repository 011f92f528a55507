#!/usr/bin/env bash
# Starts the demo shop on the bundled default model: builds the site and serves dist/ on
# http://127.0.0.1:8080 (trunk serve; Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vip5-rs/target}"
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
trunk serve --release --address 127.0.0.1 --port "${PORT:-8080}"
