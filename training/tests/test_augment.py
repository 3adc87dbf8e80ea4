"""Batch augmentation keeps shape and value range, is reproducible, and is off at strength 0."""
from __future__ import annotations

import torch

from fer.augment import augment


def batch(n=16):
    return torch.randint(0, 256, (n, 1, 48, 48), generator=torch.Generator().manual_seed(0)).float()


def test_shape_dtype_and_range_are_kept():
    x = batch()
    for s in (0.3, 1.0):
        y = augment(x, s, torch.Generator().manual_seed(1))
        assert y.shape == x.shape and y.dtype == torch.float32
        assert y.min() >= 0 and y.max() <= 255
        assert not torch.equal(x, y)


def test_strength_zero_is_identity():
    x = batch()
    assert torch.equal(augment(x, 0.0), x)


def test_same_generator_seed_same_result():
    x = batch()
    a = augment(x, 1.0, torch.Generator().manual_seed(7))
    b = augment(x, 1.0, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
