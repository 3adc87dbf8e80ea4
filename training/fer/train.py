"""Train one classifier on FER2013 train/, select on PublicTest_, log per-epoch curves, checkpoint every epoch.

  python -m fer.train --arch emonet --time-budget-min 80 --out runs/emonet
  python -m fer.train --labels ferplus --webcam-aug 0.3 --time-budget-min 85 --out runs/ferplus

`--labels fer2013` (default) trains on the folder labels; `--labels ferplus` trains on the FER+ ten-annotator vote
distributions over the 7 classes (soft targets; images FER+ dropped or that are mostly not-a-face/unknown are left
out) and selects on PublicTest_ accuracy against the FER+ plurality label.

The learning-rate schedule can run on elapsed time (--time-budget-min), so a run always ends inside its
time box on a shared 2-core machine; --epochs gives the classic step-based schedule.
"""
from __future__ import annotations

import argparse
import copy
import csv
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import LABELS
from .augment import augment, webcam_degrade
from .data import attach_ferplus, find_dataset, find_ferplus, load_split, plurality_sets, read_ferplus_votes, usage_mask
from .models import build, count_macs


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="dataset root (default: $FER2013_DIR, ../shared/data/fer2013, data/fer2013)")
    p.add_argument("--labels", default="fer2013", choices=["fer2013", "ferplus"],
                   help="fer2013: folder labels; ferplus: FER+ vote distributions as soft targets")
    p.add_argument("--ferplus", help="ferplus_votes.csv (default: $FERPLUS_VOTES, ../shared/data/ferplus/ferplus_votes.csv)")
    p.add_argument("--arch", default="emonet", choices=["emonet", "mycnn", "resnet18"])
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "adam", "adamw"])
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--nesterov", action="store_true")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--aug", type=float, default=1.0, help="augmentation strength 0..1 (0 = none)")
    p.add_argument("--webcam-aug", type=float, default=0.0,
                   help="probability of each webcam degradation (lighting/contrast/gamma, blur, low resolution, JPEG); 0 = off")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--class-weight-power", type=float, default=0.0,
                   help="loss weight per class = (n_max/n_c)^power; 0 = unweighted, 0.5 = sqrt-inverse-frequency")
    p.add_argument("--logit-adjust", type=float, default=0.0,
                   help="logit adjustment tau (Menon et al. 2021): the loss sees logits + tau*log(class prior), the "
                        "model's outputs do not; 0 = off, 1 = the balanced-error optimum")
    p.add_argument("--schedule", default="cosine", choices=["cosine", "const"])
    p.add_argument("--warmup-frac", type=float, default=0.03)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--time-budget-min", type=float, default=None, help="train for this many minutes (overrides --epochs for the schedule)")
    p.add_argument("--ema", type=float, default=0.0, help="EMA decay of the weights per step (0 = off)")
    p.add_argument("--limit-per-class", type=int, default=None, help="use at most this many train images per class (tests, search)")
    p.add_argument("--eval-train-n", type=int, default=3000, help="clean train images scored each epoch for the overfitting curve")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init-from", help="start from this checkpoint's weights (a warm restart: fine-tuning with a new schedule)")
    p.add_argument("--out", required=True)
    return p.parse_args(argv)


