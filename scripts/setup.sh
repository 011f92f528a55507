#!/usr/bin/env bash
# Installs what building and testing need, only where it is missing or of the wrong version:
# Debian packages (Mesa's lavapipe for the wgpu tests, Chromium for the browser tests), the wasm32
# target, cargo-nextest, wasm-bindgen-cli (the Cargo.lock version), trunk 0.21.14 (0.22 needs a
# newer rustc), and the npm tools (binaryen's wasm-opt 132, playwright-core).
set -euo pipefail
cd "$(dirname "$0")/.."
# cargo install puts tools here.
export PATH="$HOME/.cargo/bin:$PATH"

need_apt=()
dpkg -s mesa-vulkan-drivers >/dev/null 2>&1 || need_apt+=(mesa-vulkan-drivers)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing Debian packages: ${need_apt[*]} (install them, e.g." \
      "sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown ||
  rustup target add wasm32-unknown-unknown

cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked

# Build tools are installed unoptimised (--debug): they run for seconds, and compile in a third
# of the time.
WBG_VERSION=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WBG_VERSION" ]; then
  cargo install wasm-bindgen-cli --version "$WBG_VERSION" --debug
fi
if [ "$(trunk --version 2>/dev/null | awk '{print $2}')" != "0.21.14" ]; then
  cargo install trunk --version 0.21.14 --locked --debug
fi

# package-lock.json pins binaryen, playwright-core and typescript.
if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -d node_modules/playwright-core ] ||
  [ ! -x node_modules/.bin/tsc ]; then
  npm ci --no-audit --no-fund
fi
