"""The StyleGANEX crop: rescale the frame so the eyes are 64 px apart, cut a box around them.

Official recipe (``get_video_crop_parameter`` in the release's ``utils/inference_utils.py``):

1. ``scale = 64 / (x of the right eye centre - x of the left eye centre)`` (horizontal distance);
2. the frame is resized to ``(round(H * scale), round(W * scale))``;
3. around the eye midpoint ``c`` (in the resized frame) the box is
   ``left = max(round(c.x - pad_left), 0) // 8 * 8``, ``right = min(round(c.x + pad_right), w) // 8 * 8``,
   and the same for top/bottom, so both sides are multiples of 8 (512 x 512 at most with the default
   padding of 256 on every side).

The resize is plain bilinear without antialiasing, as the release's ``cv2.resize`` (its pixels to
within one 8-bit level: ``cv2`` rounds its weights to 11 bits), and only the box is computed.
``antialias=True`` smooths instead when shrinking (not the release). ``CropRecord`` remembers the geometry
so points and images can go back and forth between frame and crop; it serialises to JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..base.errors import FaceError, ImageError, InputError
from ..base.schema import MAX_SIDE, read_float, read_ints
from ..io.images import check_image
from .face import Face
from .resample import apply_affine, as_3x3, resize_matrix, resize_then_cut

EYE_DISTANCE = 64.0
"""Horizontal eye distance (pixels) in the rescaled frame, as in the official release."""

DEFAULT_PADDING = (256, 256, 256, 256)
"""Pixels kept around the eye midpoint in the rescaled frame: ``(left, right, top, bottom)``, the
official order."""

MULTIPLE = 8

MAX_TILT = 60.0
"""Largest angle (degrees) between the line through the eyes and the horizontal that ``crop_record``
accepts: at 60 degrees the horizontal eye distance is half the real one, so the crop already shows
the face twice as large as an upright one; at 90 degrees the scale would be unbounded."""


@dataclass(frozen=True)
class CropRecord:
    """Where a crop came from.

    frame_size: ``(H, W)`` of the original frame.
    scale: the requested rescale factor (official: 64 / horizontal eye distance).
    resized_size: ``(h, w)`` of the rescaled frame, ``round(H * scale), round(W * scale)``; the exact
        per-axis factors are ``w / W`` and ``h / H`` (``scale_xy``).
    box: ``(x0, y0, x1, y1)`` pixel edges of the crop in the rescaled frame.
    """

    frame_size: tuple[int, int]
    scale: float
    resized_size: tuple[int, int]
    box: tuple[int, int, int, int]

    @property
    def crop_size(self) -> tuple[int, int]:
        """``(h, w)`` of the crop."""
        x0, y0, x1, y1 = self.box
        return (y1 - y0, x1 - x0)

    @property
    def scale_xy(self) -> tuple[float, float]:
        """The exact factors ``(w / W, h / H)`` from frame to rescaled frame."""
        return (self.resized_size[1] / self.frame_size[1], self.resized_size[0] / self.frame_size[0])

    def frame_to_crop_matrix(self) -> np.ndarray:
        """2x3 affine map from frame pixel coordinates to crop pixel coordinates."""
        x0, y0 = self.box[:2]
        return resize_matrix(self.frame_size, self.resized_size)[:2] - [[0.0, 0.0, x0], [0.0, 0.0, y0]]

    def frame_to_crop(self, points) -> np.ndarray:
        """``(N, 2)`` points ``(x, y)`` in the frame -> the same points in the crop."""
        return apply_affine(self.frame_to_crop_matrix(), points)

    def crop_to_frame(self, points) -> np.ndarray:
        """``(N, 2)`` points ``(x, y)`` in the crop -> the same points in the frame."""
        return apply_affine(np.linalg.inv(as_3x3(self.frame_to_crop_matrix())), points)

    def face_in_crop(self, face: Face) -> Face:
        """A face of the frame in crop coordinates (e.g. to align the crop without detecting again)."""
        return face.mapped(self.frame_to_crop)

    def edges_at_frame_border(self) -> tuple[bool, bool, bool, bool]:
        """For ``(left, top, right, bottom)``: does that side of the box end within 8 px of the
        rescaled frame's edge (where the official box is clipped and floored)?"""
        x0, y0, x1, y1 = self.box
        h, w = self.resized_size
        return (x0 < MULTIPLE, y0 < MULTIPLE, w - x1 < MULTIPLE, h - y1 < MULTIPLE)

    def to_dict(self) -> dict:
        """Plain JSON-serialisable dict."""
        return {"frame_size": list(self.frame_size), "scale": float(self.scale),
                "resized_size": list(self.resized_size), "box": list(self.box)}

    @classmethod
    def from_dict(cls, data: dict, where: str = "crop record") -> CropRecord:
        """Read a record (e.g. from a latent file), checking every field and that they agree:
        sizes of 1..65536 px, a positive finite scale, a resized size within a pixel of
        ``frame_size * scale`` on each side (1 %), and a non-empty box inside the rescaled frame. Raises
        ``InputError`` naming ``where`` and the field."""
        frame = read_ints(data, "frame_size", where, 2, 1, MAX_SIDE)
        scale = read_float(data, "scale", where, 0.0, float(MAX_SIDE), low_open=True)
        resized = read_ints(data, "resized_size", where, 2, 1, MAX_SIDE)
        box = read_ints(data, "box", where, 4, 0, MAX_SIDE)
        for axis, (n, r) in enumerate(zip(frame, resized)):
            if abs(n * scale - r) > max(1.0, 0.01 * r):
                raise InputError(f"{where}: resized_size {list(resized)} does not match frame_size "
                                 f"{list(frame)} x scale {scale:g}")
        x0, y0, x1, y1 = box
        if not (x0 < x1 <= resized[1] and y0 < y1 <= resized[0]):
            raise InputError(f"{where}: box {list(box)} is empty or outside the rescaled frame "
                             f"{resized[1]}x{resized[0]}")
        return cls(frame, scale, resized, box)


