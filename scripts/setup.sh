#!/usr/bin/env bash
# One-time (idempotent) set-up on Debian/Ubuntu: system packages, the ONNX Runtime library, and
# (with --training) the Python environment of training/. Safe to run again; does nothing twice.
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_VERSION=1.31.1
ORT_SHA256=""   # filled below from the wheel we actually fetched; printed for the record
want_training=0
[[ "${1:-}" == "--training" ]] && want_training=1

sudo_if_needed() { if [[ $(id -u) -ne 0 ]]; then sudo "$@"; else "$@"; fi; }

# --- system packages -------------------------------------------------------------------------
# libclang: nokhwa's bindgen; ffmpeg: video decoding; Mesa/X libs: the window; xvfb/xauth/imagemagick:
# headless window tests and screenshots; mesa-vulkan-drivers: egui_kittest's software renderer.
# Screen capture (xcap, which always builds its X11 *and* Wayland/PipeWire backends on Linux):
# pkg-config, libxcb1-dev (X11), libpipewire-0.3-dev + libclang-common-14-dev (libspa's bindgen needs clang's own
# headers), libgbm-dev (libwayshot); the runtime libraries (libxcb1, libgbm1) come with them. evilwm: a 123 kB window
# manager, so that the screen test can capture one window by title (xcap lists windows through EWMH).
pkgs=(libclang1-14 ffmpeg python3-venv python3-pip unzip ca-certificates
      libgl1 libglx-mesa0 libgl1-mesa-dri libxkbcommon-x11-0 libx11-xcb1 libxcursor1 libxi6 libxrandr2
      xvfb xauth imagemagick mesa-vulkan-drivers fonts-dejavu-core
      pkg-config libxcb1-dev libpipewire-0.3-dev libclang-common-14-dev libgbm-dev evilwm)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- Rust ------------------------------------------------------------------------------------
if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; installing Rust with rustup (https://rustup.rs)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck disable=SC1091
  source "$HOME/.cargo/env"
fi

# --- ONNX Runtime (from the PyPI wheel: no CDN needed) -----------------------------------------
ort_dir=third_party/onnxruntime
if [[ ! -f $ort_dir/libonnxruntime.so ]]; then
  echo "setup: fetching ONNX Runtime $ORT_VERSION from PyPI"
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 "onnxruntime==$ORT_VERSION" -d "$tmp"
  whl=$(ls "$tmp"/onnxruntime-*.whl)
  unzip -q -o "$whl" "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" -d "$tmp"
  mkdir -p "$ort_dir"
  cp "$tmp/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" "$ort_dir/libonnxruntime.so"
  rm -rf "$tmp"
fi
ORT_SHA256=$(sha256sum "$ort_dir/libonnxruntime.so" | cut -d' ' -f1)
echo "setup: ONNX Runtime at $ort_dir/libonnxruntime.so (sha256 $ORT_SHA256)"

# --- Python environment for training/ and its tests --------------------------------------------
if ((want_training)); then
  if [[ ! -x training/.venv/bin/python ]]; then
    python3 -m venv training/.venv
  fi
  if ! training/.venv/bin/python -c "import torch, onnx, onnxruntime, pytest" 2>/dev/null; then
    echo "setup: installing training requirements (PyTorch pulls ~3 GB of wheels)"
    training/.venv/bin/pip install --quiet -r training/requirements.txt
  fi
fi
