"""Step II of the two-step inversion: helpers of the official latent optimisation."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def lr_schedule(t: float, initial_lr: float, rampdown: float = 0.25, rampup: float = 0.05) -> float:
    """Learning rate at progress t in [0, 1]: linear ramp-up over the first ``rampup``, cosine
    ramp-down over the last ``rampdown``."""
    ramp = min(1.0, (1.0 - t) / rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return initial_lr * ramp * min(1.0, t / rampup)


def noise_regularize(noises) -> torch.Tensor:
    """Sum over noise maps and a bilinear x0.5 pyramid (while the side is > 8) of the squared mean
    autocorrelation with a one-pixel shift along x and along y."""
    loss = 0.0
    for noise in noises:
        size = noise.shape[2]
        while True:
            loss = loss + (noise * torch.roll(noise, 1, dims=3)).mean().pow(2) \
                + (noise * torch.roll(noise, 1, dims=2)).mean().pow(2)
            if size <= 8:
                break
            noise = F.interpolate(noise, scale_factor=0.5, mode="bilinear")
            size //= 2
    return loss


@torch.no_grad()
def noise_normalize_(noises) -> None:
    """In place: each noise map to zero mean and unit (unbiased) standard deviation."""
    for noise in noises:
        noise.sub_(noise.mean()).div_(noise.std())
