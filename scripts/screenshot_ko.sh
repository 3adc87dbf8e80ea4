#!/usr/bin/env bash
# README.ko.md's pictures, made by the app itself under Xvfb: the window in Korean (--lang ko) replaying the
# README's demo lecture (three FER2013 test faces drifting over a 640x480 scene, as scripts/screenshot.sh),
# with Korean markers set from the command line, saves its own screenshot; the session's report.png is the
# second picture.
#   bash scripts/screenshot_ko.sh [lecture.mp4] [seconds=16] [window.png] [report.png]
set -euo pipefail
cd "$(dirname "$0")/.."
video=${1:-}
seconds=${2:-16}
out=${3:-assets/screenshot_ko.png}
report=${4:-assets/report_ko.png}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [[ -z $video ]]; then
  video=$tmp/demo3.mp4
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
command -v xvfb-run >/dev/null || { echo "xvfb-run not found (apt-get install xvfb xauth)" >&2; exit 1; }
[ -x target/release/emotion-monitor ] || cargo build --release --quiet
mkdir -p "$(dirname "$out")" "$(dirname "$report")"
# A fresh settings folder: what this machine's window remembers must not change the picture.
XDG_DATA_HOME=$tmp/data xvfb-run -a -s "-screen 0 1400x1000x24" target/release/emotion-monitor \
    --lang ko --sessions "$tmp/sessions" window --video "$video" --start --exit-after "$seconds" --screenshot "$out" \
    --marker "퀴즈 시작@4" --marker "토론@9"
session=$(find "$tmp/sessions" -mindepth 1 -maxdepth 1 -type d | head -1)
cp "$session/report.png" "$report"
echo "wrote $out and $report"
