"""FFHQ-style face alignment (the aligned face x̃ that StyleGANEX encodes into w+).

The recipe and the arithmetic of the official ``scripts/align_all_parallel.py``:

1. from the eye centres and mouth corners build an oriented square ``quad``: centred a tenth of the
   way from the eye midpoint to the mouth midpoint, side ``max(4 * eye distance, 3.6 * eye-to-mouth)``;
2. shrink the image by a whole factor (PIL's Lanczos resize) when the quad is more than twice the
   output size;
3. cut the quad's bounding box plus a border of ``0.1 * quad size``;
4. where the quad sticks out of the image, reflect-pad (``numpy.pad`` 'reflect') by at least
   ``0.3 * quad size`` and fade the padding towards a Gaussian-blurred copy (sigma ``0.02 * quad
   size``, as ``scipy.ndimage.gaussian_filter``) and then to the median colour, rounded to 8 bits;
5. resample the quad to ``size x size`` with PIL's ``QUAD`` transform, bilinear, no antialiasing.

``method="release"`` (the default) runs these steps on the 8-bit image with Pillow and numpy, as the
release does (the Gaussian blur is computed with numpy in float64; it matches scipy's to float32
rounding). ``method="smooth"`` is the former float pipeline: torch/kornia resampling that
antialiases when the quad is larger than the output and keeps the image in float throughout; it is
not what the encoder was trained on.

``Alignment`` holds the quad and gives the affine map frame -> aligned face and back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d
from PIL import Image

from ..base.errors import FaceError, InputError
from ..io.images import check_image, to_uint8_hwc
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

    def warp(self, image: torch.Tensor, method: str = "release") -> torch.Tensor:
        """The aligned face ``[3, size, size]`` from ``image`` ``[3, H, W]`` (0..1), by the FFHQ steps.

        method: ``"release"`` (default): the release's arithmetic on the image rounded to 8 bits;
            ``"smooth"``: float resampling, antialiased when shrinking (see the module docstring).
        The result is on ``image``'s device and dtype.
        """
        check_image(image)
        if image.ndim != 3:
            raise InputError(f"warp takes one image [3, H, W], got {tuple(image.shape)}")
        if method == "release":
            aligned = release_warp(to_uint8_hwc(image), self.quad, self.size)
            return torch.from_numpy(aligned).permute(2, 0, 1).to(image.device, image.dtype) / 255.0
        if method != "smooth":
            raise InputError(f"method must be 'release' or 'smooth', got {method!r}")
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


def release_warp(pixels: np.ndarray, quad: np.ndarray, size: int = 256,
                 transform_size: int | None = None) -> np.ndarray:
    """The release's FFHQ warp of ``quad`` (``(4, 2)``, corners as in ``Alignment``) in ``pixels``
    (``[H, W, 3]`` uint8): shrink, crop, pad with blur, PIL ``QUAD`` transform. Returns ``[size, size, 3]``
    uint8. Step by step ``align_face`` of ``scripts/align_all_parallel.py`` after the landmarks
    (output size = transform size = ``size``); with a larger ``transform_size`` the quad is transformed to
    that size and then resized to ``size`` with PIL's Lanczos filter, as the release's FFHQ re-alignment
    (``scripts/download_ffhq1280.py``) does."""
    img = Image.fromarray(np.ascontiguousarray(pixels), "RGB")
    quad = np.array(quad, dtype=np.float64)
    qsize = float(np.hypot(*(quad[3] - quad[0])))

    shrink = int(np.floor(qsize / size * 0.5))
    if shrink > 1:
        rsize = (int(np.rint(float(img.size[0]) / shrink)), int(np.rint(float(img.size[1]) / shrink)))
        img = img.resize(rsize, Image.LANCZOS)
        quad /= shrink
        qsize /= shrink

    border = max(int(np.rint(qsize * 0.1)), 3)
    crop = (int(np.floor(min(quad[:, 0]))), int(np.floor(min(quad[:, 1]))), int(np.ceil(max(quad[:, 0]))),
            int(np.ceil(max(quad[:, 1]))))
    crop = (max(crop[0] - border, 0), max(crop[1] - border, 0), min(crop[2] + border, img.size[0]),
            min(crop[3] + border, img.size[1]))
    if crop[2] <= crop[0] or crop[3] <= crop[1]:
        raise FaceError("the face lies outside the image")
    if crop[2] - crop[0] < img.size[0] or crop[3] - crop[1] < img.size[1]:
        img = img.crop(crop)
        quad -= crop[0:2]

    pad = (int(np.floor(min(quad[:, 0]))), int(np.floor(min(quad[:, 1]))), int(np.ceil(max(quad[:, 0]))),
           int(np.ceil(max(quad[:, 1]))))
    pad = (max(-pad[0] + border, 0), max(-pad[1] + border, 0), max(pad[2] - img.size[0] + border, 0),
           max(pad[3] - img.size[1] + border, 0))
    if max(pad) > border - 4:
        pad = np.maximum(pad, int(np.rint(qsize * 0.3)))
        padded = np.pad(np.float32(img), ((pad[1], pad[3]), (pad[0], pad[2]), (0, 0)), "reflect")
        h, w, _ = padded.shape
        y, x, _ = np.ogrid[:h, :w, :1]
        mask = np.maximum(1.0 - np.minimum(np.float32(x) / pad[0], np.float32(w - 1 - x) / pad[2]),
                          1.0 - np.minimum(np.float32(y) / pad[1], np.float32(h - 1 - y) / pad[3]))
        blur = qsize * 0.02
        padded += (_gaussian_filter_hw(padded, blur) - padded) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
        padded += (np.median(padded, axis=(0, 1)) - padded) * np.clip(mask, 0.0, 1.0)
        img = Image.fromarray(np.uint8(np.clip(np.rint(padded), 0, 255)), "RGB")
        quad += pad[:2]

    transform_size = size if transform_size is None else int(transform_size)
    img = img.transform((transform_size, transform_size), Image.QUAD, (quad + 0.5).flatten(), Image.BILINEAR)
    if size < transform_size:
        img = img.resize((size, size), Image.LANCZOS)
    return np.array(img)


def _gaussian_filter_hw(image: np.ndarray, sigma: float) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(image, [sigma, sigma, 0])`` for a float32 ``[H, W, C]`` array.

    The same filter in numpy: kernel radius ``int(4 * sigma + 0.5)``, edges mirrored with the edge pixel
    repeated ('reflect'), rows then columns, each pass summed in float64 and stored as float32.
    """
    radius = int(4.0 * sigma + 0.5)
    taps = np.exp(-0.5 / sigma ** 2 * np.arange(-radius, radius + 1, dtype=np.float64) ** 2)
    taps /= taps.sum()
    out = image
    for axis in (0, 1):
        n = out.shape[axis]
        padded = np.take(out, _symmetric_index(n, radius), axis=axis)
        total = np.zeros(out.shape, np.float64)
        for k, tap in enumerate(taps):
            total += tap * (padded[k:k + n] if axis == 0 else padded[:, k:k + n])
        out = total.astype(np.float32)
    return out


