"""fer.clip_shares: class shares of an emotion-monitor frames CSV."""
from __future__ import annotations

import csv

import pytest

from fer import LABELS, clip_shares


def write(path, rows):
    cols = ["frame", "emotion", *(f"raw_{c}" for c in LABELS)]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        w.writerows(rows)


def test_shares_by_hand(tmp_path):
    p = tmp_path / "f.csv"
    write(p, [[0, "neutral", .1, 0, 0, 0, .6, .3, 0], [1, "neutral", 0, 0, 0, 0, .4, .6, 0],
              [2, "sad", 0, 0, 0, 0, .2, .8, 0], [2, "happy", 0, 0, 0, 1, 0, 0, 0]])
    s = clip_shares.shares(str(p))
    assert s["rows"] == 4 and s["frames"] == 3
    assert s["shown"]["neutral"] == 0.5 and s["shown"]["sad"] == 0.25
    assert s["argmax"]["sad"] == 0.5 and s["argmax"]["neutral"] == 0.25 and s["argmax"]["happy"] == 0.25
    assert s["mean_prob"]["neutral"] == pytest.approx(0.3)


def test_wrong_csv_is_named(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(SystemExit, match="missing columns"):
        clip_shares.shares(str(p))
