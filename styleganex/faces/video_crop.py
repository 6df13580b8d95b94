"""Cropping every frame of a video.

Default (``track=False``), as in the official release: the face is found in the first frame and that
frame's crop is reused for every frame, so the crop never moves.

``track=True`` finds the face again in every frame and moves the crop with it. The crop keeps the
first frame's size (so all crops, and the model's outputs, have one size) and is placed by the eye
midpoint (frame pixels) and the scale (64 / horizontal eye distance), both smoothed over time by an
exponential moving average:

    state = smoothing * state + (1 - smoothing) * measured

``smoothing`` 0 follows every measurement; 0.8 (default) averages over roughly the last 1 / (1 - 0.8)
= 5 frames. With several faces the one nearest the previous eye midpoint is followed; in frames where
no usable face is found the previous state is kept (so the last crop is reused).
"""

from __future__ import annotations

import numpy as np
import torch

from ..base.errors import InputError
from .crop_record import DEFAULT_PADDING, CropRecord, apply_crop, crop_record
from .detect import FaceDetector, default_detector, detect_face
from .face import Face


class VideoCropper:
    """Call it on the frames in order: ``crop, record = cropper(frame)`` (``frame`` ``[3, H, W]`` in 0..1).

    first_face: the face found in the first frame (for the aligned face x̃ of the video).
    detector, rule: how the first frame's face is found (see ``detect_face``).
    padding: the crop padding, ``(left, right, top, bottom)`` (see ``crop_record``).
    """

    def __init__(self, detector: FaceDetector | None = None, padding=DEFAULT_PADDING, track: bool = False,
                 smoothing: float = 0.8, rule: str = "largest"):
        if not 0.0 <= smoothing < 1.0:
            raise InputError(f"smoothing must be in [0, 1), got {smoothing}")
        self.detector = detector or default_detector()
        self.padding = padding
        self.track = track
        self.smoothing = smoothing
        self.rule = rule
        self.reset()

    def reset(self) -> None:
        """Forget the previous frames; the next call starts a new video."""
        self.first_face: Face | None = None
        self.record: CropRecord | None = None
        self._center = None  # smoothed eye midpoint, frame pixels
        self._scale = None  # smoothed scale
        self._offset = None  # crop box origin minus eye midpoint, rescaled pixels

    def __call__(self, frame: torch.Tensor) -> tuple[torch.Tensor, CropRecord]:
        if self.record is None:
            self._start(frame)
        elif tuple(frame.shape[-2:]) != tuple(self.record.frame_size):
            raise InputError(f"frame is {tuple(frame.shape[-2:])}, the video started with {self.record.frame_size}")
        elif self.track:
            self._follow(frame)
        return apply_crop(frame, self.record), self.record

    def _start(self, frame: torch.Tensor) -> None:
        face = detect_face(frame, self.detector, self.rule)
        record = crop_record(tuple(frame.shape[-2:]), face, self.padding)
        self.first_face, self.record = face, record
        self._center, self._scale = _eye_midpoint(face), record.scale
        self._offset = np.array(record.box[:2], dtype=np.float64) - self._center * record.scale

    def _follow(self, frame: torch.Tensor) -> None:
        faces = [f for f in self.detector.detect(frame) if f.landmarks is not None]
        if faces:
            face = min(faces, key=lambda f: float(np.hypot(*(_eye_midpoint(f) - self._center))))
            try:
                measured = crop_record(tuple(frame.shape[-2:]), face, self.padding)
            except ValueError:  # too small, or turned over, in this frame: keep the last crop
                return
            a = self.smoothing
            self._center = a * self._center + (1.0 - a) * _eye_midpoint(face)
            self._scale = a * self._scale + (1.0 - a) * measured.scale
        self.record = fixed_size_record(self.record.frame_size, self._center, self._scale, self.record.crop_size,
                                        self._offset)


def _eye_midpoint(face: Face) -> np.ndarray:
    left, right = face.eyes()
    return (left + right) / 2.0


def fixed_size_record(frame_size: tuple[int, int], center, scale: float, crop_size: tuple[int, int],
                      offset) -> CropRecord:
    """A crop of exactly ``crop_size`` ``(h, w)`` whose box origin is ``center * scale + offset``
    (rescaled pixels), shifted to stay inside the rescaled frame. ``scale`` is raised if needed so the
    rescaled frame can hold the crop."""
    height, width = frame_size
    crop_h, crop_w = crop_size
    scale = max(float(scale), crop_h / height, crop_w / width)
    h, w = max(round(height * scale), crop_h), max(round(width * scale), crop_w)
    x0 = min(max(round(center[0] * scale + offset[0]), 0), w - crop_w)
    y0 = min(max(round(center[1] * scale + offset[1]), 0), h - crop_h)
    return CropRecord((height, width), scale, (h, w), (x0, y0, x0 + crop_w, y0 + crop_h))

