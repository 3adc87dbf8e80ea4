"""Batch augmentation in torch: one affine warp (shift, scale, rotation, flip) and random erasing per image.

`strength` in [0,1] scales every component, so the random search explores a single knob.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def augment(x: torch.Tensor, strength: float, gen: torch.Generator | None = None) -> torch.Tensor:
    """x: float [N,1,48,48] raw 0..255. Returns a new tensor of the same shape."""
    if strength <= 0:
        return x
    n = x.shape[0]
    dev = x.device

    def u(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen, device=dev) * (hi - lo) + lo

    angle = u(-1, 1) * math.radians(15.0) * strength
    scale = 1.0 + u(-1, 1) * 0.15 * strength
    tx = u(-1, 1) * 0.2 * strength  # fraction of half-width (affine_grid uses [-1,1])
    ty = u(-1, 1) * 0.2 * strength
    flip = torch.where(torch.rand(n, generator=gen, device=dev) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    # Random erasing: one rectangle of 2-20% of the area, filled with noise, with probability 0.5*strength.
    p_erase = 0.5 * strength
    do = torch.rand(n, generator=gen, device=dev) < p_erase
    if do.any():
        area = u(0.02, 0.2) * 48 * 48
        ratio = torch.exp(u(math.log(0.3), math.log(3.3)))
        h = torch.sqrt(area * ratio).clamp(4, 40)
        w = torch.sqrt(area / ratio).clamp(4, 40)
        y0 = u(0, 1) * (48 - h)
        x0 = u(0, 1) * (48 - w)
        ys = torch.arange(48, device=dev).view(1, 48, 1)
        xs = torch.arange(48, device=dev).view(1, 1, 48)
        m = (ys >= y0.view(-1, 1, 1)) & (ys < (y0 + h).view(-1, 1, 1)) & (xs >= x0.view(-1, 1, 1)) & (xs < (x0 + w).view(-1, 1, 1))
        m = (m & do.view(-1, 1, 1)).unsqueeze(1)
        noise = torch.rand(x.shape, generator=gen, device=dev) * 255.0
        out = torch.where(m, noise, out)
    return out