def crop_record(frame_size: tuple[int, int], face: Face, padding=DEFAULT_PADDING) -> CropRecord:
    """The official crop parameters for ``face`` in a frame of ``frame_size`` ``(H, W)``.

    padding: ``(left, right, top, bottom)`` in rescaled pixels, or one number for all four.
    Raises ``FaceTooSmallError`` for eyes closer than ``MIN_EYE_DISTANCE``, ``ValueError`` if the
    eyes are not left-to-right, if the line through them is tilted more than ``MAX_TILT`` degrees
    (the official scale uses their horizontal distance only, which goes to zero for a face turned
    by 90 degrees), or if the box comes out empty (a frame of a few pixels).
    """
    face.require_alignable()
    left_eye, right_eye = face.eyes()
    if right_eye[0] - left_eye[0] <= 0:
        raise FaceError("the eyes are not left-to-right in the image (is the face turned over 90 degrees?)")
    tilt = math.degrees(math.atan2(abs(right_eye[1] - left_eye[1]), right_eye[0] - left_eye[0]))
    if tilt > MAX_TILT:
        raise FaceError(f"the face is turned by {tilt:.0f} degrees (the line through the eyes), more than "
                         f"the {MAX_TILT:g} the StyleGANEX crop handles; rotate the image upright first")
    scale = EYE_DISTANCE / float(right_eye[0] - left_eye[0])
    middle = (left_eye + right_eye) / 2.0 * scale
    return _record_around(frame_size, scale, middle, _four(padding))


def _four(padding) -> tuple[float, float, float, float]:
    if np.isscalar(padding):
        return (padding,) * 4
    if len(padding) != 4:
        raise FaceError(f"padding is (left, right, top, bottom) or one number, got {padding!r}")
    return tuple(padding)


def _record_around(frame_size, scale: float, center, padding) -> CropRecord:
    """The box ``center`` (in the rescaled frame) +- ``padding``, clipped and floored to multiples of 8."""
    height, width = (int(v) for v in frame_size)
    h, w = round(height * scale), round(width * scale)
    cx, cy = float(center[0]), float(center[1])
    pad_left, pad_right, pad_top, pad_bottom = padding
    x0 = max(round(cx - pad_left), 0) // MULTIPLE * MULTIPLE
    x1 = min(round(cx + pad_right), w) // MULTIPLE * MULTIPLE
    y0 = max(round(cy - pad_top), 0) // MULTIPLE * MULTIPLE
    y1 = min(round(cy + pad_bottom), h) // MULTIPLE * MULTIPLE
    if x1 <= x0 or y1 <= y0:
        raise FaceError(f"the crop around the face is empty: a {width}x{height} frame rescaled by {scale:.3g} "
                         f"leaves no {MULTIPLE}-pixel-aligned box around the eyes")
    return CropRecord((height, width), scale, (h, w), (x0, y0, x1, y1))


def apply_crop(image: torch.Tensor, record: CropRecord, antialias: bool = False) -> torch.Tensor:
    """Cut the crop described by ``record`` out of ``image`` (``[3, H, W]`` or ``[B, 3, H, W]``,
    ``(H, W) == record.frame_size``). Returns ``[.., 3, h, w]`` with ``(h, w) == record.crop_size``.

    antialias: False (default, the release): plain bilinear, as ``cv2.resize``; True: antialiased
        when the frame is shrunk.
    """
    check_image(image)
    if tuple(image.shape[-2:]) != tuple(record.frame_size):
        raise FaceError(f"image is {tuple(image.shape[-2:])} but the crop record is for a frame {record.frame_size}")
    return resize_then_cut(image, record.resized_size, record.box, antialias=antialias).clamp(0.0, 1.0)


def styleganex_crop(image: torch.Tensor, face: Face, padding=DEFAULT_PADDING,
                    antialias: bool = False) -> tuple[torch.Tensor, CropRecord]:
    """The official StyleGANEX crop of ``face`` in ``image`` ``[3, H, W]`` (0..1).

    Returns the crop ``[3, h, w]`` (``h``, ``w`` multiples of 8) and its ``CropRecord``.
    antialias: see ``apply_crop`` (default: plain bilinear, as the release).
    """
    record = crop_record(tuple(image.shape[-2:]), face, padding)
    return apply_crop(image, record, antialias), record


def center_crop(image: torch.Tensor, size: int = 512, antialias: bool = True) -> tuple[torch.Tensor, CropRecord]:
    """A crop without a face: shrink so the shorter side is at most ``size``, then cut the central
    ``size x size`` (or less) box with sides floored to multiples of 8. Same ``CropRecord`` as above.

    The release has no such crop; it is antialiased by default (``antialias``, see ``apply_crop``)."""
    height, width = image.shape[-2:]
    scale = min(1.0, size / min(height, width))
    h, w = round(height * scale), round(width * scale)
    half = size / 2.0
    try:
        record = _record_around((height, width), scale, (w / 2.0, h / 2.0), (half, half, half, half))
    except FaceError:  # its message speaks of the eyes; a centre crop has none
        raise ImageError(f"the centre crop of a {width}x{height} image is empty: crops have sides that are whole "
                         f"multiples of {MULTIPLE} pixels, so both sides must be at least {MULTIPLE} pixels (after "
                         f"shrinking the shorter side to at most {size})") from None
    return apply_crop(image, record, antialias), record
