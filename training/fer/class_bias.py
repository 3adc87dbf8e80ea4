"""Per-class logit bias fitted on PublicTest_ and folded into the last layer (post-hoc logit adjustment).

  python -m fer.class_bias --checkpoint runs/ferplus_la/best.pt --out runs/ferplus_la/biased.pt \
      --json ../models/card/class_bias.json --min-recall 0.5 --margin 0.03

A model trained on FER+ votes calls the rare expressions (disgust, fear) only when sure. Adding a bias b_c to class
c's logit trades precision for recall; the argmax of logits + b is what the app shows. The bias is fitted on the
PublicTest_ FER+ plurality labels (the selection split, as the calibration is; PrivateTest_ is never touched) by
coordinate ascent on a grid: first reach recall >= min-recall + margin for every class in --classes (least
total shortfall), then the highest plurality accuracy (a tie counts for any tied class), then the smallest
bias. The new checkpoint's last linear bias is the old one + b; `class_bias` (the vector, in label order) is
recorded in the checkpoint and `fer.export` writes it into the metadata. Calibrate after this step: the
temperature is then fitted on the biased logits.

Because b is tuned on PublicTest_, PublicTest_ numbers of the biased model are optimistic: say so where they are
reported. `--folds k` (default 5) estimates by how much: each fold of PublicTest_ is scored with a bias fitted on
the other folds, and that cross-fitted accuracy and recall are reported beside the in-sample ones.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import LABELS
from .calibrate import parse_with_data_args

RARE = ("angry", "disgust", "fear", "sad", "surprise")


def recalls(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    k = len(LABELS)
    hit = np.bincount(labels[pred == labels], minlength=k)
    n = np.bincount(labels, minlength=k)
    return np.where(n > 0, hit / np.maximum(n, 1), 1.0)


def objective(logits: np.ndarray, labels: np.ndarray, sets: np.ndarray, b: np.ndarray, want: np.ndarray,
              target: float) -> tuple[float, float, float]:
    """(−shortfall of the wanted recalls below target, accuracy, −|b|²): larger is better, compared in order."""
    pred = (logits + b).argmax(1)
    r = recalls(pred, labels)
    short = float(np.maximum(0.0, target - r[want]).sum())
    acc = float(sets[np.arange(len(pred)), pred].mean())
    return (-round(short, 9), round(acc, 9), -float((b * b).sum()))


def fit_bias(logits: np.ndarray, labels: np.ndarray, sets: np.ndarray, classes=RARE, target: float = 0.5,
             grid: np.ndarray | None = None, sweeps: int = 20) -> np.ndarray:
    """Coordinate ascent over per-class biases on `grid` (absolute values) for the objective above."""
    grid = np.round(np.arange(-3.0, 3.0001, 0.05), 4) if grid is None else grid
    want = np.array([LABELS.index(c) for c in classes], dtype=int)
    b = np.zeros(logits.shape[1])
    best = objective(logits, labels, sets, b, want, target)
    for _ in range(sweeps):
        improved = False
        for c in range(len(b)):
            for v in grid:
                cand = b.copy()
                cand[c] = v
                o = objective(logits, labels, sets, cand, want, target)
                if o > best:
                    best, b, improved = o, cand, True
        if not improved:
            break
    return b


def cross_fitted_predictions(logits: np.ndarray, labels: np.ndarray, sets: np.ndarray, classes, target: float,
                             folds: int = 5, seed: int = 0) -> np.ndarray:
    """Predictions of each image under a bias fitted on the other folds: an honest estimate of what the bias does
    to images it was not fitted on (the reported PublicTest_ numbers of the final bias are fitted on all of them)."""
    fold = np.random.default_rng(seed).permutation(len(labels)) % folds
    pred = np.empty(len(labels), dtype=int)
    for f in range(folds):
        fit = fold != f
        b = fit_bias(logits[fit], labels[fit], sets[fit], classes, target)
        pred[~fit] = (logits[~fit] + b).argmax(1)
    return pred


def add_bias(model: nn.Module, b: np.ndarray) -> nn.Module:
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        last.bias.add_(torch.as_tensor(b, dtype=last.bias.dtype))
    return model


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, help="checkpoint with the bias folded in")
    p.add_argument("--json", help="also write the fit (bias, recalls and accuracy before/after) here")
    p.add_argument("--classes", default=",".join(RARE), help="classes whose recall must reach --min-recall")
    p.add_argument("--min-recall", type=float, default=0.5)
    p.add_argument("--margin", type=float, default=0.0, help="aim at min-recall + margin on PublicTest_")
    p.add_argument("--folds", type=int, default=5,
                   help="also report k-fold cross-fitted accuracy/recall on PublicTest_ (each fold scored with a bias "
                        "fitted on the others); 0 = skip")
    args = parse_with_data_args(p, argv)

    from .data import load_public_ferplus, plurality_sets
    from .export import load_checkpoint, torch_logits

    model, ck = load_checkpoint(args.checkpoint)
    config = ck.get("config", {})
    public, soft, _ = load_public_ferplus(args.data or config.get("data"), args.ferplus or config.get("ferplus"))
    logits = torch_logits(model, public.images).astype(np.float64)
    sets = plurality_sets(soft)
    classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    b = fit_bias(logits, public.labels, sets, classes, args.min_recall + args.margin)
    rows = np.arange(len(logits))
    report = {"fitted_on": "PublicTest_ (FER+ plurality)", "n": int(len(logits)), "classes": classes,
              "min_recall": args.min_recall, "margin": args.margin,
              "bias": {c: round(float(v), 4) for c, v in zip(LABELS, b)}, "checkpoint": str(args.checkpoint)}
    for name, z in (("before", logits), ("after", logits + b)):
        pred = z.argmax(1)
        report[f"accuracy_{name}"] = round(float(sets[rows, pred].mean()), 4)
        report[f"recall_{name}"] = {c: round(float(r), 4) for c, r in zip(LABELS, recalls(pred, public.labels))}
    if args.folds > 1:
        pred = cross_fitted_predictions(logits, public.labels, sets, classes, args.min_recall + args.margin, args.folds)
        report[f"accuracy_cross_fitted_{args.folds}_folds"] = round(float(sets[rows, pred].mean()), 4)
        report[f"recall_cross_fitted_{args.folds}_folds"] = {
            c: round(float(r), 4) for c, r in zip(LABELS, recalls(pred, public.labels))}
    add_bias(model, b)
    ck = dict(ck, state_dict=model.state_dict(), class_bias=[round(float(v), 6) for v in b])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(ck, args.out)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
