"""Export of a randomly initialised model: ONNX Runtime matches PyTorch and the file meets the app's contract."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from fer import LABELS, evaluate, export, onnx_io
from fer.models import build


def checkpoint(tmp_path, arch):
    torch.manual_seed(0)
    model = build(arch, 0.2)
    # Non-trivial BatchNorm statistics, so that parity also covers the folded normalisation.
    model.train()
    with torch.no_grad():
        model(torch.randint(0, 256, (16, 1, 48, 48)).float())
    path = tmp_path / "checkpoint.pt"
    config = {"arch": arch, "lr": 0.1, "nesterov": True, "limit_per_class": None, "out": "runs/x"}
    torch.save({"arch": arch, "dropout": 0.2, "state_dict": model.state_dict(), "config": config, "epoch": 3}, path)
    return path, model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    ckpt, model = checkpoint(tmp, "emonet")
    out = tmp / "models" / "mycnn.onnx"
    assert export.main(["--checkpoint", str(ckpt), "--out", str(out), "--no-data"]) == 0
    return out, model


def test_single_file_and_contract(exported):
    out, _ = exported
    assert [p.name for p in out.parent.iterdir()] == ["mycnn.onnx"]  # no mycnn.onnx.data
    assert onnx_io.check_contract(out) == []
    m = onnx.load(str(out))
    onnx.checker.check_model(m)
    assert m.opset_import[0].version == 17


def test_metadata(exported):
    meta = onnx_io.read_metadata(exported[0])
    assert meta["labels"] == ",".join(LABELS) == "angry,disgust,fear,happy,neutral,sad,surprise"
    assert json.loads(meta["config"])["arch"] == "emonet"
    assert meta["training_command"].startswith("python -m fer.train --arch emonet --lr 0.1 --nesterov")
    assert int(meta["params"]) == 1_227_623


@pytest.mark.parametrize("n", [1, 5])
def test_dynamic_batch_matches_pytorch(exported, n):
    out, model = exported
    x = np.random.default_rng(n).integers(0, 256, size=(n, 48, 48)).astype(np.uint8)
    got = onnx_io.logits(onnx_io.session(out), x)
    with torch.no_grad():
        ref = model(torch.from_numpy(x).float().unsqueeze(1)).numpy()
    assert got.shape == (n, 7) and got.dtype == np.float32
    assert np.abs(got - ref).max() < 1e-4


def test_mycnn_exports_too(tmp_path):
    ckpt, _ = checkpoint(tmp_path, "mycnn")
    assert export.main(["--checkpoint", str(ckpt), "--out", str(tmp_path / "m.onnx"), "--no-data"]) == 0


def test_contract_check_catches_fixed_batch_and_missing_labels(tmp_path):
    model = build("emonet", 0.0).eval()
    bad = tmp_path / "bad.onnx"
    torch.onnx.export(model, (torch.zeros(1, 1, 48, 48),), str(bad), dynamo=False, opset_version=17)
    problems = " ".join(onnx_io.check_contract(bad))
    assert "symbolic N" in problems and "labels" in problems


def test_evaluate_writes_metrics_and_plot(exported, dataset_root, tmp_path):
    out, _ = exported
    card = tmp_path / "card"
    rc = evaluate.main(["--model", str(out), "--out", str(card), "--limit-per-class", "4", "--flip-tta",
                        "--latency-runs", "20", "--warmup", "5", "--data", str(dataset_root)])
    assert rc == 0
    m = json.loads((card / "metrics.json").read_text())
    assert m["public_test"]["n"] == m["private_test"]["n"] == 28
    assert len(m["confusion_matrix"]) == 7 and sum(map(sum, m["confusion_matrix"])) == 56
    assert set(m["per_class"]) == set(LABELS) and "flip_tta" in m
    assert m["latency"]["batch1"]["median_ms_per_face"] > 0 and m["latency"]["threads"] == 1
    assert (card / "confusion_matrix.png").stat().st_size > 10_000


def test_classification_report_by_hand():
    y = np.array([0, 0, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 0])
    r = evaluate.classification_report(y, pred)
    assert r["per_class"]["angry"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert r["per_class"]["disgust"]["precision"] == round(2 / 3, 4) and r["per_class"]["disgust"]["recall"] == 1.0
    assert r["confusion_matrix"][0][:3] == [1, 1, 0]
