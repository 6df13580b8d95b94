"""The detector interface and the one call most code needs: ``detect_face(image)``; ``redetect_face``
finds a known face again in another image (the release detects the landmarks again on the crop)."""

from __future__ import annotations

import functools
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from ..base.errors import InputError, NoFaceError
from ..io.images import check_image
from .face import Face, select_face


@runtime_checkable
class FaceDetector(Protocol):
    """Anything with ``detect(image) -> list[Face]``; ``image`` is a tensor ``[3, H, W]`` in 0..1.

    Faces should carry 68 landmarks (dlib's order) if they are to be cropped or aligned.
    """

    def detect(self, image: torch.Tensor) -> list[Face]: ...


@functools.cache
def default_detector() -> FaceDetector:
    """The shared ``DlibDetector`` (created once; its model files load on first use)."""
    from .dlib_detector import DlibDetector

    return DlibDetector()


def detect_face(image: torch.Tensor, detector: FaceDetector | None = None, rule: str = "largest",
                index: int = 0) -> Face:
    """Find the faces in ``image`` ``[3, H, W]`` (0..1) and return one, chosen by ``select_face(rule, index)``.

    Raises ``NoFaceError`` when the detector finds nothing.
    """
    check_image(image)
    if image.ndim != 3:
        raise InputError(f"detect_face takes one image [3, H, W], got {tuple(image.shape)}")
    faces = (detector or default_detector()).detect(image)
    if not faces:
        height, width = image.shape[-2:]
        raise NoFaceError(
            f"no face found in the {width}x{height} image. Pass the face yourself instead: a box "
            f"(DlibDetector().face_in_box(image, (x0, y0, x1, y1))) or 68 landmarks "
            f"(Face.from_landmarks(points)), or use center_crop(image) to crop without a face")
    return select_face(faces, rule, index, image_size=tuple(image.shape[-2:]))


REDETECT_MAX_DISTANCE = 0.3
"""``redetect_face`` accepts a detection whose landmarks lie on average within this fraction of the
expected eye distance of the expected landmarks (about 19 px in a crop, where the eyes are 64 px
apart; the same face found again differs by 2 to 11 px)."""


def redetect_face(image: torch.Tensor, near: Face, detector: FaceDetector | None = None,
                  max_distance: float = REDETECT_MAX_DISTANCE) -> Face | None:
    """Detect the faces of ``image`` ``[3, H, W]`` (0..1) and return the one that is ``near``.

    The release detects the 68 landmarks again on the crop and aligns with those
    (``align_face(crop, predictor)`` in every official entry script). It keeps dlib's *last*
    detection, which can be another face or a false detection (on scikit-image's astronaut photo, the
    mission patch); here the detection whose landmarks are nearest ``near``'s (mean distance) is kept.

    near: the expected face in ``image``'s coordinates, with landmarks (e.g. the photo's landmarks
        mapped into the crop).
    Returns ``None`` when no detection with landmarks lies within ``max_distance`` times ``near``'s
    eye distance (on average over the 68 points).
    """
    check_image(image)
    expected = near.require_landmarks()
    limit = max_distance * max(near.eye_distance(), 1.0)
    best, best_distance = None, float("inf")
    for face in (detector or default_detector()).detect(image):
        if face.landmarks is None:
            continue
        distance = float(np.hypot(*(face.landmarks - expected).T).mean())
        if distance < best_distance:
            best, best_distance = face, distance
    return best if best_distance <= limit else None
