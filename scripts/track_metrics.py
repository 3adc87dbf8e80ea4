#!/usr/bin/env python3
"""Identity metrics of an `emotion-monitor analyze` run, as multi-object tracking papers report them.

    track_metrics.py FRAMES_CSV --labels LABELS_CSV [--seconds SECONDS_CSV] [--every N]
    track_metrics.py FRAMES_CSV --grid COLSxROWS --size WxH [--absent TILE:FROM-TO ...] [--swap A:B:FROM ...] [--fps F]

Ground truth, either
  * --labels: one row per labelled face and frame, columns frame,person,x,y,w,h (frame = index in the video,
    as in frames.csv). A predicted box matches a labelled one at IoU >= 0.4 (one-to-one per frame, best IoU
    first). Only labelled frames are scored; with --every N only frames whose index is a multiple of N.
  * --grid: a video-call gallery, one person per tile (tile = row * COLS + col), every tile always showing its
    person except during --absent spans (seconds; the tile is black). A predicted box belongs to the tile that
    holds its centre; one box per tile and frame can match (the largest).

Prints one JSON object: frames scored, ground-truth faces, recall, precision, IDF1 (Ristani et al. 2016: the
one-to-one mapping of predicted IDs to persons that maximises matched frames), ID switches (a person's matched
ID differs from the one last matched to them), IDs given, persons, IDs per person, and with --seconds the mean
share_away. Stdlib only; reads what `analyze` writes, nothing of the app's code."""
import argparse
import csv
import json
import sys
from collections import defaultdict


def iou(p, q):
    ix = max(0.0, min(p[0] + p[2], q[0] + q[2]) - max(p[0], q[0]))
    iy = max(0.0, min(p[1] + p[3], q[1] + q[3]) - max(p[1], q[1]))
    inter = ix * iy
    return inter / (p[2] * p[3] + q[2] * q[3] - inter + 1e-9)


