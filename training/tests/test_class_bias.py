"""fer.class_bias: a per-class logit bias lifts a starved class's recall to the target, keeping accuracy."""
from __future__ import annotations

import numpy as np
import torch

from fer import LABELS, class_bias
from fer.models import build


def starved(n: int, cls: str, seed: int):
    """Synthetic logits of n images that a model rarely calls `cls` on: (logits, labels, plurality sets)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, n)
    logits = rng.normal(0, 1, (n, 7))
    logits[np.arange(n), labels] += 2.0
    logits[:, LABELS.index(cls)] -= 3.0
    return logits, labels, np.eye(7, dtype=bool)[labels]


def test_bias_lifts_a_starved_class_to_the_target_recall():
    n = 700
    logits, labels, sets = starved(n, "disgust", 0)
    dis = LABELS.index("disgust")
    before = class_bias.recalls(logits.argmax(1), labels)
    assert before[dis] < 0.3
    b = class_bias.fit_bias(logits, labels, sets, ["disgust"], target=0.7)
    after = class_bias.recalls((logits + b).argmax(1), labels)
    assert after[dis] >= 0.7
    acc = lambda z: float(sets[np.arange(n), z.argmax(1)].mean())  # noqa: E731
    assert acc(logits + b) > acc(logits)
    assert b[dis] > 1.0


def test_add_bias_changes_only_the_last_layer_bias():
    torch.manual_seed(0)
    model = build("emonet", 0.0).eval()
    x = torch.rand(4, 1, 48, 48) * 255
    with torch.no_grad():
        y0 = model(x)
        b = np.arange(7) * 0.1
        y1 = class_bias.add_bias(model, b)(x)
    torch.testing.assert_close(y1 - y0, torch.tensor(b, dtype=torch.float32).expand(4, 7), atol=1e-5, rtol=0)


def test_cross_fitted_predictions_cover_every_image():
    n = 350
    logits, labels, sets = starved(n, "fear", 1)
    pred = class_bias.cross_fitted_predictions(logits, labels, sets, ["fear"], 0.6, folds=3)
    assert pred.shape == (n,) and pred.min() >= 0 and pred.max() < 7
    assert class_bias.recalls(pred, labels)[LABELS.index("fear")] > class_bias.recalls(logits.argmax(1), labels)[LABELS.index("fear")]
