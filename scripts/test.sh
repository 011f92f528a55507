#!/usr/bin/env bash
# Runs every test of the project: native, wgpu (lavapipe) and browser (headless Chromium). Installs
# what the tests need when it is missing (scripts/setup.sh), builds the site, then runs nextest.
set -euo pipefail
cd "$(dirname "$0")/.."

# One persistent target dir shared by every build (burn is a long build): reuse it when it exists.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vip5-rs/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

bash scripts/setup.sh
# Formatting first: seconds, and it names the file (rustfmt.toml: 100 columns).
cargo fmt --all --check
# Lints as errors, every native target, then the wasm-only engine (web/src/engine.rs) with its
# test hooks (a check build for wasm32: about 2 minutes cold).
cargo clippy --release --workspace --all-targets -- -D warnings
cargo clippy --release -p vip5-web --target wasm32-unknown-unknown --all-features -- -D warnings
# The browser tests load dist/.
bash scripts/build_site.sh
# ... and the wasm with its test-only export, for the worker-restart check (after the site: both
# builds write target/wasm32-unknown-unknown/release/vip5_web.wasm).
bash scripts/build_test_wasm.sh

# One profile (release) and one set of rustflags for every test: a second profile would be a
# second full burn build.
cargo nextest run --release --workspace --no-fail-fast --failure-output final "$@"
