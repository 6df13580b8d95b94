"""Paste-back: put a processed crop (any size, e.g. the model's 4x output) back into the original frame.

The output is resampled straight onto the frame's pixel grid with the crop's exact geometry (no
rounding to whole pixels, so nothing shifts), then blended in with a mask that fades out over
``feather`` of the crop's shorter side. Sides of the crop that end at the frame's edge are not
faded (there is nothing to blend with there). Colours are not touched.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import InputError
from ..images import check_image
from .crop import CropRecord
from .resample import warp


def paste_back(frame: torch.Tensor, output: torch.Tensor, record: CropRecord, feather: float = 0.1,
               mask: torch.Tensor | None = None) -> torch.Tensor:
    """Composite ``output`` into ``frame`` where ``record``'s crop came from; returns a new frame.

    frame: ``[3, H, W]`` in 0..1, ``(H, W) == record.frame_size``.
    output: ``[3, oh, ow]`` in 0..1 showing the crop, at any size of the crop's shape (``4 * crop_size`` for
        the model); an output of another shape (beyond the 8 px of padding to multiples of 8) is refused:
        the record is not the one it was made from.
    feather: width of the fade at the crop's inner edges, as a fraction of the crop's shorter side
        (0 = hard edge).
    mask: optional ``[oh, ow]`` or ``[1, oh, ow]`` weights in 0..1 at the output's size (e.g. a face
        mask), multiplied with the feathered mask.
    Frame pixels whose centres lie outside the crop's footprint are returned unchanged.
    """
    check_image(frame, "frame")
    check_image(output, "output")
    if frame.ndim != 3 or output.ndim != 3:
        raise InputError("paste_back takes one frame [3, H, W] and one output [3, h, w]")
    if tuple(frame.shape[-2:]) != tuple(record.frame_size):
        raise InputError(f"frame is {tuple(frame.shape[-2:])} but the crop record is for {record.frame_size}")
    if not 0.0 <= feather <= 0.5:
        raise InputError(f"feather is a fraction of the crop size in 0..0.5, got {feather}")

    sx, sy = record.scale_xy
    x0, y0, x1, y1 = record.box
    crop_h, crop_w = record.crop_size
    out_h, out_w = output.shape[-2:]
    kx, ky = out_w / crop_w, out_h / crop_h
    k = max(kx, ky)  # the output seen at the crop's scale may differ by the padding to multiples of 8 (+1 %)
    if abs(out_w / k - crop_w) > 8 + 0.01 * crop_w or abs(out_h / k - crop_h) > 8 + 0.01 * crop_h:
        raise InputError(f"the output is {out_w}x{out_h} but the crop record's box is {crop_w}x{crop_h}: they do not "
                         "have the same shape, so the record is not the one this output was made from")
    height, width = record.frame_size
    # frame pixels whose centres fall inside the crop's footprint [x0 / sx, x1 / sx) x [y0 / sy, y1 / sy)
    rx0, rx1 = (min(max(math.ceil(e - 0.5), 0), width) for e in (x0 / sx, x1 / sx))
    ry0, ry1 = (min(max(math.ceil(e - 0.5), 0), height) for e in (y0 / sy, y1 / sy))
    if rx1 <= rx0 or ry1 <= ry0:
        return frame.clone()

    # region pixel (X, Y) -> output pixel (u, v); warp wants the opposite direction
    region_to_output = np.array([[sx * kx, 0.0, ((rx0 + 0.5) * sx - x0) * kx - 0.5],
                                 [0.0, sy * ky, ((ry0 + 0.5) * sy - y0) * ky - 0.5],
                                 [0.0, 0.0, 1.0]])
    output_to_region = np.linalg.inv(region_to_output)
    region_size = (ry1 - ry0, rx1 - rx0)
    pasted = warp(output, output_to_region, region_size)

    # the feathered mask, computed in crop pixels at each region pixel centre
    at_left, at_top, at_right, at_bottom = record.edges_at_frame_border()
    ramp = feather * min(crop_h, crop_w)
    u = (torch.arange(rx0, rx1, dtype=torch.float64) + 0.5) * sx - x0
    v = (torch.arange(ry0, ry1, dtype=torch.float64) + 0.5) * sy - y0
    alpha = (_fade(v, crop_h, ramp, not at_top, not at_bottom)[:, None]
             * _fade(u, crop_w, ramp, not at_left, not at_right)[None, :]).to(frame.dtype)[None]
    if mask is not None:
        mask = mask if mask.ndim == 3 else mask[None]
        if tuple(mask.shape) != (1, out_h, out_w):
            raise InputError(f"mask must be [{out_h}, {out_w}] or [1, {out_h}, {out_w}], got {tuple(mask.shape)}")
        mask = mask.to(frame.dtype)
        if not bool(torch.isfinite(mask).all()):
            raise InputError("mask contains NaN or infinite values")
        low, high = float(mask.min()), float(mask.max())
        if low < -1e-3 or high > 1.0 + 1e-3:
            raise InputError(f"mask weights must lie in 0..1, found {low:.4g}..{high:.4g}")
        alpha = alpha * warp(mask, output_to_region, region_size).clamp(0.0, 1.0)

    result = frame.clone()
    region = result[:, ry0:ry1, rx0:rx1]
    result[:, ry0:ry1, rx0:rx1] = (region + (pasted - region) * alpha).clamp(0.0, 1.0)
    return result


def _fade(position: torch.Tensor, length: int, ramp: float, fade_start: bool, fade_end: bool) -> torch.Tensor:
    """1 inside ``[0, length)``, falling linearly to 0 over ``ramp`` pixels at the ends that fade."""
    weight = torch.ones_like(position)
    if ramp > 0 and fade_start:
        weight = torch.minimum(weight, position / ramp)
    if ramp > 0 and fade_end:
        weight = torch.minimum(weight, (length - position) / ramp)
    return weight.clamp(0.0, 1.0)
