#!/usr/bin/env bash
# Measures the app on class scenes the same way every time: composes video-call galleries and a
# three-person 640x480 scene from the real webcam clips (../shared/tools/compose_gallery.sh), runs
# `emotion-monitor analyze` on each with the chosen detector, and checks recall, duplicate boxes, IDs per
# face and share_away with ../shared/tools/check_class_scene.py, IDF1 and ID switches with scripts/track_metrics.py
# (also on the real room clip, against tests/data/multi_face_labels.csv). Prints one line per scene.
#
#   bash scripts/class_scenes.sh [--detector auto|blazeface|tiled|centerface] [extra analyze flags]
#
# Needs a release build (cargo build --release), ffmpeg, python3, and ../shared (REAL_FACES_DIR and
# SHARED_TOOLS override where the clips and the tools are). Work files go to $WORK (default: a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
REAL=${REAL_FACES_DIR:-../shared/data/real_faces}
TOOLS=${SHARED_TOOLS:-../shared/tools}
BIN=${BIN:-target/release/emotion-monitor}
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"
for need in "$REAL/openface_2015-10-15-15-14.avi" "$TOOLS/compose_gallery.sh" "$TOOLS/check_class_scene.py" "$BIN"; do
  [[ -e $need ]] || { echo "class_scenes: $need not found (see the header of this script)" >&2; exit 1; }
done
A=$REAL/openface_2015-10-15-15-14.avi
B=$REAL/openface_changeLighting.wmv
tiles() { # N tiles: every third one the lighting clip, the others the long clip at staggered offsets
  for ((i = 0; i < $1; i++)); do if ((i % 3 == 0)); then echo "$B:$((i % 5))"; else echo "$A:$((i % 25))"; fi; done
}
compose() { # name cols rows w h seconds tiles...
  local out=$WORK/$1.mp4; shift
  [[ -f $out ]] || bash "$TOOLS/compose_gallery.sh" "$out" "$@" >/dev/null
}
compose three 2 2 640 480 20 "$A:0" "$B:0" "$A:12"
compose g3x3 3 3 1280 720 20 $(tiles 9)
compose g5x5_720 5 5 1280 720 10 $(tiles 25)
compose g5x5 5 5 1920 1080 20 $(tiles 25)
compose g7x7 7 7 1920 1080 10 $(tiles 49)
compose leave 3 3 1280 720 20 "$A:0:4-14" $(tiles 9 | tail -8)
# tile 0's student leaves the call at 4 s and rejoins in tile 8 at 9 s (recognised by appearance, not position)
compose rejoin 3 3 1280 720 16 "$B:0:4-16" $(tiles 9 | sed -n 2,8p) "$B:0:0-9"
# tiles 0 and 4 (two different students) trade places at 8 s: a call that reorders its gallery (the two halves
# are the same gallery, the second with the two tiles exchanged, cut at 8 s and joined)
if [[ ! -f $WORK/trade.mp4 ]]; then
  mapfile -t t9 < <(tiles 9)
  traded=("${t9[@]}")
  traded[0]=${t9[4]} traded[4]=${t9[0]}
  compose trade_a 3 3 1280 720 16 "${t9[@]}"
  compose trade_b 3 3 1280 720 16 "${traded[@]}"
  ffmpeg -v error -y -i "$WORK/trade_a.mp4" -i "$WORK/trade_b.mp4" -filter_complex \
    "[0:v]trim=end=8,setpts=PTS-STARTPTS[a];[1:v]trim=start=8,setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1[out]" \
    -map "[out]" -r 15 -c:v libx264 -crf 20 -pix_fmt yuv420p "$WORK/trade.mp4"
fi
# 10 fps calls: the same galleries, every third frame of 30 dropped (a congested call)
for g in g3x3 g5x5; do
  [[ -f $WORK/${g}_10fps.mp4 ]] || ffmpeg -v error -y -i "$WORK/$g.mp4" -r 10 -c:v libx264 -crf 20 -pix_fmt yuv420p "$WORK/${g}_10fps.mp4"
done

# The identity metrics (IDF1, ID switches) of scripts/track_metrics.py: a gallery's persons are its tiles; the
# room clip's are hand-checked labels (tests/data/multi_face_labels.csv).
printf '%-14s %-10s %5s  %s\n' scene frame faces "analyze summary | check_class_scene.py | track_metrics.py"
for scene in three:640x480:3:2x2:15 g3x3:1280x720:9:3x3:15 g3x3_10fps:1280x720:9:3x3:10 g5x5_720:1280x720:25:5x5:15 \
             g5x5:1920x1080:25:5x5:15 g5x5_10fps:1920x1080:25:5x5:10 g7x7:1920x1080:49:7x7:15 \
             leave:1280x720:9:3x3:15 rejoin:1280x720:8:3x3:15 trade:1280x720:9:3x3:15 room:640x480:3::30; do
  IFS=: read -r name size n grid fps <<<"$scene"
  video=$WORK/$name.mp4
  [[ $name == room ]] && video=$REAL/openface_multi_face.avi
  rm -rf "$WORK/s_$name"
  out=$("$BIN" --sessions "$WORK/s_$name" "$@" analyze "$video" --quiet --csv "$WORK/$name.csv" 2>&1) || true
  summary=${out%%$'\n'*}
  fps_run=$(grep -o '([0-9.]* frames/s' <<<"$summary" | tr -d '(' || true)
  ids=$(grep -o '[0-9]* persons' <<<"$summary" || true)
  seconds=("$WORK"/s_"$name"/*/seconds.csv)
  check=$(python3 "$TOOLS/check_class_scene.py" "$WORK/$name.csv" --faces "$n" --seconds "${seconds[0]}" \
    --min-recall 0.95 --max-ids-per-face 1.05 --max-away 0.02) || true
  check=${check%%$'\n'*}
  case $name in
    room) truth=(--labels tests/data/multi_face_labels.csv) ;;
    leave) truth=(--grid "$grid" --size "$size" --fps "$fps" --absent 0:4-14) ;;
    rejoin) truth=(--grid "$grid" --size "$size" --fps "$fps" --absent 0:4-16 --absent 8:0-9 --swap 0:8:6.5) ;;
    trade) truth=(--grid "$grid" --size "$size" --fps "$fps" --swap 0:4:8) ;;
    three) truth=(--grid "$grid" --size "$size" --fps "$fps" --absent 3:0-100000) ;;  # the fourth tile is empty
    *) truth=(--grid "$grid" --size "$size" --fps "$fps") ;;
  esac
  ident=$(python3 scripts/track_metrics.py "$WORK/$name.csv" "${truth[@]}" --seconds "${seconds[0]}") || true
  printf '%-14s %-10s %5s  %s, %s | %s | %s\n' "$name" "$size" "$n" "$fps_run" "$ids" "$check" "$ident"
done
