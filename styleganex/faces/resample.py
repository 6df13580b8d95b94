"""Resampling with exact pixel geometry: affine warps and "resize, then cut out a box" (plain bilinear as
the release's ``cv2.resize``, or antialiased on request).

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


def _bilinear_taps(in_size: int, out_size: int, start: int, stop: int,
                   device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For output pixels ``start..stop-1`` of a plain bilinear resize ``in_size -> out_size``: the two
    source indices and the weight of the second (``F.interpolate`` bilinear with
    ``align_corners=False``: source ``(u + 0.5) * in / out - 0.5``, clamped to the image)."""
    u = torch.arange(start, stop, dtype=torch.float64, device=device)
    src = ((u + 0.5) * (in_size / out_size) - 0.5).clamp(min=0.0)
    low = src.floor()
    weight = src - low
    low = low.long().clamp(max=in_size - 1)
    high = (low + 1).clamp(max=in_size - 1)
    return low, high, weight


def _cv2_taps(in_size: int, out_size: int, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.resize`` INTER_LINEAR's source index ``floor(f)`` and fraction of ``f = (u + 0.5) * scale - 0.5``
    for output pixels ``start..stop-1``, in float32 as OpenCV computes them (``scale`` in float64)."""
    scale = 1.0 / (out_size / in_size)
    position = ((np.arange(start, stop, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    index = np.floor(position)
    return index.astype(np.int64), (position - index).astype(np.float32)


def _fixed_point(fraction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two 11-bit weights OpenCV rounds ``1 - fraction`` and ``fraction`` to."""
    one = np.float32(INTER_RESIZE_COEF_SCALE)
    return (np.rint((np.float32(1.0) - fraction) * one).astype(np.int32),
            np.rint(fraction * one).astype(np.int32))


INTER_RESIZE_COEF_SCALE = 2048
"""OpenCV's fixed-point scale of bilinear weights for 8-bit images (11 bits)."""


def _cv2_bilinear_8bit(batch: torch.Tensor, resized_size: tuple[int, int],
                       box: tuple[int, int, int, int]) -> torch.Tensor | None:
    """``cv2.resize(frame, (w, h), interpolation=INTER_LINEAR)[y0:y1, x0:x1] / 255`` for ``batch``
    ``[B, C, H, W]`` (0..1) whose pixels are 8-bit levels, bit for bit, computing only the box; ``None``
    when a pixel it reads is not a whole number of 1/255 steps.

    OpenCV's arithmetic: weights rounded to 11 bits (columns clamped at the edges with weight 0, rows
    clamped), the horizontal pass in integers, and the vertical pass as its SIMD kernel does it:
    ``((((D0 >> 4) * b0) >> 16) + (((D1 >> 4) * b1) >> 16) + 2) >> 2``.
    """
    height, width = batch.shape[-2:]
    new_h, new_w = resized_size
    x0, y0, x1, y1 = box
    sx, fx = _cv2_taps(width, new_w, x0, x1)
    fx[(sx < 0) | (sx >= width - 1)] = 0.0
    sx = np.clip(sx, 0, width - 1)
    a0, a1 = _fixed_point(fx)
    sy, fy = _cv2_taps(height, new_h, y0, y1)
    b0, b1 = _fixed_point(fy)
    rows0, rows1 = np.clip(sy, 0, height - 1), np.clip(sy + 1, 0, height - 1)
    cols1 = np.minimum(sx + 1, width - 1)
    # the source pixels read, as whole levels (None if they are not 8-bit)
    top, left = int(rows0.min()), int(sx.min())
    region = batch[..., top:int(rows1.max()) + 1, left:int(cols1.max()) + 1] * 255.0
    levels = region.round()
    if float((region - levels).abs().max()) > 1e-3:
        return None
    levels = levels.clamp(0, 255).to(torch.int32)
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(batch.device)  # noqa: E731
    cols0, cols1 = as_tensor(sx - left), as_tensor(cols1 - left)
    a0, a1, b0, b1 = (as_tensor(v) for v in (a0, a1, b0, b1))
    # horizontal pass on every source row read (columns gathered as rows of the transposed image: fast)
    columns = levels.transpose(-1, -2).contiguous()
    horizontal = (columns.index_select(-2, cols0) * a0[:, None]
                  + columns.index_select(-2, cols1) * a1[:, None]).transpose(-1, -2).contiguous()
    passes = [horizontal.index_select(-2, as_tensor(rows - top)) for rows in (rows0, rows1)]
    total = ((passes[0] >> 4) * b0[:, None] >> 16) + ((passes[1] >> 4) * b1[:, None] >> 16)
    return ((total + 2) >> 2).clamp(0, 255).to(batch.dtype) / 255.0


def resize_then_cut(image: torch.Tensor, resized_size: tuple[int, int], box: tuple[int, int, int, int],
                    antialias: bool = False) -> torch.Tensor:
    """``box`` ``(x0, y0, x1, y1)`` of ``image`` resized to ``resized_size`` ``(h, w)``, computing
    only the box.

    Default (the release): plain bilinear resampling without antialiasing, as ``cv2.resize``. An 8-bit
    image (every value a whole number of 1/255, as photos and video frames are) gives exactly the
    pixels of ``cv2.resize(frame, (w, h))[y0:y1, x0:x1]`` (OpenCV's fixed-point arithmetic, 8-bit
    result, divided by 255); any other image gives the float result of
    ``F.interpolate(image, resized_size, mode="bilinear", align_corners=False)[..., y0:y1, x0:x1]``
    (OpenCV's differs from it by less than one level).
    ``antialias=True``: the pixels of the same ``F.interpolate`` with ``antialias=True`` (smoother
    when shrinking; identical when enlarging). Not the release.
    """
    height, width = image.shape[-2:]
    new_h, new_w = resized_size
    x0, y0, x1, y1 = box
    batch = image if image.ndim == 4 else image[None]
    if antialias and new_h <= height and new_w <= width:
        resized = F.interpolate(batch, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
        out = resized[..., y0:y1, x0:x1]
    elif not antialias and (exact := _cv2_bilinear_8bit(batch, resized_size, box)) is not None:
        out = exact
    else:
        # separable: two rows per output row, then two columns per output column
        ylo, yhi, wy = _bilinear_taps(height, new_h, y0, y1, batch.device)
        xlo, xhi, wx = _bilinear_taps(width, new_w, x0, x1, batch.device)
        wy = wy.to(batch.dtype)[:, None]
        wx = wx.to(batch.dtype)
        top, bottom = batch[..., ylo, :], batch[..., yhi, :]
        rows = top + (bottom - top) * wy
        left, right = rows[..., xlo], rows[..., xhi]
        out = left + (right - left) * wx
    return out if image.ndim == 4 else out[0]