class Ema:
    """Exponential moving average of parameters and float buffers (BatchNorm statistics included)."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        src = model.state_dict()
        for k, v in self.model.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(src[k].detach(), alpha=1 - d)
            else:
                v.copy_(src[k])


@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray, batch: int = 512, flip_tta: bool = False) -> np.ndarray:
    """Logits for uint8 [N,48,48] images."""
    model.eval()
    outs = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(images[i : i + batch]).float().unsqueeze(1).contiguous(memory_format=torch.channels_last)
        y = model(x)
        if flip_tta:
            y = (y + model(torch.flip(x, dims=[3]))) / 2
        outs.append(y.float().numpy())
    return np.concatenate(outs) if outs else np.zeros((0, len(LABELS)), np.float32)


def lr_at(args, frac: float) -> float:
    if args.schedule == "const":
        return args.lr
    if frac < args.warmup_frac:
        return args.lr * max(frac / args.warmup_frac, 0.02)
    f = (frac - args.warmup_frac) / max(1e-9, 1 - args.warmup_frac)
    return args.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, f)))


def make_optimizer(args, model: nn.Module) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if args.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=args.lr, momentum=args.momentum, nesterov=args.nesterov and args.momentum > 0)
    if args.optimizer == "adam":
        return torch.optim.Adam(groups, lr=args.lr)
    return torch.optim.AdamW(groups, lr=args.lr)


def class_weights(counts: np.ndarray, power: float) -> torch.Tensor:
    """Loss weight per class, (n_max/n_c)^power, normalised so the average weight over the training samples is 1."""
    counts = np.asarray(counts, dtype=np.float64)
    w = torch.tensor((counts.max() / np.maximum(counts, 1e-9)) ** power, dtype=torch.float32)
    return w / (w * torch.tensor(counts / counts.sum(), dtype=torch.float32)).sum()


def log_prior(counts: np.ndarray) -> torch.Tensor:
    """log of the class shares of `counts` (training-set class counts or summed soft targets)."""
    counts = np.asarray(counts, dtype=np.float64)
    return torch.tensor(np.log(np.maximum(counts, 1e-9) / counts.sum()), dtype=torch.float32)


def adjust_logits(logits: torch.Tensor, prior_log: torch.Tensor, tau: float) -> torch.Tensor:
    """Logit adjustment for the training loss only: logits + tau*log(prior). The model then learns scores that
    favour the rare classes at inference by tau*log(prior_c/prior_k) relative to the common ones."""
    return logits if tau == 0 else logits + tau * prior_log.to(logits.dtype)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None,
                       label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy against a distribution target [N,C] (rows sum to 1), e.g. FER+ vote shares.

    A sample's weight is its target-weighted class weight; the mean is weighted like nn.CrossEntropyLoss's.
    """
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / target.shape[1]
    per = -(target * torch.log_softmax(logits, dim=1)).sum(1)
    if weights is None:
        return per.mean()
    sw = target @ weights.to(target.dtype)
    return (per * sw).sum() / sw.sum()


