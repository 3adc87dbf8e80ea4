#!/usr/bin/env bash
# The whole test suite in one command: set-up, Rust tests (release profile, the same build the app
# uses), then the training project's tests. Dataset: $FER2013_DIR, ../shared/data/fer2013 or data/fer2013.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --training
cargo test --release
(cd training && .venv/bin/python -m pytest -q)
