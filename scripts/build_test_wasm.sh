#!/usr/bin/env bash
# The wasm library with its test-only export (`__panicForTests`, feature `test-hooks`) for the
# browser test's worker-restart check, into $CARGO_TARGET_DIR/test-wasm/ (vip5-web.js,
# vip5-web_bg.wasm). The site's wasm (scripts/build_site.sh) is built without it. Only vip5-web
# itself compiles again: its dependencies are the site build's.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vip5-rs/target}"
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --offline --target wasm32-unknown-unknown -p vip5-web --features test-hooks
wasm-bindgen --target web --out-name vip5-web --out-dir "$CARGO_TARGET_DIR/test-wasm" \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/vip5_web.wasm"
