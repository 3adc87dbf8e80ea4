#!/usr/bin/env bash
# The README screenshot, made by the window itself: replays a video under Xvfb, records a session
# for a few seconds, then saves what the window shows to assets/screenshot.png.
#   bash scripts/screenshot.sh lecture.mp4 [seconds=12] [out=assets/screenshot.png]
set -euo pipefail
cd "$(dirname "$0")/.."
video=${1:?usage: scripts/screenshot.sh VIDEO [SECONDS] [OUT.png]}
seconds=${2:-12}
out=${3:-assets/screenshot.png}
command -v xvfb-run >/dev/null || { echo "xvfb-run not found (apt-get install xvfb xauth)" >&2; exit 1; }
[ -x target/release/emotion-monitor ] || cargo build --release --quiet
sessions=$(mktemp -d)
trap 'rm -rf "$sessions"' EXIT
mkdir -p "$(dirname "$out")"
xvfb-run -a -s "-screen 0 1400x1000x24" target/release/emotion-monitor --sessions "$sessions" \
    window --video "$video" --start --stats --exit-after "$seconds" --screenshot "$out"
echo "wrote $out"
