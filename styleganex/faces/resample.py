"""Resampling with exact pixel geometry: affine warps and "resize, then cut out a box".

Convention (used by every module in this package): the centre of pixel ``(row i, column j)`` sits at
``(x=j, y=i)``. An affine ``matrix`` is 2x3 and maps ``(x, y, 1)`` in one image to another image.
kornia's ``warp_affine`` with ``align_corners=True`` uses exactly these pixel-centre coordinates.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from kornia.geometry.transform import warp_affine


def as_3x3(matrix) -> np.ndarray:
    """A 2x3 or 3x3 affine matrix as a 3x3 float64 array."""
    matrix = np.asarray(matrix, dtype=np.float64)
    return matrix if matrix.shape == (3, 3) else np.vstack([matrix, [0.0, 0.0, 1.0]])


def apply_affine(matrix, points) -> np.ndarray:
    """Map an ``(N, 2)`` array of ``(x, y)`` points through a 2x3/3x3 affine matrix."""
    points = np.asarray(points, dtype=np.float64)
    m = as_3x3(matrix)
    return points @ m[:2, :2].T + m[:2, 2]


def resize_matrix(from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """3x3 map of pixel coordinates when an image of ``from_size`` ``(H, W)`` is resized to ``to_size``
    ``(h, w)`` (half-pixel convention, as ``F.interpolate(align_corners=False)``: pixel edges scale)."""
    sx, sy = to_size[1] / from_size[1], to_size[0] / from_size[0]
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])


def warp(image: torch.Tensor, matrix, size: tuple[int, int], padding_mode: str = "border") -> torch.Tensor:
    """Resample ``image`` (``[3, H, W]`` or ``[B, 3, H, W]``) into an image of ``size`` ``(h, w)``.

    ``matrix`` (2x3 or 3x3) maps input pixel coordinates to output pixel coordinates. Bilinear
    sampling; when the map shrinks the image (scale ``s < 1``) the input is first resized by ``s``
    with antialiasing and the matrix adjusted exactly, so fine detail does not alias. ``padding_mode``:
    what lies outside the input, ``"border"`` (repeat the edge), ``"zeros"`` or ``"reflection"``.
    """
    m = as_3x3(matrix)
    batch = image if image.ndim == 4 else image[None]
    scale = float(np.sqrt(abs(np.linalg.det(m[:2, :2]))))
    if scale < 1.0:
        height, width = batch.shape[-2:]
        small = (max(1, round(height * scale)), max(1, round(width * scale)))
        batch = F.interpolate(batch, size=small, mode="bilinear", antialias=True, align_corners=False)
        m = m @ np.linalg.inv(resize_matrix((height, width), small))
    theta = torch.tensor(m[:2], dtype=batch.dtype, device=batch.device)[None].expand(batch.shape[0], 2, 3)
    out = warp_affine(batch, theta, (int(size[0]), int(size[1])), mode="bilinear", padding_mode=padding_mode,
                      align_corners=True)
    return out if image.ndim == 4 else out[0]


def resize_then_cut(image: torch.Tensor, resized_size: tuple[int, int], box: tuple[int, int, int, int]) -> torch.Tensor:
    """``box`` ``(x0, y0, x1, y1)`` of ``image`` resized to ``resized_size`` ``(h, w)``, without
    building the whole resized image when it would be larger than the input.

    Same pixels as ``F.interpolate(image, resized_size, mode="bilinear", antialias=True)[..., y0:y1, x0:x1]``
    (half-pixel convention: output pixel ``u`` samples input ``(u + 0.5) * W / w - 0.5``).
    Shrinking resizes the whole image (antialiased, never larger than the input); enlarging
    samples only the box, which gives the same pixels (antialiasing does nothing when enlarging).
    Both sides shrink or both grow when ``resized_size`` is the input size times one scale, rounded.
    """
    height, width = image.shape[-2:]
    new_h, new_w = resized_size
    x0, y0, x1, y1 = box
    batch = image if image.ndim == 4 else image[None]
    if new_h <= height and new_w <= width:
        resized = F.interpolate(batch, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
        out = resized[..., y0:y1, x0:x1]
    else:
        matrix = resize_matrix((height, width), (new_h, new_w))[:2] - [[0.0, 0.0, x0], [0.0, 0.0, y0]]
        theta = torch.tensor(matrix, dtype=batch.dtype, device=batch.device)[None].expand(batch.shape[0], 2, 3)
        out = warp_affine(batch, theta, (y1 - y0, x1 - x0), mode="bilinear", padding_mode="border", align_corners=True)
    return out if image.ndim == 4 else out[0]
