"""A face's motion from one frame to another, as a similarity transform (rotation, uniform scale, shift).

:func:`fit_similarity` fits it to landmarks (least squares, fitted again without outliers);
:func:`refine_motion` refines it by aligning the face's grey levels with a reference frame
(:func:`face_samples`): Gauss-Newton on the four parameters, accurate to a small fraction of a pixel,
and usable where the detector misses the face. :mod:`~styleganex.faces.tracks` moves each track's
landmarks with it.

>>> src = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
>>> matrix = fit_similarity(src, src * 2 + 5)             # scaled by 2, shifted by 5
>>> np.round(matrix, 6).tolist()
[[2.0, -0.0, 5.0], [0.0, 2.0, 5.0]]
>>> np.round(apply_similarity(matrix, np.array([[1.0, 1.0]])), 6).tolist()
[[7.0, 7.0]]
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from kornia.filters import spatial_gradient

from ..base.errors import InputError
from .paste import face_polygon, polygon_depth

__all__ = ["apply_similarity", "face_samples", "fit_similarity", "refine_motion", "similarity_through"]


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 similarity (rotation, uniform scale, shift) mapping the points ``src`` ``(N, 2)`` onto
    ``dst`` best in least squares, fitted again without points whose error exceeds 2.5 times the
    median error (and 1 px)."""
    src, dst = np.asarray(src, dtype=np.float64), np.asarray(dst, dtype=np.float64)
    keep = np.ones(len(src), dtype=bool)
    matrix = None
    for _ in range(2):
        s, d = src[keep], dst[keep]
        ms, md = s.mean(axis=0), d.mean(axis=0)
        xs, xd = s - ms, d - md
        norm = float((xs ** 2).sum())
        if norm < 1e-9:  # the points left are one point: keep the first fit
            break
        a = float((xs * xd).sum()) / norm
        b = float((xs[:, 0] * xd[:, 1] - xs[:, 1] * xd[:, 0]).sum()) / norm
        matrix = np.array([[a, -b, 0.0], [b, a, 0.0]])
        matrix[:, 2] = md - matrix[:, :2] @ ms
        error = np.hypot(*(src @ matrix[:, :2].T + matrix[:, 2] - dst).T)
        keep = error <= max(1.0, 2.5 * float(np.median(error)))
    if matrix is None:
        raise InputError("cannot fit a motion to points that all coincide")
    return matrix


def _grey(frame: torch.Tensor) -> torch.Tensor:
    return (0.299 * frame[0] + 0.587 * frame[1] + 0.114 * frame[2]).double()


def _sample(image: torch.Tensor, points: np.ndarray) -> torch.Tensor:
    """Bilinear samples of ``image`` ``[C, H, W]`` at the ``(N, 2)`` pixel points (edge repeated)."""
    height, width = image.shape[-2:]
    grid = torch.as_tensor(points, dtype=image.dtype).clone()
    grid[:, 0] = grid[:, 0] * (2.0 / max(width - 1, 1)) - 1.0
    grid[:, 1] = grid[:, 1] * (2.0 / max(height - 1, 1)) - 1.0
    out = F.grid_sample(image[None], grid[None, None], mode="bilinear", padding_mode="border", align_corners=True)
    return out[0, :, 0]


def face_samples(frame: torch.Tensor, landmarks: np.ndarray, count: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Points on a grid inside a face (the landmarks' hull shrunk by a tenth, up to ``count``
    points) and the frame's grey levels there: the reference of :func:`refine_motion`."""
    polygon = face_polygon(landmarks)
    x0, y0 = polygon.min(axis=0)
    x1, y1 = polygon.max(axis=0)
    step = max(1.0, float(np.sqrt((x1 - x0) * (y1 - y0) / count)))
    xs, ys = np.meshgrid(np.arange(x0, x1, step), np.arange(y0, y1, step))
    points = np.stack([xs.ravel(), ys.ravel()], axis=1)
    depth = polygon_depth(polygon, torch.as_tensor(points[:, 0]), torch.as_tensor(points[:, 1])).numpy()
    points = points[depth > 0.1 * (x1 - x0)]
    return points, _sample(_grey(frame)[None], points)[0].numpy()


def refine_motion(frame: torch.Tensor, points: np.ndarray, values: np.ndarray, matrix: np.ndarray,
                  iterations: int = 20) -> tuple[np.ndarray, float]:
    """Refine the similarity ``matrix`` (2x3, reference -> ``frame``) so the grey levels of ``frame``
    ``[3, H, W]`` at the mapped ``points`` match ``values`` (their reference levels, e.g. from
    :func:`face_samples`): Gauss-Newton on ``(a, b, tx, ty)`` of ``[[a, -b, tx], [b, a, ty]]``, the
    mean level difference removed. Returns the refined matrix and the normalised cross-correlation
    of the matched levels (1 = identical up to brightness and contrast)."""
    if len(points) < 16:
        return matrix, 0.0
    grey = _grey(frame)
    mapped = apply_similarity(matrix, points)
    lo = np.floor(mapped.min(axis=0) - 4).clip(0).astype(int)
    hi = np.ceil(mapped.max(axis=0) + 5).astype(int)
    hi = np.minimum(hi, [grey.shape[1], grey.shape[0]])
    if (hi - lo).min() < 4:
        return matrix, 0.0
    patch = grey[lo[1]:hi[1], lo[0]:hi[0]]
    grads = spatial_gradient(patch[None, None].float(), normalized=True)[0, 0].double()  # [2, h, w]
    stack = torch.cat([patch[None], grads])
    centre = points.mean(axis=0)
    xc = torch.as_tensor(points - centre)
    ref = torch.as_tensor(values, dtype=torch.float64)
    ref = ref - ref.mean()
    a, b = matrix[0, 0], matrix[1, 0]
    t = apply_similarity(matrix, centre[None])[0] - lo
    for _ in range(iterations):
        m = np.array([[a, -b, 0.0], [b, a, 0.0]])
        m[:, 2] = t - m[:, :2] @ centre
        level, gx, gy = _sample(stack, apply_similarity(m, points))
        residual = (level - level.mean()) - ref
        jac = torch.stack([gx * xc[:, 0] + gy * xc[:, 1], gy * xc[:, 0] - gx * xc[:, 1], gx, gy], dim=1)
        jac = jac - jac.mean(dim=0)
        step = torch.linalg.lstsq(jac, -residual[:, None]).solution[:, 0].numpy()
        a, b, t = a + step[0], b + step[1], t + step[2:]
        if np.abs(step[2:]).max() < 1e-3 and np.abs(step[:2]).max() < 1e-5:
            break
    m = np.array([[a, -b, 0.0], [b, a, 0.0]])
    m[:, 2] = t - m[:, :2] @ centre
    level = _sample(stack[:1], apply_similarity(m, points))[0]
    level = level - level.mean()
    ncc = float((level * ref).sum() / (level.norm() * ref.norm()).clamp_min(1e-12))
    m[:, 2] += lo
    return m, ncc


def apply_similarity(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The ``(N, 2)`` points mapped by the 2x3 ``matrix``."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def similarity_through(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The similarity that maps the two points ``src`` exactly onto ``dst``."""
    vs, vd = src[1] - src[0], dst[1] - dst[0]
    denom = float(vs @ vs) or 1.0
    a = float(vs @ vd) / denom
    b = float(vs[0] * vd[1] - vs[1] * vd[0]) / denom
    matrix = np.array([[a, -b, 0.0], [b, a, 0.0]])
    matrix[:, 2] = dst[0] - matrix[:, :2] @ src[0]
    return matrix
