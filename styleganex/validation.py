"""Input checks with messages that say what is wrong and what to do about it."""

from __future__ import annotations

import torch

RANGE_SLACK = 1e-3  # values may overshoot the nominal range by this much (rounding)


def check_image_tensor(x, name: str, channels: int | None = None, multiple: int = 1,
                       value_range: tuple[float, float] | None = (-1.0, 1.0)) -> torch.Tensor:
    """Validate a [B, C, H, W] float tensor; return it unchanged or raise ValueError.

    Checks: a torch tensor, 4 dimensions, ``channels``, sides multiples of ``multiple``, finite
    values, and (unless ``value_range`` is None) values inside the range.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [B, C, H, W], got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape [B, C, H, W], got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a float tensor, got {x.dtype}")
    b, c, h, w = x.shape
    if b == 0 or h == 0 or w == 0:
        raise ValueError(f"{name} is empty: shape {tuple(x.shape)}")
    if channels is not None and c != channels:
        raise ValueError(f"{name} must have {channels} channels, got {c} (shape {tuple(x.shape)})")
    if multiple > 1 and (h % multiple or w % multiple):
        raise ValueError(
            f"{name} sides must be multiples of {multiple}, got {h}x{w}; crop or pad it first "
            f"(styleganex.faces.make_size_valid does this reversibly)")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if value_range is not None:
        lo, hi = value_range
        mn, mx = float(x.min()), float(x.max())
        if mn < lo - RANGE_SLACK or mx > hi + RANGE_SLACK:
            raise ValueError(f"{name} values must lie in [{lo:g}, {hi:g}], got [{mn:.3g}, {mx:.3g}]"
                             + (" (convert 0..1 images with x * 2 - 1)" if lo == -1 and mn >= 0 and mx > 1 else ""))
    return x
