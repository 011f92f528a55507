#!/usr/bin/env bash
# Builds the static site (www/ + the wasm library) into dist/ with trunk, offline. Skipped when
# dist/ was built by this script after the last change to its sources (web/, shared/, www/,
# Cargo.toml, Cargo.lock, Trunk.toml, .cargo/); arguments (trunk's flags) or FORCE=1 always rebuild.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vip5-rs/target}"
STAMP=dist/.vip5-build-stamp
SOURCES=(web shared www Cargo.toml Cargo.lock Trunk.toml)
# Build flags (rustflags, target features) change the wasm too.
[ -d .cargo ] && SOURCES+=(.cargo)
if [ $# -eq 0 ] && [ "${FORCE:-0}" != 1 ] && [ -f "$STAMP" ] && [ -f dist/index.html ] &&
  [ -z "$(find "${SOURCES[@]}" -newer "$STAMP" -print -quit)" ]; then
  echo "dist/ is up to date (built $(date -r "$STAMP" '+%F %T')); FORCE=1 rebuilds"
  exit 0
fi
# binaryen 132 from npm first on PATH: Debian's wasm-opt 108 breaks burn's wasm.
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# The stamp's time is taken before the build (trunk replaces dist/, so it waits outside): a source
# edited while trunk runs stays newer than the stamp.
started=$(mktemp)
trap 'rm -f "$started"' EXIT
trunk build --release "$@"
if [ $# -eq 0 ]; then touch -r "$started" "$STAMP"; fi
exit 0
