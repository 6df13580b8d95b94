"""The official super-resolution degradation: bicubic downsampling (a = -0.5) with reflect padding."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..base.errors import InputError


def bicubic_weight(x: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    """Keys' cubic convolution kernel evaluated at x."""
    x = x.abs()
    near = (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1
    far = a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a
    return torch.where(x <= 1, near, torch.where(x < 2, far, torch.zeros_like(x)))


def bicubic_taps(factor: int, a: float = -0.5) -> torch.Tensor:
    """The 4*factor normalised taps of the downsampling filter (float32)."""
    n = 4 * factor
    pos = (torch.arange(n, dtype=torch.float32) - n // 2 + 0.5) / factor
    k = bicubic_weight(pos, a)
    return k / k.sum()


def bicubic_downsample(img: torch.Tensor, factor: int) -> torch.Tensor:
    """Downsample [B, C, H, W] by an integer ``factor`` as the release does.

    Separable: reflect-pad 3*factor rows (floor half on top), filter with stride ``factor`` along H,
    then the same along W. Output [B, C, ceil-ish(H/factor), ...] exactly as the official filter.
    """
    if factor < 1 or int(factor) != factor:
        raise InputError(f"factor must be a positive integer, got {factor}")
    if factor == 1:
        return img
    b, c, h, w = img.shape
    if min(h, w) <= 3 * factor // 2 + 1:
        raise InputError(f"image {h}x{w} is too small to downsample by {factor}")
    taps = bicubic_taps(factor).to(img)
    pad = 3 * factor
    top = pad // 2
    x = F.pad(img, (0, 0, top, pad - top), mode="reflect")
    x = F.conv2d(x.reshape(b * c, 1, *x.shape[2:]), taps.view(1, 1, -1, 1), stride=(factor, 1))
    x = F.pad(x, (top, pad - top, 0, 0), mode="reflect")
    x = F.conv2d(x, taps.view(1, 1, 1, -1), stride=(1, factor))
    return x.reshape(b, c, *x.shape[2:])


def degrade(img: torch.Tensor, factor: int) -> torch.Tensor:
    """SR input as released: bicubic downsample by ``factor``, then resize back up (bicubic)."""
    low = bicubic_downsample(img, factor)
    return F.interpolate(low, size=img.shape[-2:], mode="bicubic", align_corners=False)