def train(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    root = find_dataset(args.data)
    t_load = time.time()
    train_set = load_split(root, "train", args.limit_per_class)
    # The per-class limit is applied after selecting PublicTest_: file names sort PrivateTest_ first, so
    # limiting the test split itself keeps only PrivateTest_ files for limits up to 55-879 (per class): public_acc = nan.
    test_set = load_split(root, "test")
    public = test_set.subset(usage_mask(test_set, "PublicTest_"))
    if args.limit_per_class is not None:
        keep = np.zeros(len(public), dtype=bool)
        for c in range(len(LABELS)):
            keep[np.nonzero(public.labels == c)[0][: args.limit_per_class]] = True
        public = public.subset(keep)
    soft_all = public_sets = None
    if args.labels == "ferplus":
        votes = read_ferplus_votes(find_ferplus(args.ferplus))
        train_set, soft_all, st_train = attach_ferplus(train_set, votes)
        public, public_soft, st_pub = attach_ferplus(public, votes)
        public_sets = plurality_sets(public_soft)
        print(f"FER+ votes: train {st_train}, PublicTest_ {st_pub}", flush=True)
    print(f"loaded {len(train_set)} train / {len(public)} PublicTest images from {root} in {time.time() - t_load:.1f}s", flush=True)

    model = build(args.arch, args.dropout)
    if args.init_from:
        ck = torch.load(args.init_from, map_location="cpu", weights_only=False)
        if ck["arch"] != args.arch:
            raise SystemExit(f"--init-from {args.init_from} holds a {ck['arch']}, not a {args.arch}")
        model.load_state_dict(ck["state_dict"])
        print(f"initialised from {args.init_from} (epoch {ck.get('epoch')})", flush=True)
    model = model.to(memory_format=torch.channels_last)
    n_params = sum(p.numel() for p in model.parameters())
    macs = count_macs(model)
    print(f"{args.arch}: {n_params:,} params, {macs / 1e6:.1f} M multiply-adds per image", flush=True)
    counts = soft_all.sum(0) if soft_all is not None else np.bincount(train_set.labels, minlength=len(LABELS))
    weights = class_weights(counts, args.class_weight_power)
    prior_log = log_prior(counts)
    if args.logit_adjust:
        print(f"logit adjustment tau={args.logit_adjust}: train prior {np.round(np.exp(prior_log.numpy()), 4).tolist()}", flush=True)
    loss_fn = nn.CrossEntropyLoss(weight=weights, label_smoothing=args.label_smoothing)
    opt = make_optimizer(args, model)
    ema = Ema(model, args.ema) if args.ema > 0 else None

    steps_per_epoch = max(1, len(train_set) // args.batch_size)
    total_steps = steps_per_epoch * args.epochs
    budget_s = args.time_budget_min * 60 if args.time_budget_min else None
    x_all = torch.from_numpy(train_set.images).float().unsqueeze(1)
    y_all = torch.from_numpy(soft_all) if soft_all is not None else torch.from_numpy(train_set.labels)
    eval_idx = rng.choice(len(train_set), size=min(args.eval_train_n, len(train_set)), replace=False)
    gen = torch.Generator().manual_seed(args.seed)

    history = []
    step, epoch, t0 = 0, 0, time.time()
    images_seen, train_time = 0, 0.0
    done = False
    while not done:
        epoch += 1
        perm = torch.from_numpy(rng.permutation(len(train_set)))
        model.train()
        correct = seen = 0
        loss_sum = 0.0
        te = time.time()
        for b in range(steps_per_epoch):
            frac = (time.time() - t0) / budget_s if budget_s else step / total_steps
            if frac >= 1.0:
                done = True
                break
            for g in opt.param_groups:
                g["lr"] = lr_at(args, frac)
            idx = perm[b * args.batch_size : (b + 1) * args.batch_size]
            x = webcam_degrade(augment(x_all[idx], args.aug, gen), args.webcam_aug, gen).contiguous(memory_format=torch.channels_last)
            y = y_all[idx]
            logits = model(x)
            adj = adjust_logits(logits, prior_log, args.logit_adjust)
            loss = soft_cross_entropy(adj, y, weights, args.label_smoothing) if y.ndim == 2 else loss_fn(adj, y)
            if y.ndim == 2:
                y = y.argmax(1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if ema:
                ema.update(model, step)
            step += 1
            seen += len(y)
            correct += (logits.argmax(1) == y).sum().item()
            loss_sum += loss.item() * len(y)
            if not math.isfinite(loss.item()):
                print("loss diverged; stopping", flush=True)
                done = True
                break
        epoch_s = time.time() - te
        images_seen += seen
        train_time += epoch_s
        if seen == 0:
            break
        eval_model = ema.model if ema else model
        tr_acc = float((predict(eval_model, train_set.images[eval_idx]).argmax(1) == train_set.labels[eval_idx]).mean())
        pub_pred = predict(eval_model, public.images).argmax(1)
        if not len(public):
            pub_acc = float("nan")
        elif public_sets is not None:  # FER+ plurality: a tie counts for any of the tied classes
            pub_acc = float(public_sets[np.arange(len(public)), pub_pred].mean())
        else:
            pub_acc = float((pub_pred == public.labels).mean())
        row = {
            "epoch": epoch, "step": step, "elapsed_s": round(time.time() - t0, 1), "lr": opt.param_groups[0]["lr"],
            "train_loss": loss_sum / seen, "train_acc_augmented": correct / seen, "train_acc_clean": tr_acc,
            "public_acc": pub_acc, "images_per_s": seen / epoch_s,
        }
        history.append(row)
        print(json.dumps(row), flush=True)
        with open(out / "history.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(row))
            w.writeheader()
            w.writerows(history)
        ck = {"arch": args.arch, "dropout": args.dropout, "state_dict": eval_model.state_dict(),
              "config": vars(args), "epoch": epoch, "public_acc": pub_acc}
        torch.save(ck, out / "checkpoint.pt")
        if all(pub_acc > h["public_acc"] for h in history[:-1]):
            torch.save(ck, out / "best.pt")  # best PublicTest_ epoch (selection split), beside the last one
        if not budget_s and epoch >= args.epochs:
            done = True

    summary = {
        "arch": args.arch, "params": n_params, "macs": macs, "epochs": epoch, "steps": step,
        "train_minutes": round(train_time / 60, 2), "images_per_s": images_seen / max(train_time, 1e-9),
        "final_public_acc": history[-1]["public_acc"] if history else None,
        "best_public_acc": max((h["public_acc"] for h in history), default=None),
        "config": vars(args),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv=None) -> None:
    train(parse_args(argv))


if __name__ == "__main__":
    main()
