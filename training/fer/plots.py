"""Learning curves from the history.csv that fer.train writes each epoch.

  python -m fer.plots runs/emonet runs/baselines/* --out ../models/card

One <run>_learning_curves.png per run: accuracy on clean train images, on the augmented batches the model
trained on, and on PublicTest_ per epoch (the gap between the first and the last is the overfitting), and the
training loss with the learning rate. With several runs, public_acc_comparison.png puts their PublicTest_
accuracy on one time axis (minutes of training), which is what a fixed compute budget compares.
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_history(run: Path) -> list[dict[str, float]]:
    with open(run / "history.csv", newline="") as fh:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def describe(run: Path) -> str:
    s = run / "summary.json"
    if not s.is_file():
        return run.name
    c = json.loads(s.read_text()).get("config", {})
    return (f"{run.name}: {c.get('arch')} {c.get('optimizer')} lr {c.get('lr')} wd {c.get('weight_decay')} "
            f"dropout {c.get('dropout')} batch {c.get('batch_size')} aug {c.get('aug')}")


def plot_run(run: Path, out: Path) -> Path:
    h = read_history(run)
    ep = [r["epoch"] for r in h]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5))
    ax.plot(ep, [r["train_acc_clean"] for r in h], "o-", label="train (clean, eval mode)")
    ax.plot(ep, [r["train_acc_augmented"] for r in h], "s--", alpha=0.7, label="train (augmented batches)")
    ax.plot(ep, [r["public_acc"] for r in h], "^-", label="PublicTest_ (selection)")
    last = h[-1]
    ax.annotate(f"gap {100 * (last['train_acc_clean'] - last['public_acc']):+.1f} pts",
                (ep[-1], last["public_acc"]), textcoords="offset points", xytext=(-60, -18))
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("accuracy")
    bx.plot(ep, [r["train_loss"] for r in h], "o-", color="tab:red", label="train loss")
    bx.set_xlabel("epoch")
    bx.set_ylabel("train loss (augmented)")
    bx.grid(alpha=0.3)
    lx = bx.twinx()
    lx.plot(ep, [r["lr"] for r in h], ":", color="gray", label="lr at epoch end")
    lx.set_ylabel("learning rate")
    bx.legend(loc="upper right")
    bx.set_title("loss and learning rate")
    fig.suptitle(describe(run), fontsize=9)
    fig.tight_layout()
    path = out / f"{run.name}_learning_curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_comparison(runs: list[Path], out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for run in runs:
        h = read_history(run)
        ax.plot([r["elapsed_s"] / 60 for r in h], [r["public_acc"] for r in h], "o-", label=run.name)
    ax.set_xlabel("training minutes (2 CPU cores)")
    ax.set_ylabel("PublicTest_ accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / "public_acc_comparison.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="run folders holding history.csv")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    for r in map(Path, args.runs):
        if not (r / "history.csv").is_file():
            print(f"skipping {r}: no history.csv")
            continue
        runs.append(r)
        print(f"wrote {plot_run(r, out)}")
    if len(runs) > 1:
        print(f"wrote {plot_comparison(runs, out)}")


if __name__ == "__main__":
    main()
