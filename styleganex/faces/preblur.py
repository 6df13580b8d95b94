"""Blurring before downsampling, so that a resize to a smaller size does not alias."""

from __future__ import annotations

import math

import torch
from kornia.filters import gaussian_blur2d


def preblur_sigma(target_scale: float) -> float:
    """Gaussian sigma (in input pixels) that removes what a ``target_scale`` (< 1) resize cannot hold.

    ``sigma = (1 / target_scale - 1) / 2``, the rule scikit-image's ``rescale(anti_aliasing=True)``
    uses: 0 for no downsampling, 0.5 for halving, 1.5 for a quarter.
    """
    return max(0.0, (1.0 / target_scale - 1.0) / 2.0)


def gaussian_preblur(image: torch.Tensor, target_scale: float) -> torch.Tensor:
    """Blur ``image`` before it is resampled to ``target_scale`` times its size (no-op if >= 1).

    Sigma from ``preblur_sigma``; the kernel covers +-3 sigma; edges are replicated.
    """
    sigma = preblur_sigma(target_scale)
    if sigma < 0.3:  # a kernel this narrow barely changes the image
        return image
    radius = math.ceil(3.0 * sigma)
    batch = image if image.ndim == 4 else image[None]
    blurred = gaussian_blur2d(batch, (2 * radius + 1, 2 * radius + 1), (sigma, sigma), border_type="replicate")
    return blurred if image.ndim == 4 else blurred[0]
