#!/usr/bin/env bash
# Builds the static site (www/ + the wasm library) into dist/ with trunk, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vip5-rs/target}"
# binaryen 132 from npm first on PATH: Debian's wasm-opt 108 breaks burn's wasm.
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
trunk build --release "$@"
