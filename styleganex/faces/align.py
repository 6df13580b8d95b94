"""FFHQ-style face alignment (the aligned face x̃ that StyleGANEX encodes into w+).

The standard FFHQ recipe, as in the official ``scripts/align_all_parallel.py``:

1. from the eye centres and mouth corners build an oriented square ``quad``: centred a tenth of the
   way from the eye midpoint to the mouth midpoint, side ``max(4 * eye distance, 3.6 * eye-to-mouth)``;
2. shrink the image by a whole factor when the quad is more than twice the output size;
3. cut the quad's bounding box plus a border of ``0.1 * quad size``;
4. where the quad sticks out of the image, reflect-pad by at least ``0.3 * quad size`` and fade the
   padding towards a blurred copy (sigma ``0.02 * quad size``) and then to the median colour;
5. resample the quad to ``size x size`` (bilinear).

Differences from the official code: resampling is done with torch/kornia; the remaining shrink in
step 5 is antialiased (PIL's quad transform aliases); coordinates keep
half-pixel accuracy through every step; the image is not rounded to 8 bits in between.

``Alignment`` holds the quad and gives the affine map frame -> aligned face and back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d

from ..errors import FaceError
from ..images import check_image
from .face import LEFT_EYE, MOUTH_LEFT, MOUTH_RIGHT, RIGHT_EYE, Face
from .resample import apply_affine, resize_matrix, warp


@dataclass(frozen=True, eq=False)
class Alignment:
    """An FFHQ alignment of one face.

    quad: ``(4, 2)`` corners ``(x, y)`` in frame pixels: top-left, bottom-left, bottom-right,
        top-right of the aligned image (the order of the official code).
    size: side of the aligned image in pixels.
    """

    quad: np.ndarray
    size: int = 256

    @property
    def quad_size(self) -> float:
        """Side length of the quad in frame pixels."""
        return float(np.hypot(*(self.quad[3] - self.quad[0])))

    def aligned_to_frame_matrix(self) -> np.ndarray:
        """3x3 affine map from aligned-image pixel coordinates to frame pixel coordinates.

        The aligned image's outer edges run exactly along the quad: its pixel centre ``(u, v)``
        comes from ``quad[0] + (u + 0.5) / size * (quad[3] - quad[0]) + (v + 0.5) / size * (quad[1] - quad[0])``.
        """
        origin = self.quad[0]
        across = (self.quad[3] - origin) / self.size  # one aligned pixel to the right, in frame pixels
        down = (self.quad[1] - origin) / self.size  # one aligned pixel down
        shift = origin + 0.5 * (across + down)
        return np.array([[across[0], down[0], shift[0]], [across[1], down[1], shift[1]], [0.0, 0.0, 1.0]])

    def frame_to_aligned_matrix(self) -> np.ndarray:
        """3x3 affine map from frame pixel coordinates to aligned-image pixel coordinates."""
        return np.linalg.inv(self.aligned_to_frame_matrix())

    def to_aligned(self, points) -> np.ndarray:
        """``(N, 2)`` frame points -> aligned-image points."""
        return apply_affine(self.frame_to_aligned_matrix(), points)

    def to_frame(self, points) -> np.ndarray:
        """``(N, 2)`` aligned-image points -> frame points."""
        return apply_affine(self.aligned_to_frame_matrix(), points)

    def to_dict(self) -> dict:
        """Plain JSON-serialisable dict."""
        return {"quad": self.quad.tolist(), "size": self.size}

    @classmethod
    def from_dict(cls, data: dict) -> Alignment:
        return cls(np.asarray(data["quad"], dtype=np.float64), int(data["size"]))

    def warp(self, image: torch.Tensor) -> torch.Tensor:
        """The aligned face ``[3, size, size]`` from ``image`` ``[3, H, W]`` (0..1), by the FFHQ steps."""
        check_image(image)
        height, width = image.shape[-2:]
        quad, qsize = self.quad.copy(), self.quad_size
        to_work = np.eye(3)  # frame coordinates -> coordinates in the image being worked on

        shrink = int(math.floor(qsize / self.size * 0.5))
        if shrink > 1:
            new_w, new_h = max(1, round(width / shrink)), max(1, round(height / shrink))
            image = F.interpolate(image[None], size=(new_h, new_w), mode="bilinear", antialias=True,
                                  align_corners=False)[0]
            to_work = resize_matrix((height, width), (new_h, new_w)) @ to_work
            quad, qsize = apply_affine(to_work, self.quad), qsize / shrink
            height, width = new_h, new_w

        border = max(round(qsize * 0.1), 3)
        low, high = np.floor(quad.min(axis=0)).astype(int), np.ceil(quad.max(axis=0)).astype(int)
        cx0, cy0 = max(low[0] - border, 0), max(low[1] - border, 0)
        cx1, cy1 = min(high[0] + border, width), min(high[1] + border, height)
        if cx1 <= cx0 or cy1 <= cy0:
            raise FaceError("the face lies outside the image")
        image = image[:, cy0:cy1, cx0:cx1]
        quad = quad - [cx0, cy0]
        to_work = _translation(-cx0, -cy0) @ to_work

        height, width = image.shape[-2:]
        low, high = np.floor(quad.min(axis=0)).astype(int), np.ceil(quad.max(axis=0)).astype(int)
        pad = [max(-low[0] + border, 0), max(-low[1] + border, 0),
               max(high[0] - width + border, 0), max(high[1] - height + border, 0)]
        if max(pad) > border - 4:
            pad = [max(p, round(qsize * 0.3)) for p in pad]
            image = _pad_with_blurred_border(image, pad, qsize)
            to_work = _translation(pad[0], pad[1]) @ to_work

        work_to_aligned = self.frame_to_aligned_matrix() @ np.linalg.inv(to_work)
        return warp(image, work_to_aligned, (self.size, self.size)).clamp(0.0, 1.0)


def _translation(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def _pad_with_blurred_border(image: torch.Tensor, pad: list[int], qsize: float) -> torch.Tensor:
    """Reflect-pad ``image`` ``[3, H, W]`` by ``pad`` ``(left, top, right, bottom)`` and blend the padding
    towards a blurred copy and the median colour, as FFHQ does, so the padding reads as background."""
    left, top, right, bottom = pad
    padded = _reflect_pad(image[None], left, right, top, bottom)[0]
    height, width = padded.shape[-2:]
    x = torch.arange(width, dtype=padded.dtype)[None, :]
    y = torch.arange(height, dtype=padded.dtype)[:, None]
    # 1 at the outer edge, 0 where the padding meets the image, negative inside the image
    mask = torch.maximum(1.0 - torch.minimum(x / left, (width - 1 - x) / right),
                         1.0 - torch.minimum(y / top, (height - 1 - y) / bottom))[None]
    sigma = qsize * 0.02
    radius = max(1, math.ceil(4.0 * sigma))
    blurred = gaussian_blur2d(padded[None], (2 * radius + 1, 2 * radius + 1), (sigma, sigma),
                              border_type="replicate")[0]
    padded = padded + (blurred - padded) * (mask * 3.0 + 1.0).clamp(0.0, 1.0)
    median = padded.flatten(1).median(dim=1).values[:, None, None]
    return padded + (median - padded) * mask.clamp(0.0, 1.0)


def _reflect_pad(batch: torch.Tensor, left: int, right: int, top: int, bottom: int) -> torch.Tensor:
    """Mirror padding (edge pixel not repeated, like ``numpy.pad(mode='reflect')``) of any width:
    padding wider than the image is done in several mirror steps."""
    while left or right or top or bottom:
        height, width = batch.shape[-2:]
        if height < 2 or width < 2:  # nothing to mirror: repeat the edge instead
            return F.pad(batch, (left, right, top, bottom), mode="replicate")
        step = [min(left, width - 1), min(right, width - 1), min(top, height - 1), min(bottom, height - 1)]
        batch = F.pad(batch, step, mode="reflect")
        left, right, top, bottom = left - step[0], right - step[1], top - step[2], bottom - step[3]
    return batch


def ffhq_quad(landmarks) -> np.ndarray:
    """The FFHQ quad ``(4, 2)`` for 68 landmarks (frame coordinates), corners as in ``Alignment``."""
    points = np.asarray(landmarks, dtype=np.float64)
    eye_left, eye_right = points[LEFT_EYE].mean(axis=0), points[RIGHT_EYE].mean(axis=0)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (points[MOUTH_LEFT] + points[MOUTH_RIGHT]) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    # x: unit vector along the eyes, tilted by the eye-to-mouth direction; y: x turned 90 degrees
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1.0, 1.0]
    x = x / np.hypot(*x) * max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1.0, 1.0]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def ffhq_alignment(face: Face | np.ndarray, size: int = 256) -> Alignment:
    """The ``Alignment`` of a ``Face`` (or a ``(68, 2)`` landmark array) to ``size x size``.

    Raises ``FaceTooSmallError`` when the eyes are closer than ``MIN_EYE_DISTANCE``.
    """
    if not isinstance(face, Face):
        face = Face.from_landmarks(face)
    face.require_alignable()
    return Alignment(ffhq_quad(face.require_landmarks()), size)


def align_face(image: torch.Tensor, face: Face | np.ndarray, size: int = 256) -> torch.Tensor:
    """The FFHQ-aligned face ``[3, size, size]`` (0..1) of ``face`` in ``image`` ``[3, H, W]``.

    For the transform as well, use ``alignment = ffhq_alignment(face, size)`` and ``alignment.warp(image)``.
    """
    return ffhq_alignment(face, size).warp(image)
