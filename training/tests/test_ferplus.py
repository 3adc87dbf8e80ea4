"""FER+ labels: votes -> soft targets and dropped images, soft-label training, calibration, the exported contract."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from fer import LABELS, calibrate, data, export, onnx_io
from fer import train as fer_train
from fer.augment import webcam_degrade
from fer.models import build

HEADER = ["path", "usage", "fer_class"] + [f"ferplus_{c}" for c in data.FERPLUS_COLUMNS]
#                 neutral happy surprise sad anger disgust fear contempt unknown NF
ROWS = {
    "train/angry/a.jpg":   [2, 0, 0, 0, 6, 1, 0, 1, 0, 0],   # anger plurality; contempt vote left out
    "train/sad/b.jpg":     [5, 0, 0, 5, 0, 0, 0, 0, 0, 0],   # neutral/sad tie
    "train/fear/c.jpg":    [0, 0, 1, 0, 0, 0, 1, 0, 4, 4],   # unknown + NF = 8/10: dropped
    "train/happy/d.jpg":   [""] * 10,                        # FER+ dropped it
    "train/disgust/e.jpg": [0, 0, 0, 0, 0, 0, 0, 7, 3, 0],   # only contempt/unknown: nothing among our 7
    "test/neutral/PublicTest_f.jpg": [0, 9, 1, 0, 0, 0, 0, 0, 0, 0],
}


@pytest.fixture
def votes_csv(tmp_path):
    p = tmp_path / "ferplus_votes.csv"
    with open(p, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for path, v in ROWS.items():
            w.writerow([path, "PublicTest" if "Public" in path else "Training", path.split("/")[1], *v])
    return p


def onehot(name):
    return np.eye(7, dtype=np.float32)[LABELS.index(name)]


def test_votes_become_seven_class_soft_targets(votes_csv):
    votes = data.read_ferplus_votes(votes_csv)
    assert votes["train/happy/d.jpg"] is None
    t = data.ferplus_soft_targets(votes["train/angry/a.jpg"])
    expect = np.zeros(7, np.float32)
    expect[LABELS.index("neutral")], expect[LABELS.index("angry")], expect[LABELS.index("disgust")] = 2 / 9, 6 / 9, 1 / 9
    np.testing.assert_allclose(t, expect, atol=1e-6)
    np.testing.assert_allclose(data.ferplus_soft_targets(votes["test/neutral/PublicTest_f.jpg"]),
                               0.9 * onehot("happy") + 0.1 * onehot("surprise"), atol=1e-6)
    for dropped in ("train/fear/c.jpg", "train/happy/d.jpg", "train/disgust/e.jpg"):
        assert data.ferplus_soft_targets(votes[dropped]) is None, dropped


def test_attach_keeps_labelled_images_and_counts_the_dropped(votes_csv):
    votes = data.read_ferplus_votes(votes_csv)
    paths = list(ROWS) + ["test/sad/PrivateTest_g.jpg"]
    split = data.Split(np.arange(len(paths), dtype=np.uint8)[:, None, None].repeat(48, 1).repeat(48, 2),
                       np.zeros(len(paths), np.int64), paths)
    sub, soft, stats = data.attach_ferplus(split, votes)
    assert stats == {"kept": 3, "no_votes": 1, "ferplus_dropped": 1, "not_a_face_or_unknown": 2}
    assert sub.paths == ["train/angry/a.jpg", "train/sad/b.jpg", "test/neutral/PublicTest_f.jpg"]
    assert [LABELS[i] for i in sub.labels] == ["angry", "neutral", "happy"]  # tie -> first in label order
    assert sub.images[1, 0, 0] == 1 and soft.shape == (3, 7)             # images follow their rows
    np.testing.assert_allclose(soft.sum(1), 1, atol=1e-6)
    sets = data.plurality_sets(soft)
    assert sets[1].sum() == 2 and sets[1, LABELS.index("sad")] and sets[1, LABELS.index("neutral")]


def test_missing_votes_file_says_how_to_point_at_it(tmp_path, monkeypatch):
    monkeypatch.delenv("FERPLUS_VOTES", raising=False)
    monkeypatch.setattr(data, "FERPLUS_DEFAULT_CANDIDATES", ("no/such.csv",))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="--ferplus .*FERPLUS_VOTES"):
        data.find_ferplus()
    with pytest.raises(FileNotFoundError, match="no such file"):
        data.find_ferplus(str(tmp_path / "x.csv"))


def test_real_votes_file_counts(ferplus_csv, dataset_root):
    """SOURCE.md: 32,298 rows, train + PublicTest_; our rule keeps 28,490 train and 3,569 PublicTest_ images."""
    votes = data.read_ferplus_votes(ferplus_csv)
    assert len(votes) == 32_298
    assert all((dataset_root / p).is_file() for p in list(votes)[::500])
    kept = {"train": 0, "test": 0}
    for p, v in votes.items():
        kept[p.split("/")[0]] += data.ferplus_soft_targets(v) is not None
    assert kept == {"train": 28_490, "test": 3_569}
    assert not any("PrivateTest_" in p for p in votes)


def test_soft_cross_entropy_matches_torch_on_one_hot_and_weights():
    torch.manual_seed(0)
    logits, y = torch.randn(16, 7), torch.randint(0, 7, (16,))
    w = fer_train.class_weights(np.array([10, 1, 3, 20, 30, 8, 5]), 0.5)
    ref = torch.nn.CrossEntropyLoss(weight=w)(logits, y)
    got = fer_train.soft_cross_entropy(logits, torch.eye(7)[y], w)
    assert torch.allclose(ref, got, atol=1e-6)
    ref_ls = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(logits, y)
    assert torch.allclose(ref_ls, fer_train.soft_cross_entropy(logits, torch.eye(7)[y], None, 0.1), atol=1e-6)


def test_training_steps_on_soft_labels_lower_the_loss():
    torch.manual_seed(0)
    model = build("emonet", dropout=0.0)
    x = torch.randint(0, 256, (32, 1, 48, 48)).float()
    target = torch.softmax(torch.randn(32, 7) * 2, dim=1)  # vote-like distributions
    opt = fer_train.make_optimizer(
        __import__("argparse").Namespace(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4), model)
    model.train()
    losses = []
    for _ in range(15):
        loss = fer_train.soft_cross_entropy(model(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    entropy = float(-(target * target.log()).sum(1).mean())  # the floor of the soft loss
    assert losses[-1] < losses[0] - 0.5 * (losses[0] - entropy), (losses, entropy)


def test_tiny_ferplus_run(dataset_root, ferplus_csv, tmp_path):
    out = tmp_path / "run"
    s = fer_train.train(fer_train.parse_args([
        "--labels", "ferplus", "--ferplus", str(ferplus_csv), "--webcam-aug", "0.5", "--threads", "1",
        "--limit-per-class", "8", "--epochs", "1", "--batch-size", "16", "--eval-train-n", "16",
        "--out", str(out), "--data", str(dataset_root),
    ]))
    rows = list(csv.DictReader(open(out / "history.csv")))
    assert len(rows) == 1 and math.isfinite(float(rows[0]["public_acc"]))
    assert s["config"]["labels"] == "ferplus" and (out / "best.pt").is_file()


def test_webcam_degradations():
    x = torch.randint(0, 256, (512, 1, 48, 48), generator=torch.Generator().manual_seed(0)).float()
    assert torch.equal(webcam_degrade(x, 0.0), x)
    a = webcam_degrade(x, 0.5, torch.Generator().manual_seed(3))
    b = webcam_degrade(x, 0.5, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == x.shape and a.min() >= 0 and a.max() <= 255
    changed = (a - x).abs().flatten(1).max(1).values > 1
    assert 0.85 < changed.float().mean() < 0.99  # 4 degradations, each w.p. 0.5: 1 - 0.5^4 = 94 % of images touched
    # Low resolution and blur remove high frequencies: a checkerboard loses most of its contrast.
    board = ((torch.arange(48).view(1, 48) + torch.arange(48).view(48, 1)) % 2 * 255.0).expand(8, 1, 48, 48)
    assert webcam_degrade(board, 1.0, torch.Generator().manual_seed(0)).std() < 0.5 * board.std()


def test_temperature_fit_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(20_000, 7)) * 1.5
    p = calibrate.softmax(z)
    y = np.array([rng.choice(7, p=row) for row in p])
    rep = calibrate.calibration_report(z * 2.5, y)  # over-confident by a factor 2.5
    assert abs(rep["temperature"] - 2.5) < 0.1, rep
    assert rep["ece_after"] < 0.02 < rep["ece_before"] and rep["nll_after"] < rep["nll_before"]
    # Already calibrated logits keep T ~ 1.
    assert abs(calibrate.fit_temperature(z, y) - 1.0) < 0.05


def test_ece_by_hand():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.6, 0.4]])
    correct = np.array([True, False, True, True])
    # bins: 0.9 -> |0.5-0.9| * 2/4 ; 0.6 -> |1.0-0.6| * 2/4
    assert math.isclose(calibrate.ece(probs, correct), 0.4, abs_tol=1e-9)


def test_calibration_round_trip_through_the_exported_model(tmp_path):
    """Export with a fitted T baked in: ORT logits = PyTorch logits / T, same argmax, contract and metadata intact."""
    torch.manual_seed(0)
    model = build("emonet", 0.2)
    model.train()
    with torch.no_grad():
        model(torch.randint(0, 256, (16, 1, 48, 48)).float())
    model.eval()
    config = {"arch": "emonet", "labels": "ferplus", "lr": 0.1, "out": "runs/x"}
    ckpt = tmp_path / "checkpoint.pt"
    torch.save({"arch": "emonet", "dropout": 0.2, "state_dict": model.state_dict(), "config": config, "epoch": 2}, ckpt)
    x = np.random.default_rng(1).integers(0, 256, size=(300, 48, 48)).astype(np.uint8)
    with torch.no_grad():
        raw = model(torch.from_numpy(x).float().unsqueeze(1)).numpy()
    y = np.array([np.random.default_rng(i).choice(7, p=calibrate.softmax(raw[i : i + 1] * 3)[0]) for i in range(300)])
    rep = calibrate.calibration_report(raw, y)
    assert rep["temperature"] < 0.6  # labels drawn from a sharper distribution: T must sharpen
    cal = tmp_path / "calibration.json"
    cal.write_text(json.dumps({**rep, "fitted_on": "test"}))
    out = tmp_path / "m" / "mycnn.onnx"
    assert export.main(["--checkpoint", str(ckpt), "--out", str(out), "--no-data", "--calibration", str(cal)]) == 0
    assert onnx_io.check_contract(out) == []
    meta = onnx_io.read_metadata(out)
    assert meta["label_source"] == "ferplus" and float(meta["temperature"]) == rep["temperature"]
    assert meta["labels"] == ",".join(LABELS) and json.loads(meta["calibration"])["ece_after"] == rep["ece_after"]
    got = onnx_io.logits(onnx_io.session(out), x)
    np.testing.assert_allclose(got, raw / rep["temperature"], rtol=1e-4, atol=1e-4)
    assert (got.argmax(1) == raw.argmax(1)).all()
    # The app's softmax of the exported logits is the calibrated probability.
    np.testing.assert_allclose(calibrate.softmax(got), calibrate.softmax(raw / rep["temperature"]), atol=1e-5)


def test_uncalibrated_export_says_so(tmp_path):
    torch.manual_seed(0)
    ckpt = tmp_path / "c.pt"
    torch.save({"arch": "emonet", "dropout": 0.0, "state_dict": build("emonet", 0.0).state_dict(),
                "config": {"arch": "emonet"}, "epoch": 1}, ckpt)
    out = tmp_path / "m.onnx"
    assert export.main(["--checkpoint", str(ckpt), "--out", str(out), "--no-data"]) == 0
    meta = onnx_io.read_metadata(out)
    assert meta["label_source"] == "fer2013" and meta["temperature"] == "1" and "calibration" not in meta
