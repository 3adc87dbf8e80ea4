#!/usr/bin/env bash
# The whole test suite in one command: set-up, Rust tests (release profile, the same build the app
# uses), then the training project's tests. Dataset: $FER2013_DIR, ../shared/data/fer2013 or data/fer2013.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --training
# Under CI the Windows package is built too (~5 min on 2 cores), and tests/windows_wine.rs runs it under wine;
# elsewhere that test skips loudly until `bash scripts/package-windows.sh` has been run.
if [[ ${CI:-} == true ]]; then
  bash scripts/package-windows.sh --test-tools
fi
cargo test --release
(cd training && .venv/bin/python -m pytest -q)
