"""Training: the optimiser lowers the loss, the schedule ends annealed, and a tiny real run writes its artefacts."""
from __future__ import annotations

import argparse
import csv
import json
import math

import torch
from torch import nn

from fer import train as fer_train
from fer.models import build


def test_twenty_steps_overfit_a_fixed_batch():
    torch.manual_seed(0)
    model = build("emonet", dropout=0.0)
    x = torch.randint(0, 256, (32, 1, 48, 48)).float()
    y = torch.randint(0, 7, (32,))
    args = argparse.Namespace(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    opt = fer_train.make_optimizer(args, model)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    losses = []
    for _ in range(20):
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_schedule_warms_up_and_anneals_to_zero():
    args = argparse.Namespace(schedule="cosine", lr=0.1, warmup_frac=0.05)
    assert fer_train.lr_at(args, 0.0) < 0.01
    assert math.isclose(fer_train.lr_at(args, 0.05), 0.1)
    assert fer_train.lr_at(args, 1.0) < 1e-9


def test_tiny_run_writes_history_checkpoint_and_summary(dataset_root, tmp_path):
    out = tmp_path / "run"
    s = fer_train.train(fer_train.parse_args([
        "--arch", "emonet", "--threads", "1", "--limit-per-class", "10", "--epochs", "1", "--batch-size", "32",
        "--eval-train-n", "20", "--out", str(out), "--data", str(dataset_root),
    ]))
    rows = list(csv.DictReader(open(out / "history.csv")))
    assert len(rows) == 1
    # Regression: a per-class limit once left no PublicTest_ image (file names sort PrivateTest_ first).
    assert math.isfinite(float(rows[0]["public_acc"]))
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert {"arch", "dropout", "state_dict", "config"} <= set(ckpt)
    assert json.loads((out / "summary.json").read_text())["params"] == s["params"] > 0


def test_logit_adjustment_shifts_the_optimum_by_tau_log_prior():
    """The adjusted soft cross-entropy is minimised by logits = log(target) - tau*log(prior) (+ a constant): the
    model's own outputs favour rare classes, and tau = 0 is the plain loss."""
    counts = torch.tensor([100.0, 10.0, 1.0]).numpy()
    lp = fer_train.log_prior(counts)
    torch.testing.assert_close(lp.exp().sum(), torch.tensor(1.0))
    target = torch.tensor([[0.5, 0.3, 0.2]])
    logits = torch.zeros(1, 3, requires_grad=True)
    x = torch.zeros(1, 3)
    assert fer_train.adjust_logits(x, lp, 0.0) is x
    opt = torch.optim.SGD([logits], lr=1.0)
    for _ in range(500):
        loss = fer_train.soft_cross_entropy(fer_train.adjust_logits(logits, lp, 0.5), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    want = torch.log(target) - 0.5 * lp
    got = logits.detach()
    torch.testing.assert_close(got - got.mean(), want - want.mean(), atol=1e-3, rtol=0)
