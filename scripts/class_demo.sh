#!/usr/bin/env bash
# The README's class-view screenshot, made by the apps themselves: a mosquitto broker on 127.0.0.1, the
# teacher's class window, and three students — each the real student window replaying a real clip in real
# time and sharing with --share-now — all on one Xvfb display. The class window saves its screenshot.
#   bash scripts/class_demo.sh [seconds=25] [out=assets/class_view.png] [extra flags for the class window, e.g. --lang ko]
# Needs mosquitto, xvfb, ffmpeg and the shared real clips (REAL_FACES_DIR or ../shared/data/real_faces).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-25}
out=${2:-assets/class_view.png}
shift $(( $# < 2 ? $# : 2 ))
clips=${REAL_FACES_DIR:-../shared/data/real_faces}
for c in mosquitto Xvfb; do
  command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] || { echo "$c not found (bash scripts/setup.sh installs it)" >&2; exit 1; }
done
[ -f "$clips/openface_2015-10-15-15-14.avi" ] || { echo "real clips not found in $clips" >&2; exit 1; }
[ -x target/release/emotion-monitor ] || cargo build --release --quiet
exe=$PWD/target/release/emotion-monitor
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "${KEEP:-}" ] || rm -rf "$tmp"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'user root\nlistener %s 127.0.0.1\nallow_anonymous true\n' "$port" >"$tmp/mosquitto.conf"
"$(command -v mosquitto || echo /usr/sbin/mosquitto)" -c "$tmp/mosquitto.conf" >"$tmp/broker.log" 2>&1 &
pids+=($!)
# Two displays: the students' windows would cover the class window, and a covered window is not drawn.
display=:$((90 + RANDOM % 100))
students_display=:$((200 + RANDOM % 100))
Xvfb "$display" -screen 0 1400x900x24 >/dev/null 2>&1 &
pids+=($!)
Xvfb "$students_display" -screen 0 1400x900x24 >/dev/null 2>&1 &
pids+=($!)
sleep 1
url="mqtt://127.0.0.1:$port/demo"
mkdir -p "$(dirname "$out")"
DISPLAY=$display "$exe" "$@" --sessions "$tmp/teacher" class "$url" --duration "$seconds" --screenshot "$out" &
teacher=$!
sleep 2
i=0
# The 28 s clip three times (the other real clip lasts 6 s): three students over the same half minute.
for clip in openface_2015-10-15-15-14.avi openface_2015-10-15-15-14.avi openface_2015-10-15-15-14.avi; do
  i=$((i + 1))
  DISPLAY=$students_display "$exe" --lang en --sessions "$tmp/student$i" --detector blazeface window --video "$clips/$clip" \
      --start --share "$url" --share-now --exit-after $((seconds + 10)) >"$tmp/student$i.log" 2>&1 &
  pids+=($!)
  sleep 1
done
wait "$teacher"
echo "wrote $out (class session in $tmp/teacher)"
