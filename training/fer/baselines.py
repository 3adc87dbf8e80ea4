"""The seed report's four configurations, retrained here on the same data pipeline, under one time box each.

  python -m fer.baselines --minutes 4              # all four, ~4 min of training each (+ ~20 s loading)
  python -m fer.baselines --only mycnn-sgd-final --epochs 10
  python -m fer.baselines --dry-run                # print the four fer.train commands and exit

Each baseline is one plain `python -m fer.train` command (printed before it runs) writing runs/baselines/<name>/;
afterwards its summary is appended to results/baselines.csv, its learning curves go to results/plots/, and a table
of all four is printed. What the seed report specified is used as given (architecture, optimizer, lr, momentum,
weight decay, dropout); everything it did not specify follows our pipeline: train/ for training, PublicTest_ for
selection, augmentation strength 0.8 as in the main run, cosine schedule on the time box, no label smoothing,
class weighting or EMA (those are EmoNet's recipe, not the seed's). ResNet18 runs at 48x48: the seed's 224x224
input costs ~22x the compute, unaffordable on 2 cores. The momentum and weight decay of the two "first" configs
are not in the seed report; the final configs' values are assumed.
"""
from __future__ import annotations

import argparse
import csv
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]  # training/

BASELINES = {
    "mycnn-sgd-final": "--arch mycnn --optimizer sgd --lr 0.01 --momentum 0.5 --weight-decay 1e-3 --dropout 0.2",
    "mycnn-sgd-first": "--arch mycnn --optimizer sgd --lr 0.005 --momentum 0.5 --weight-decay 1e-3 --dropout 0.4",
    "resnet18-adam-final": "--arch resnet18 --optimizer adam --lr 1e-4 --weight-decay 1e-5 --dropout 0.2",
    "resnet18-adam-first": "--arch resnet18 --optimizer adam --lr 1e-3 --weight-decay 1e-5 --dropout 0.1",
}
COMMON = "--batch-size 128 --aug 0.8"

FIELDS = [
    "name", "finished_utc", "arch", "optimizer", "lr", "momentum", "weight_decay", "dropout", "batch_size", "aug",
    "time_budget_min", "epochs_done", "steps", "train_minutes", "images_per_s", "params", "macs",
    "train_acc_clean_final", "final_public_acc", "best_public_acc", "overfit_gap", "limit_per_class", "command",
]


def command(name: str, args: argparse.Namespace) -> list[str]:
    budget = f"--epochs {args.epochs}" if args.epochs else f"--time-budget-min {args.minutes}"
    cmd = f"{sys.executable} -m fer.train {BASELINES[name]} {COMMON} {budget} --threads {args.threads} " \
          f"--seed {args.seed} --out {args.runs_dir}/{name}"
    if args.limit_per_class:
        cmd += f" --limit-per-class {args.limit_per_class}"
    return shlex.split(cmd) + shlex.split(args.extra)


def record(name: str, run: Path, cmd: list[str]) -> dict:
    s = json.loads((run / "summary.json").read_text())
    c = s["config"]
    with open(run / "history.csv", newline="") as fh:
        last = list(csv.DictReader(fh))[-1]
    return {
        "name": name, "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "arch": c["arch"],
        "optimizer": c["optimizer"], "lr": c["lr"], "momentum": c["momentum"] if c["optimizer"] == "sgd" else "",
        "weight_decay": c["weight_decay"], "dropout": c["dropout"], "batch_size": c["batch_size"], "aug": c["aug"],
        "time_budget_min": c["time_budget_min"] or "", "epochs_done": s["epochs"], "steps": s["steps"],
        "train_minutes": s["train_minutes"], "images_per_s": round(s["images_per_s"], 1), "params": s["params"],
        "macs": s["macs"], "train_acc_clean_final": round(float(last["train_acc_clean"]), 4),
        "final_public_acc": round(s["final_public_acc"], 4), "best_public_acc": round(s["best_public_acc"], 4),
        "overfit_gap": round(float(last["train_acc_clean"]) - s["final_public_acc"], 4),
        "limit_per_class": c["limit_per_class"] or "", "command": shlex.join(["python"] + cmd[1:]),
    }


def print_table(rows: list[dict]) -> None:
    cols = [("name", 20), ("arch", 9), ("params", 9), ("macs", 11), ("epochs_done", 6), ("images_per_s", 8),
            ("train_acc_clean_final", 8), ("final_public_acc", 8), ("best_public_acc", 8), ("overfit_gap", 7)]
    heads = ["name", "arch", "params", "MACs", "epochs", "img/s", "train", "public", "best pub", "gap"]
    print(" ".join(h.ljust(w) for h, (_, w) in zip(heads, cols)))
    for r in rows:
        print(" ".join(str(r[k]).ljust(w) for k, w in cols))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=4.0, help="training time box per baseline")
    p.add_argument("--epochs", type=int, help="train this many epochs instead of a time box")
    p.add_argument("--only", nargs="+", choices=sorted(BASELINES), help="run only these baselines")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit-per-class", type=int, help="train images per class (smoke tests only)")
    p.add_argument("--extra", default="", help="more fer.train arguments for every baseline, e.g. '--aug 0'")
    p.add_argument("--runs-dir", default="runs/baselines")
    p.add_argument("--results", default="results/baselines.csv")
    p.add_argument("--plots", default="results/plots")
    p.add_argument("--dry-run", action="store_true", help="print the commands and exit")
    args = p.parse_args(argv)

    names = args.only or list(BASELINES)
    if args.dry_run:
        for n in names:
            print(shlex.join(["python"] + command(n, args)[1:]))
        return 0
    results = HERE / args.results  # relative paths are relative to training/, like --runs-dir
    plots = HERE / args.plots
    results.parent.mkdir(parents=True, exist_ok=True)
    rows, failed = [], []
    for n in names:
        cmd = command(n, args)
        print(f"\n=== {n}: {shlex.join(['python'] + cmd[1:])}", flush=True)
        rc = subprocess.call(cmd, cwd=HERE)
        run = HERE / args.runs_dir / n
        if rc != 0 or not (run / "summary.json").is_file():
            print(f"{n} failed (exit {rc})", flush=True)
            failed.append(n)
            continue
        row = record(n, run, cmd)
        rows.append(row)
        new = not results.is_file()
        with open(results, "a", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=FIELDS)
            if new:
                w.writeheader()
            w.writerow(row)
        from .plots import plot_run

        plots.mkdir(parents=True, exist_ok=True)
        print(f"wrote {plot_run(run, plots)}", flush=True)
    print(f"\nbaselines ({'epochs ' + str(args.epochs) if args.epochs else str(args.minutes) + ' min each'}; "
          f"accuracy on PublicTest_, selection split; appended to {results}):")
    print_table(rows)
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
