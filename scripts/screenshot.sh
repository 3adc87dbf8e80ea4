#!/usr/bin/env bash
# The README screenshot, made by the window itself: replays a video under Xvfb, records a session
# for a few seconds, then saves what the window shows to assets/screenshot.png.
#   bash scripts/screenshot.sh [lecture.mp4] [seconds=12] [out=assets/screenshot.png]
# Without a video it builds the README's demo: three FER2013 test faces (happy, neutral, surprise —
# the 4th, 5th and 7th of scripts/measure_live.py's picks) drifting over a 640x480 scene for 30 s.
set -euo pipefail
cd "$(dirname "$0")/.."
video=${1:-}
if [[ -z $video ]]; then
  video=$(mktemp -d)/demo3.mp4
  python3 - "$video" <<'PY'
import sys
sys.path.insert(0, "scripts")
from pathlib import Path
import measure_live as m
faces = m.pick_faces(m.dataset_root(), 7)
m.layout = lambda n: [(20, 40, 190), (225, 150, 190), (430, 40, 190)][:n]
m.make_video(Path(sys.argv[1]), [faces[3], faces[4], faces[6]], 30)
PY
fi
seconds=${2:-12}
out=${3:-assets/screenshot.png}
command -v xvfb-run >/dev/null || { echo "xvfb-run not found (apt-get install xvfb xauth)" >&2; exit 1; }
[ -x target/release/emotion-monitor ] || cargo build --release --quiet
sessions=$(mktemp -d)
trap 'rm -rf "$sessions"' EXIT
mkdir -p "$(dirname "$out")"
# A fresh settings folder: what this machine's window remembers must not change the picture.
XDG_DATA_HOME=$sessions/data xvfb-run -a -s "-screen 0 1400x1000x24" target/release/emotion-monitor --sessions "$sessions" \
    window --video "$video" --start --stats --exit-after "$seconds" --screenshot "$out"
echo "wrote $out"
