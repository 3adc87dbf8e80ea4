"""Temperature scaling (Guo et al., ICML 2017): one scalar T with softmax(logits / T) calibrated on a held-out set.

  python -m fer.calibrate --checkpoint runs/ferplus/checkpoint.pt --out runs/ferplus/calibration.json

T is fitted by minimising the negative log-likelihood of the FER+ plurality labels of PublicTest_ (the selection
split; PrivateTest_ is never touched), and the expected calibration error (ECE, 15 equal-width confidence bins)
is reported before and after. `fer.export --calibration calibration.json` bakes 1/T into the last linear layer,
so the app's softmax of the exported logits is the calibrated probability and the argmax is unchanged.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ECE_BINS = 15


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def nll(logits: np.ndarray, labels: np.ndarray, t: float) -> float:
    """Mean negative log-likelihood of `labels` under softmax(logits / t)."""
    return float(-log_softmax(logits.astype(np.float64) / t)[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray, lo: float = 0.05, hi: float = 20.0) -> float:
    """The T minimising NLL(softmax(logits/T), labels): NLL is convex in 1/T, so a golden-section search on
    log T over [lo, hi] finds it (to ~1e-6 relative)."""
    if len(labels) == 0:
        raise ValueError("fit_temperature: no samples")
    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(logits, labels, np.exp(c)), nll(logits, labels, np.exp(d))
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(logits, labels, np.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(logits, labels, np.exp(d))
    return float(np.exp((a + b) / 2))


def ece(probs: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: sum over equal-width bins of the top-class confidence of
    (share of samples in the bin) x |accuracy in the bin - mean confidence in the bin|."""
    conf = probs.max(1)
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(float(correct[m].mean()) - float(conf[m].mean()))
    return float(total)


def softmax(z: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(z))


def calibration_report(logits: np.ndarray, labels: np.ndarray, correct_sets: np.ndarray | None = None) -> dict:
    """Fit T on (logits, labels) and report NLL and ECE before/after. `correct_sets` (bool [n,7]) says which
    predictions count as correct for ECE (e.g. any class tied for the plurality); default: the label only."""
    if correct_sets is None:
        correct_sets = np.eye(logits.shape[1], dtype=bool)[labels]
    t = fit_temperature(logits, labels)
    rows = np.arange(len(labels))
    out = {"temperature": round(t, 4), "n": int(len(labels)), "ece_bins": ECE_BINS}
    for name, temp in (("before", 1.0), ("after", t)):
        p = softmax(logits / temp)
        out[f"nll_{name}"] = round(nll(logits, labels, temp), 4)
        out[f"ece_{name}"] = round(ece(p, correct_sets[rows, p.argmax(1)]), 4)
        out[f"mean_confidence_{name}"] = round(float(p.max(1).mean()), 4)
    out["accuracy"] = round(float(correct_sets[rows, logits.argmax(1)].mean()), 4)
    return out


def bake_temperature(model: nn.Module, t: float) -> nn.Module:
    """Divide the last linear layer's weight and bias by t in place: the model then outputs logits / t."""
    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not last:
        raise ValueError("bake_temperature: the model has no nn.Linear layer to scale")
    with torch.no_grad():
        last[-1].weight.div_(t)
        if last[-1].bias is not None:
            last[-1].bias.div_(t)
    return model


def parse_with_data_args(p: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Add --data, --ferplus and --threads (the PublicTest_ FER+ tools share them), parse, set the thread count."""
    p.add_argument("--data", help="FER2013 root (default: the run's --data, $FER2013_DIR, ../shared/data/fer2013)")
    p.add_argument("--ferplus", help="ferplus_votes.csv (default: the run's --ferplus, $FERPLUS_VOTES, ../shared/data/ferplus)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    return args


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, help="calibration.json to write")
    args = parse_with_data_args(p, argv)

    from .data import load_public_ferplus, plurality_sets
    from .export import load_checkpoint, torch_logits

    model, ckpt = load_checkpoint(args.checkpoint)
    config = ckpt.get("config", {})
    public, soft, stats = load_public_ferplus(args.data or config.get("data"), args.ferplus or config.get("ferplus"))
    t0 = time.time()
    logits = torch_logits(model, public.images)
    rep = calibration_report(logits, public.labels, plurality_sets(soft))
    rep.update({"checkpoint": str(args.checkpoint), "epoch": ckpt.get("epoch"), "fitted_on": "PublicTest_",
                "labels": "FER+ plurality (a tie counts as correct for any tied class in ECE)",
                "public_test_ferplus": stats, "seconds": round(time.time() - t0, 1)})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rep, indent=2))
    print(f"T = {rep['temperature']} on {rep['n']} PublicTest_ images: ECE {rep['ece_before']} -> {rep['ece_after']}, "
          f"NLL {rep['nll_before']} -> {rep['nll_after']}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
