#!/usr/bin/env bash
# SIGKILLs `trainer train` (tiny preset, 45 steps, a checkpoint every 3) at random points KILLS
# times (default 20), resuming after each, and checks the losses and final weights equal an
# uninterrupted run's bit for bit (trainer/tests/faults.rs; the test suite runs 3 kills).
#   bash scripts/kill_resume.sh [KILLS]      # VIP5_KILL_SEED=N repeats a run's kill times
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/vip5-rs/target}
VIP5_KILLS=${1:-20} cargo nextest run --release --workspace --no-capture \
  -E 'binary(faults) & test(killed_at_random)' 2>&1 |
  grep -E "kills|kill [0-9]+:|PASS|FAIL|panicked|Summary"
