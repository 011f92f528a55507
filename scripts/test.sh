#!/usr/bin/env bash
# Runs every test of the project. Installs what the tests need when it is missing (as root via
# apt; otherwise it says what to install), so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# One persistent target dir shared by every build (burn is a long build): reuse it when it exists.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vip5-rs/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

need_apt=()
# wgpu tests run on Mesa's lavapipe (Vulkan on the CPU) when there is no GPU.
dpkg -s mesa-vulkan-drivers >/dev/null 2>&1 || need_apt+=(mesa-vulkan-drivers)
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing Debian packages: ${need_apt[*]} (install them, e.g. sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi

# One profile (release) and one set of rustflags for every test: a second profile would be a
# second full burn build.
cargo nextest run --release --workspace --no-fail-fast --failure-output final "$@"
