"""Budgeted random search over EmoNet's training hyper-parameters, every trial appended to results/search.csv.

  python -m fer.search --trials 8 --minutes-per-trial 2 --train-fraction 0.5 --seed 0

Each trial is one time-boxed fer.train run (the learning-rate schedule runs on the clock, so every trial ends
annealed inside its box) on the same stratified subset of train/, scored on PublicTest_ (never PrivateTest_).
The data is loaded once and shared by all trials, which saves ~20 s per trial. Sampled:
lr log-uniform, momentum uniform, weight decay log-uniform, dropout uniform, batch size {64,128,256},
augmentation strength uniform [0,1]. Everything else is fixed to the main run's recipe (--fixed). Short trials
favour settings that learn fast, so treat the ranking as a hint for the next full run, not a verdict.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from . import LABELS
from . import train as fer_train
from .data import Split, find_dataset, load_split

HERE = Path(__file__).resolve().parents[1]  # training/

FIXED = "--arch emonet --optimizer sgd --nesterov --label-smoothing 0.1 --class-weight-power 0.3 --ema 0.999"

SPACE = {  # name: (kind, low, high) or (choice, options)
    "lr": ("log", 0.01, 0.4),
    "momentum": ("uniform", 0.5, 0.95),
    "weight_decay": ("log", 1e-5, 3e-3),
    "dropout": ("uniform", 0.0, 0.5),
    "batch_size": ("choice", (64, 128, 256)),
    "aug": ("uniform", 0.0, 1.0),
}

FIELDS = [
    "trial", "search_seed", "finished_utc", "status", "lr", "momentum", "weight_decay", "dropout", "batch_size",
    "aug", "minutes", "train_fraction", "n_train", "epochs", "steps", "images_per_s", "train_acc_clean_final",
    "final_public_acc", "best_public_acc", "fixed", "train_args",
]


def sample(rng: np.random.Generator) -> dict:
    out = {}
    for name, spec in SPACE.items():
        if spec[0] == "log":
            out[name] = float(math.exp(rng.uniform(math.log(spec[1]), math.log(spec[2]))))
        elif spec[0] == "uniform":
            out[name] = float(rng.uniform(spec[1], spec[2]))
        else:
            out[name] = int(rng.choice(spec[1]))
    return out


def stratified(split: Split, fraction: float, limit: int | None, seed: int) -> Split:
    """The same random `fraction` of every class (class balance kept), optionally capped per class."""
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(split), dtype=bool)
    for c in range(len(LABELS)):
        idx = np.nonzero(split.labels == c)[0]
        n = max(1, round(len(idx) * fraction))
        if limit is not None:
            n = min(n, limit)
        keep[rng.choice(idx, size=n, replace=False)] = True
    return split.subset(keep)


@contextlib.contextmanager
def preloaded(train_split: Split, test_split: Split):
    """Let fer.train use splits already in memory instead of reading 35,887 JPEGs again for every trial."""
    original = fer_train.load_split

    def cached(_root, split, limit_per_class=None):
        assert limit_per_class is None, "subsetting is done by the search, not by fer.train"
        return {"train": train_split, "test": test_split}[split]

    fer_train.load_split = cached
    try:
        yield
    finally:
        fer_train.load_split = original


def fmt(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--minutes-per-trial", type=float, default=2.0)
    p.add_argument("--train-fraction", type=float, default=0.5, help="stratified share of train/ each trial uses")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampler (trials differ across seeds)")
    p.add_argument("--train-seed", type=int, default=0, help="fer.train --seed, the same for every trial")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--fixed", default=FIXED, help="fer.train arguments shared by all trials")
    p.add_argument("--data", help="dataset root")
    p.add_argument("--epochs", type=int, help="epochs per trial instead of a time box (smoke tests)")
    p.add_argument("--limit-per-class", type=int, help="cap train images per class after the fraction (smoke tests)")
    p.add_argument("--eval-train-n", type=int, default=1000, help="clean train images scored per epoch")
    p.add_argument("--runs-dir", default="runs/search")
    p.add_argument("--results", default="results/search.csv")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    root = find_dataset(args.data)
    t = time.time()
    # A per-class limit (smoke tests) reads only that many files per class instead of all of train/.
    full_train = load_split(root, "train", args.limit_per_class)
    test = load_split(root, "test")
    train_split = stratified(full_train, args.train_fraction, args.limit_per_class, seed=1234)
    print(f"loaded in {time.time() - t:.0f}s; trials train on {len(train_split)} of {len(full_train)} train images "
          f"(stratified {args.train_fraction:.0%}), select on PublicTest_", flush=True)

    results = HERE / args.results
    results.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    rows = []
    for i in range(args.trials):
        hp = sample(rng)
        name = f"s{args.seed}-t{i:02d}"
        budget = ["--epochs", str(args.epochs)] if args.epochs else ["--time-budget-min", str(args.minutes_per_trial)]
        train_args = shlex.split(args.fixed) + [
            "--lr", f"{hp['lr']:.4g}", "--momentum", f"{hp['momentum']:.3f}", "--weight-decay", f"{hp['weight_decay']:.3g}",
            "--dropout", f"{hp['dropout']:.3f}", "--batch-size", str(hp["batch_size"]), "--aug", f"{hp['aug']:.3f}",
            *budget, "--threads", str(args.threads), "--seed", str(args.train_seed),
            "--eval-train-n", str(args.eval_train_n), "--out", str(HERE / args.runs_dir / name),
        ] + (["--data", args.data] if args.data else [])
        print(f"\n=== trial {name}: " + " ".join(f"{k}={fmt(v)}" for k, v in hp.items()), flush=True)
        row = {"trial": name, "search_seed": args.seed, **{k: fmt(v) for k, v in hp.items()},
               "minutes": args.minutes_per_trial if not args.epochs else "", "train_fraction": args.train_fraction,
               "n_train": len(train_split), "fixed": args.fixed, "train_args": shlex.join(train_args)}
        try:
            with preloaded(train_split, test):
                s = fer_train.train(fer_train.parse_args(train_args))
            last = list(csv.DictReader(open(HERE / args.runs_dir / name / "history.csv")))[-1]
            final = s["final_public_acc"]
            row.update({
                "status": "ok" if math.isfinite(float(last["train_loss"])) else "diverged",
                "epochs": s["epochs"], "steps": s["steps"], "images_per_s": round(s["images_per_s"], 1),
                "train_acc_clean_final": round(float(last["train_acc_clean"]), 4),
                "final_public_acc": round(final, 4), "best_public_acc": round(s["best_public_acc"], 4),
            })
        except Exception as e:  # noqa: BLE001 - one failed trial is recorded and the search goes on
            row["status"] = f"error: {type(e).__name__}: {e}"
            print(row["status"], flush=True)
        row["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        new = not results.is_file()
        with open(results, "a", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=FIELDS)
            if new:
                w.writeheader()
            w.writerow(row)
        rows.append(row)

    ok = sorted((r for r in rows if r.get("status") == "ok"), key=lambda r: -r["final_public_acc"])
    print(f"\nsearch seed {args.seed}: {len(rows)} trials x {args.minutes_per_trial} min on {len(train_split)} train "
          f"images; ranked by final PublicTest_ accuracy (appended to {results}):")
    heads = ["trial", "lr", "momentum", "weight_decay", "dropout", "batch_size", "aug", "epochs", "images_per_s",
             "train_acc_clean_final", "final_public_acc", "best_public_acc"]
    shown = ["trial", "lr", "momentum", "wd", "dropout", "batch", "aug", "epochs", "img/s", "train", "public", "best pub"]
    print(" ".join(f"{h:>12}" for h in shown))
    for r in ok + [r for r in rows if r.get("status") != "ok"]:
        print(" ".join(f"{str(r.get(h, '')):>12}" for h in heads) + ("" if r.get("status") == "ok" else f"  {r['status']}"))
    if ok:
        print(f"best: {ok[0]['trial']} -> python -m fer.train {ok[0]['train_args'].split(' --out ')[0]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