def hungarian_max(weights, n_rows, n_cols):
    """Maximum-weight one-to-one assignment (rows to columns) of a dict {(r, c): w}; returns {r: c}.
    The O(n^3) Hungarian algorithm on the square cost matrix max(w) - w, padded with zeros."""
    n = max(n_rows, n_cols)
    if n == 0:
        return {}
    top = max(weights.values(), default=0)
    cost = [[top - weights.get((r, c), 0) for c in range(n)] for r in range(n)]
    inf = float("inf")
    u, v, p, way = [0.0] * (n + 1), [0.0] * (n + 1), [0] * (n + 1), [0] * (n + 1)
    for i in range(1, n + 1):
        p[0], j0 = i, 0
        minv, used = [inf] * (n + 1), [False] * (n + 1)
        while True:
            used[j0] = True
            i0, delta, j1 = p[j0], inf, 0
            for j in range(1, n + 1):
                if not used[j]:
                    cur = cost[i0 - 1][j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j], way[j] = cur, j0
                    if minv[j] < delta:
                        delta, j1 = minv[j], j
            for j in range(n + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    out = {}
    for j in range(1, n + 1):
        r, c = p[j] - 1, j - 1
        if r < n_rows and c < n_cols and weights.get((r, c), 0) > 0:
            out[r] = c
    return out


def read_predictions(path):
    pred = defaultdict(list)  # frame -> [(id, box)]
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            box = tuple(float(r[k]) for k in ("x", "y", "w", "h"))
            pred[int(r["frame"])].append((int(r["face_id"]), box))
    return pred


def match_labels(pred, labels_path, every):
    """Per scored frame: [(person, id or None)] from IoU matching against labelled boxes; also the predicted
    boxes left unmatched (false positives)."""
    gt = defaultdict(list)
    with open(labels_path, newline="") as f:
        for r in csv.DictReader(f):
            gt[int(r["frame"])].append((r["person"], tuple(float(r[k]) for k in ("x", "y", "w", "h"))))
    frames = sorted(fr for fr in gt if fr % every == 0)
    out, unmatched = {}, 0
    for fr in frames:
        pairs = sorted(((iou(g[1], p[1]), gi, pi) for gi, g in enumerate(gt[fr]) for pi, p in enumerate(pred.get(fr, []))),
                       reverse=True)
        gdone, pdone, m = set(), set(), {}
        for o, gi, pi in pairs:
            if o >= 0.4 and gi not in gdone and pi not in pdone:
                gdone.add(gi), pdone.add(pi)
                m[gi] = pred[fr][pi][0]
        out[fr] = [(g[0], m.get(gi)) for gi, g in enumerate(gt[fr])]
        unmatched += len(pred.get(fr, [])) - len(pdone)
    return out, unmatched


def person_of_tile(tile, t, swaps):
    """Who tile `tile` shows at time `t`: its own person, unless swaps (A, B, FROM) moved people between tiles."""
    p = tile
    for a, b, at in swaps:
        if t >= at:
            p = b if p == a else a if p == b else p
    return p


def match_grid(pred, cols, rows, size, absent, fps, analysed_only=False, swaps=()):
    w, h = size
    tw, th = w / cols, h / rows
    last = max(pred) if pred else 0
    out, unmatched = {}, 0
    for fr in range(last + 1):
        if analysed_only and fr not in pred:
            continue
        t = fr / fps
        present = [i for i in range(cols * rows) if not any(a == i and lo - 0.5 <= t <= hi + 0.5 for a, lo, hi in absent)]
        strict_absent = {i for i in range(cols * rows) if any(a == i and lo + 0.5 <= t <= hi - 0.5 for a, lo, hi in absent)}
        by_tile = defaultdict(list)
        for pid, b in pred.get(fr, []):
            cx, cy = b[0] + b[2] / 2, b[1] + b[3] / 2
            tile = min(int(cy // th), rows - 1) * cols + min(int(cx // tw), cols - 1)
            by_tile[tile].append((b[2] * b[3], pid))
        rows_out = []
        for tile in range(cols * rows):
            boxes = sorted(by_tile.get(tile, []), reverse=True)
            if any(tile in (a, b) and abs(t - at) < 0.5 for a, b, at in swaps):
                continue  # the half second around a swap is not scored
            if tile in present:
                rows_out.append((str(person_of_tile(tile, t, swaps)), boxes[0][1] if boxes else None))
                unmatched += max(0, len(boxes) - 1)
            elif tile in strict_absent:
                unmatched += len(boxes)  # a box on a black tile is false
            # the half second around a tile's blackout edges is not scored
        out[fr] = rows_out
    return out, unmatched


def metrics(matched, unmatched):
    persons = sorted({p for rows in matched.values() for p, _ in rows})
    ids = sorted({i for rows in matched.values() for _, i in rows if i is not None} | set())
    gt_total = sum(len(r) for r in matched.values())
    tp = sum(1 for rows in matched.values() for _, i in rows if i is not None)
    pred_total = tp + unmatched
    # IDF1: the best one-to-one mapping person <-> predicted ID over all frames.
    pi = {p: k for k, p in enumerate(persons)}
    ii = {i: k for k, i in enumerate(ids)}
    weights = defaultdict(int)
    for rows in matched.values():
        for p, i in rows:
            if i is not None:
                weights[(pi[p], ii[i])] += 1
    assignment = hungarian_max(weights, len(persons), len(ids))
    idtp = sum(weights[(r, c)] for r, c in assignment.items())
    idf1 = 2 * idtp / max(1, gt_total + pred_total)
    switches, last = 0, {}
    for fr in sorted(matched):
        for p, i in matched[fr]:
            if i is None:
                continue
            if p in last and last[p] != i:
                switches += 1
            last[p] = i
    ids_seen = {i for rows in matched.values() for _, i in rows if i is not None}
    return {
        "frames": len(matched),
        "gt_faces": gt_total,
        "recall": round(tp / max(1, gt_total), 4),
        "precision": round(tp / max(1, pred_total), 4),
        "idf1": round(idf1, 4),
        "id_switches": switches,
        "persons": len(persons),
        "ids_matched": len(ids_seen),
        "ids_per_person": round(len(ids_seen) / max(1, len(persons)), 3),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("frames_csv")
    ap.add_argument("--labels")
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--grid")
    ap.add_argument("--size")
    ap.add_argument("--absent", action="append", default=[], help="TILE:FROM-TO (seconds)")
    ap.add_argument("--fps", type=float, default=15.0)
    ap.add_argument("--swap", action="append", default=[],
                    help="A:B:FROM — from FROM seconds on, tiles A and B show each other's person (a call reorders tiles)")
    ap.add_argument("--seconds")
    ap.add_argument("--analysed-only", action="store_true",
                    help="score only frames with at least one row (the live window skips frames when busy)")
    a = ap.parse_args(argv)
    pred = read_predictions(a.frames_csv)
    if a.labels:
        matched, unmatched = match_labels(pred, a.labels, a.every)
    elif a.grid and a.size:
        cols, rows = (int(v) for v in a.grid.lower().split("x"))
        size = tuple(int(v) for v in a.size.lower().split("x"))
        absent = []
        for spec in a.absent:
            tile, span = spec.split(":")
            lo, hi = span.split("-")
            absent.append((int(tile), float(lo), float(hi)))
        swaps = []
        for spec in a.swap:
            ta, tb, at = spec.split(":")
            swaps.append((int(ta), int(tb), float(at)))
        matched, unmatched = match_grid(pred, cols, rows, size, absent, a.fps, a.analysed_only, swaps)
    else:
        ap.error("give --labels, or --grid and --size")
    out = metrics(matched, unmatched)
    out["ids_given"] = len({i for v in pred.values() for i, _ in v})
    if a.seconds:
        with open(a.seconds, newline="") as f:
            vals = [float(r["share_away"]) if r.get("share_away") else 1.0 for r in csv.DictReader(f)]
        out["mean_share_away"] = round(sum(vals) / max(1, len(vals)), 4)
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