def _symmetric_index(n: int, radius: int) -> np.ndarray:
    """Indices ``-radius .. n + radius - 1`` folded into ``0..n-1`` by mirroring with the edge pixel
    repeated (``d c b a | a b c d | d c b a``), for any ``radius``."""
    i = np.arange(-radius, n + radius) % (2 * n)
    return np.where(i < n, i, 2 * n - 1 - i)


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


def align_face(image: torch.Tensor, face: Face | np.ndarray, size: int = 256, method: str = "release") -> torch.Tensor:
    """The FFHQ-aligned face ``[3, size, size]`` (0..1) of ``face`` in ``image`` ``[3, H, W]``.

    method: ``"release"`` (default, the release's arithmetic) or ``"smooth"`` (see ``Alignment.warp``).
    For the transform as well, use ``alignment = ffhq_alignment(face, size)`` and ``alignment.warp(image)``.
    Note that the release aligns the *crop* with landmarks detected again on it: ``prepare_face`` does that.
    """
    return ffhq_alignment(face, size).warp(image, method)


REALIGN_SIZES = {1280: 5120, 320: 1280}
"""Sizes of the release's training images (``realign1280x1280``, ``realign320x320``) and the size each is
transformed at before its Lanczos resize (``scripts/download_ffhq1280.py`` and its README note)."""
REALIGN_EXTENT = 1.25
"""The re-aligned image spans 1.25 x the FFHQ quad: the aligned face is its central 1024/1280."""


def realign_quad(quad: np.ndarray) -> np.ndarray:
    """The release's re-alignment quad: the FFHQ ``quad`` (corners as in ``Alignment``) grown about its centre
    so that the FFHQ square becomes the central 1024 x 1024 of a 1280 x 1280 image (its corners are those
    of ``-128 .. 1152`` in the 1024 aligned frame)."""
    quad = np.asarray(quad, dtype=np.float64)
    origin, across, down = quad[0], (quad[3] - quad[0]) / 1024.0, (quad[1] - quad[0]) / 1024.0
    low, high = -128.0, 1152.0
    return np.stack([origin + u * across + v * down for u, v in ((low, low), (low, high), (high, high), (high, low))])


def realign_face(image: torch.Tensor, face: Face | np.ndarray, size: int = 1280) -> torch.Tensor:
    """The release's training image of ``face`` in ``image`` ``[3, H, W]`` (0..1): the FFHQ alignment grown
    1.25x (:func:`realign_quad`) at ``size`` (1280 or 320, :data:`REALIGN_SIZES`), by the release's steps
    (:func:`release_warp` with its transform size). Returns ``[3, size, size]`` in 0..1 (8-bit levels).

    Raises ``FaceTooSmallError`` when the eyes are too close to align.
    """
    check_image(image)
    if image.ndim != 3:
        raise InputError(f"realign_face takes one image [3, H, W], got {tuple(image.shape)}")
    if size not in REALIGN_SIZES:
        raise InputError(f"size must be one of {sorted(REALIGN_SIZES)} (the release's training sizes), got {size!r}")
    quad = realign_quad(ffhq_alignment(face, size).quad)
    pixels = release_warp(to_uint8_hwc(image), quad, size, REALIGN_SIZES[size])
    return torch.from_numpy(pixels).permute(2, 0, 1).to(image.device, image.dtype) / 255.0
