#!/usr/bin/env bash
# The app's main job in one command: set up what is missing, build, run.
#   bash scripts/run.sh                      # the live window on the default camera
#   bash scripts/run.sh analyze lecture.mp4  # any emotion-monitor subcommand and its flags
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --quiet
exec target/release/emotion-monitor "$@"
