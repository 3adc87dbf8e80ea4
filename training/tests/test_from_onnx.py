"""fer.from_onnx: an exported EmoNet (BatchNorm folded, temperature baked in) becomes a checkpoint again."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from fer import export, from_onnx, onnx_io
from fer.calibrate import bake_temperature
from fer.models import build

T = 0.655


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A random EmoNet with non-trivial BatchNorm statistics, exported with T baked in, and its PyTorch twin."""
    torch.manual_seed(0)
    model = build("emonet", 0.2).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    baked = build("emonet", 0.2).eval()
    baked.load_state_dict(model.state_dict())
    export.export_onnx(bake_temperature(baked, T), path, 17)
    onnx_io.write_metadata(path, {"model_name": "emonet", "temperature": str(T), "config": json.dumps({"dropout": 0.2}),
                                  "epochs": "3"})
    return model, path


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 48, 48), dtype=np.uint8)


def test_graph_holds_every_convolution_and_the_classifier(exported):
    model, path = exported
    convs, (w, b), meta = from_onnx.onnx_layers(path)
    assert len(convs) == sum(isinstance(m, nn.Conv2d) for m in model.modules())
    assert w.shape == (7, 256) and b.shape == (7,) and meta["temperature"] == str(T)


@pytest.mark.parametrize("with_stats", [False, True])
def test_converted_model_reproduces_onnx_logits_times_t(exported, with_stats):
    model, path = exported
    conv, t, _ = from_onnx.convert(path, images(64, 1) if with_stats else None)
    assert t == pytest.approx(T)
    x = images(32)
    assert from_onnx.max_logit_diff(conv, path, t, x) < 1e-4
    ref = export.torch_logits(model, x)  # the original (unbaked) model
    np.testing.assert_allclose(export.torch_logits(conv, x), ref, atol=1e-4)


def test_measured_statistics_make_train_mode_close_to_eval_mode(exported):
    """With BatchNorm statistics measured on the batch itself, train mode (batch statistics) equals eval mode."""
    _, path = exported
    x = images(64, 2)
    conv, _, _ = from_onnx.convert(path, x)
    xt = torch.from_numpy(x).float().unsqueeze(1)
    with torch.no_grad():
        ev = conv.eval()(xt)
        conv.train()
        for m in conv.modules():
            if isinstance(m, nn.Dropout):
                m.eval()
        tr = conv(xt)
    assert float((tr - ev).abs().max()) < 1e-2 * float(ev.abs().max())


def test_main_writes_a_checkpoint_that_loads(exported, tmp_path):
    _, path = exported
    out = tmp_path / "init.pt"
    assert from_onnx.main(["--model", str(path), "--out", str(out), "--stats-images", "0", "--threads", "1"]) == 0
    model, ck = export.load_checkpoint(out)  # the loader fer.export/fer.calibrate use; fer.train reads the same keys
    assert ck["arch"] == "emonet" and ck["dropout"] == 0.2 and ck["epoch"] == 3
    assert from_onnx.max_logit_diff(model, path, T, images(16, 3)) < 1e-4
