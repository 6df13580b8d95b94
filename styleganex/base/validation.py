"""The one image-tensor check, with messages that say what is wrong and what to do about it.

Face functions take images ``[3, H, W]`` or ``[B, 3, H, W]`` in 0..1; the model takes ``[B, C, H, W]``
in -1..1 (sketches and parsing maps in 0..1). Both are checked by :func:`check_image`.

The same module checks what comes *out* of a step (:func:`check_finite`: no NaN or infinite values ever
reach a file or a node output) and the plain numbers every front end passes on (:func:`check_seed`,
:func:`check_strength`).

>>> check_finite(torch.tensor([1.0, float("nan")]), "decoding")
Traceback (most recent call last):
...
styleganex.base.errors.NonFiniteError: decoding produced NaN or infinite values (1 of 2); nothing was written. ...
>>> check_seed(-1)
Traceback (most recent call last):
...
styleganex.base.errors.InputError: seed must be a whole number in 0..18446744073709551615, got -1
"""

from __future__ import annotations

import math
import numbers

import torch

from .errors import ImageError, InputError, NonFiniteError

MAX_SEED = 2**64 - 1
"""Largest seed (torch generators take unsigned 64-bit seeds)."""
MAX_STRENGTH = 100.0
"""Largest absolute edit strength / editing scale: directions are unit-scale vectors and useful edits
stay within +-10; far larger values only push w+ out of the space the generator knows (and huge ones
overflow to NaN)."""

RANGE_SLACK = 1e-3
"""Values may stray this far outside their nominal range (float rounding of resampling filters)."""

UNIT = (0.0, 1.0)
"""The value range of images in the face functions, sketches and parsing maps."""
SIGNED = (-1.0, 1.0)
"""The value range of images the model takes and gives."""


def check_image(x, name: str = "image", *, channels: int | None = 3, multiple: int = 1,
                value_range: tuple[float, float] | None = UNIT, ndims: tuple[int, ...] = (3, 4)):
    """Validate an image tensor; return it unchanged or raise :class:`~styleganex.base.errors.ImageError`.

    Args:
        x: the tensor, ``[C, H, W]`` or ``[B, C, H, W]`` as ``ndims`` allows.
        name: how the message calls it.
        channels: required ``C`` (None: any).
        multiple: ``H`` and ``W`` must be multiples of this.
        value_range: ``(low, high)`` the values must lie in, give or take ``RANGE_SLACK``
            (None: any finite values).
        ndims: the accepted numbers of dimensions.

    Returns:
        ``x``, so calls can be chained.

    Checks a float tensor of an accepted rank, the channel count, no empty side, sides multiples
    of ``multiple``, finite values and the value range.

    >>> check_image(torch.zeros(3, 8, 8)).shape
    torch.Size([3, 8, 8])
    >>> check_image(torch.full((1, 3, 8, 8), -5.0), "frame", value_range=(-1.0, 1.0))
    Traceback (most recent call last):
    ...
    styleganex.base.errors.ImageError: frame values must lie in [-1, 1], found -5..-5
    """
    layout = " or ".join(("[C, H, W]", "[B, C, H, W]")[n - 3] for n in ndims if n in (3, 4))
    if not isinstance(x, torch.Tensor):
        raise ImageError(f"{name} must be a torch.Tensor {layout}, got {type(x).__name__}")
    if x.ndim not in ndims or (channels is not None and x.shape[-3] != channels):
        want = f"{layout.replace('C', str(channels))} ({channels} channels)" if channels is not None else layout
        raise ImageError(f"{name} must have shape {want}, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ImageError(f"{name} must be a float tensor, got {x.dtype}")
    if x.numel() == 0:
        raise ImageError(f"{name} is empty: shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    if multiple > 1 and (h % multiple or w % multiple):
        raise ImageError(f"{name} sides must be multiples of {multiple}, got {h}x{w}; crop or pad it first "
                         f"(styleganex.faces.make_size_valid does this reversibly)")
    low, high = (v.item() for v in torch.aminmax(x.detach()))  # NaN and inf show up here too
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ImageError(f"{name} contains NaN or infinite values")
    if value_range is not None:
        lo, hi = value_range
        if low < lo - RANGE_SLACK or high > hi + RANGE_SLACK:
            raise ImageError(f"{name} values must lie in [{lo:g}, {hi:g}], found {low:.4g}..{high:.4g}"
                             + _range_hint(lo, hi, low, high))
    return x


def _range_hint(lo: float, hi: float, low: float, high: float) -> str:
    if (lo, hi) == (-1.0, 1.0) and low >= 0.0 and 1.0 < high <= 255.0:
        return " (convert 0..1 images with x * 2 - 1; 0..255 images with x / 127.5 - 1)"
    if (lo, hi) == (0.0, 1.0) and low >= -1.0 and high <= 1.0:
        return " (it looks like -1..1: use (x + 1) / 2)"
    if (lo, hi) == (0.0, 1.0) and low >= 0.0 and high > 2.0:
        return " (it looks like 0..255: divide by 255)"
    return ""


def check_finite(x: torch.Tensor, step: str) -> torch.Tensor:
    """Return ``x`` unchanged, or raise :class:`~styleganex.base.errors.NonFiniteError` naming ``step`` when it
    holds NaN or infinite values (so a broken result is never written or passed on)."""
    bad = ~torch.isfinite(x.detach())
    if bool(bad.any()):
        raise NonFiniteError(f"{step} produced NaN or infinite values ({int(bad.sum())} of {x.numel()}); nothing "
                             "was written. An edit strength or scale that is too large, or a diverged optimisation, "
                             "does this")
    return x


def check_seed(seed, name: str = "seed") -> int:
    """``seed`` as an int in ``0..MAX_SEED`` (what torch generators accept); InputError otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, (int, float)) or (isinstance(seed, float) and (
            not math.isfinite(seed) or seed != int(seed))) or not 0 <= int(seed) <= MAX_SEED:
        raise InputError(f"{name} must be a whole number in 0..{MAX_SEED}, got {seed!r}")
    return int(seed)


def check_strength(value, name: str = "strength", error: type[InputError] = InputError) -> float:
    """``value`` as a float with ``|value| <= MAX_STRENGTH``; ``error`` (an InputError) otherwise."""
    number = float(value) if isinstance(value, numbers.Real) else math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise error(f"{name} must be a finite number, got {value!r}")
    if abs(number) > MAX_STRENGTH:
        raise error(f"{name} is {number:g}; it must lie in -{MAX_STRENGTH:g}..{MAX_STRENGTH:g} (useful edits stay "
                    "within +-10: larger values leave the space the generator knows)")
    return number
