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


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-image Gaussian blur (5x5 kernel) of x [n,1,H,W] with sigma [n], one grouped convolution."""
    n = x.shape[0]
    r = torch.arange(-2, 3, dtype=x.dtype, device=x.device)
    k1 = torch.exp(-(r.view(1, -1) ** 2) / (2 * sigma.view(-1, 1) ** 2))
    k1 = k1 / k1.sum(1, keepdim=True)
    k2 = (k1.view(n, 5, 1) * k1.view(n, 1, 5)).unsqueeze(1)  # [n,1,5,5]
    y = F.conv2d(F.pad(x.reshape(1, n, *x.shape[2:]), (2, 2, 2, 2), mode="replicate"), k2, groups=n)
    return y.view_as(x)


def _jpeg(imgs: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG-compress [k,1,48,48] 0..255 images at `quality` and decode them back. The images are stacked into one
    [k*48, 48] picture and coded once: 48 is a multiple of JPEG's 8x8 blocks (grey, no chroma subsampling), so no
    block straddles two faces and the result equals coding each face on its own."""
    import io

    import numpy as np
    from PIL import Image

    k, _, h, w = imgs.shape
    a = imgs.clamp(0, 255).round().to(torch.uint8).reshape(k * h, w).cpu().numpy()
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        dec = np.asarray(im.convert("L"), dtype=np.float32).copy()
    return torch.from_numpy(dec).view(k, 1, h, w).to(imgs.device)


def webcam_degrade(x: torch.Tensor, p: float, gen: torch.Generator | None = None) -> torch.Tensor:
    """Webcam-like degradations of x float [N,1,48,48] raw 0..255, each applied to an image with probability p:
    lighting (gain 0.5-1.5 and offset ±40 grey levels), contrast (0.5-1.5 around the image mean) and gamma
    (0.6-1.6); Gaussian blur (sigma 0.4-1.5 px); low resolution (down to 12-32 px by area averaging, back up
    bilinearly: a face of 12-32 px in the frame); JPEG compression (quality 15, 25, ..., 75). Returns a new tensor in 0..255.
    """
    if p <= 0:
        return x
    n, dev = x.shape[0], x.device

    def u(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen, device=dev) * (hi - lo) + lo

    def pick() -> torch.Tensor:
        return (torch.rand(n, generator=gen, device=dev) < p).view(-1, 1, 1, 1)

    out = x
    # Lighting, contrast, gamma (one photometric draw per image).
    gain, offset = u(0.5, 1.5).view(-1, 1, 1, 1), u(-40, 40).view(-1, 1, 1, 1)
    contrast, gamma = u(0.5, 1.5).view(-1, 1, 1, 1), torch.exp(u(math.log(0.6), math.log(1.6))).view(-1, 1, 1, 1)
    mean = out.mean(dim=(2, 3), keepdim=True)
    y = ((out - mean) * contrast + mean) * gain + offset
    y = 255.0 * (y.clamp(0, 255) / 255.0) ** gamma
    out = torch.where(pick(), y, out)
    # Blur (only the picked images go through the convolution).
    sigma, bl = u(0.4, 1.5), pick().view(-1)
    if bl.any():
        idx = torch.nonzero(bl).view(-1)
        out = out.clone()
        out[idx] = _gaussian_blur(out[idx], sigma[idx])
    # Low resolution: a few sizes per batch keeps it to a handful of interpolate calls.
    low = pick().view(-1)
    if low.any():
        sizes = torch.randint(12, 33, (n,), generator=gen, device=dev)
        res = out.clone()
        for s in torch.unique(sizes[low]).tolist():
            idx = torch.nonzero(low & (sizes == s)).view(-1)
            small = F.interpolate(out[idx], size=(s, s), mode="area")
            res[idx] = F.interpolate(small, size=out.shape[2:], mode="bilinear", align_corners=False)
        out = res
    # JPEG: quality 15-75 in steps of 10, one coding per quality level for all its images.
    jp = pick().view(-1)
    if jp.any():
        qual = torch.randint(0, 7, (n,), generator=gen, device=dev) * 10 + 15
        out = out.clone()
        for q in torch.unique(qual[jp]).tolist():
            idx = torch.nonzero(jp & (qual == q)).view(-1)
            out[idx] = _jpeg(out[idx], int(q))
    return out.clamp(0, 255)
