"""Share of each emotion class in the per-frame CSV that `emotion-monitor analyze --csv` writes.

  python -m fer.clip_shares old.csv new.csv

For each CSV: the number of face rows, the share of rows whose displayed label (`emotion`, after the tracker's
smoothing) is each class, the share whose per-frame argmax (`raw_*`) is each class, and the mean per-frame
probability of each class. Used for the model card's real-clip comparison (no ground truth: the clip's face is
calm, so most rows should read neutral).
"""
from __future__ import annotations

import argparse
import csv
import sys

from . import LABELS


def shares(path: str) -> dict:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise SystemExit(f"{path}: no face rows")
    missing = [c for c in ["emotion", *(f"raw_{c}" for c in LABELS)] if c not in rows[0]]
    if missing:
        raise SystemExit(f"{path}: missing columns {missing} (not an emotion-monitor frames CSV?)")
    n = len(rows)
    shown = {c: sum(r["emotion"] == c for r in rows) / n for c in LABELS}
    raw = [[float(r[f"raw_{c}"]) for c in LABELS] for r in rows]
    top = {c: sum(max(range(7), key=p.__getitem__) == i for p in raw) / n for i, c in enumerate(LABELS)}
    mean = {c: sum(p[i] for p in raw) / n for i, c in enumerate(LABELS)}
    return {"rows": n, "frames": len({r["frame"] for r in rows}), "shown": shown, "argmax": top, "mean_prob": mean}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("csv", nargs="+")
    args = p.parse_args(argv)
    for path in args.csv:
        s = shares(path)
        print(f"{path}: {s['rows']} face rows in {s['frames']} frames")
        print("  " + " ".join(f"{c:>9s}" for c in ("", *LABELS)))
        for k in ("shown", "argmax", "mean_prob"):
            print(f"  {k:>9s} " + " ".join(f"{100 * s[k][c]:8.1f}%" for c in LABELS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
