"""The release's training augmentation: random affine transforms and random crops.

The release (``training/coach.py``) makes aligned training faces unaligned with the ADA-style geometric
augmentation of ``models/stylegan2/simple_augment.py`` (``random_apply_affine(x, 0.2)``, the same
transform then applied to the target ``y``) and crops input and target at a random size.

:func:`sample_affine` draws the release's chain of transforms, each applied with probability ``p``
(rotations with ``1 - sqrt(1 - p)``): integer translation (uniform +-0.125 of the side), isotropic
scale (log-normal, std 0.1 ln 2), rotation (uniform +-45 degrees), anisotropic scale (log-normal,
std 0.1 ln 2), rotation, fractional translation (normal, std 0.125). The matrices are in normalised
coordinates (-1..1 across the image, as ``F.affine_grid`` takes them), so the same matrix aligns an
input and a target of any two resolutions exactly. :func:`apply_affine` resamples bilinearly with
reflection padding. (The release resamples with a 2x supersampled SYM6 filter and expresses its
translations in pixels of the padded image, which makes them sub-pixel; the transform family and
probabilities are the release's.)

Every random draw takes an explicit ``torch.Generator``, so a run is reproducible, resumable and
independent of how the batch is split over processes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _uniform(g, low, high):
    return low + (high - low) * float(torch.rand((), generator=g))


def _normal(g, std):
    return std * float(torch.randn((), generator=g))


def _apply(g, p) -> bool:
    return float(torch.rand((), generator=g)) < p


def sample_affine(generator: torch.Generator, p: float = 0.2) -> torch.Tensor:
    """One random transform, a ``[3, 3]`` float32 matrix mapping output to input coordinates
    (normalised, -1..1), drawn from ``generator`` as described in the module docstring."""
    g = generator
    m = torch.eye(3, dtype=torch.float64)

    def then(t):
        nonlocal m
        m = m @ t

    def translate(tx, ty):
        return torch.tensor([[1, 0, tx], [0, 1, ty], [0, 0, 1]], dtype=torch.float64)

    def scale(sx, sy):
        return torch.tensor([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], dtype=torch.float64)

    def rotate(a):
        c, s = math.cos(a), math.sin(a)
        return torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=torch.float64)

    p_rot = 1 - math.sqrt(1 - p)
    t = _uniform(g, -0.125, 0.125)  # drawn always (as the release), applied with probability p
    if _apply(g, p):
        then(translate(2 * t, 2 * t))
    s = math.exp(_normal(g, 0.1 * math.log(2)))
    if _apply(g, p):
        then(scale(s, s))
    a = _uniform(g, -math.pi / 4, math.pi / 4)
    if _apply(g, p_rot):
        then(rotate(-a))
    s = math.exp(_normal(g, 0.1 * math.log(2)))
    if _apply(g, p):
        then(scale(s, 1 / s))
    a = _uniform(g, -math.pi / 4, math.pi / 4)
    if _apply(g, p_rot):
        then(rotate(-a))
    t = _normal(g, 0.125)
    if _apply(g, p):
        then(translate(2 * t, 2 * t))
    return torch.linalg.inv(m).float()


def apply_affine(images: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """Warp ``images`` ``[B, C, H, W]`` by per-image ``matrices`` ``[B, 3, 3]`` (from :func:`sample_affine`):
    bilinear, reflection padding, differentiable. Identity matrices return the images unchanged."""
    theta = matrices[:, :2, :].to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def sample_crop(generator: torch.Generator, height: int, width: int, low: int, high: int) -> tuple[int, int, int, int]:
    """A random crop ``(top, left, crop_height, crop_width)`` of an ``height x width`` input, sides
    multiples of 8 in ``low..high`` (clamped to the input), as the release's ``random_crop``
    (sides 256..320 in steps of 8, position uniform)."""
    def side(limit):
        lo, hi = min(low, limit) // 8, min(high, limit) // 8
        return 8 * int(torch.randint(lo, hi + 1, (), generator=generator))
    th, tw = side(height), side(width)
    i = int(torch.randint(0, height - th + 1, (), generator=generator))
    j = int(torch.randint(0, width - tw + 1, (), generator=generator))
    return i, j, th, tw


def crop(images: torch.Tensor, box: tuple[int, int, int, int], scale: int = 1) -> torch.Tensor:
    """``images`` cut to ``box`` (from :func:`sample_crop`, in input pixels) times ``scale``."""
    i, j, th, tw = box
    return images[:, :, i * scale:(i + th) * scale, j * scale:(j + tw) * scale]
