"""The detector interface and the one call most code needs: ``detect_face(image)``."""

from __future__ import annotations

import functools
from typing import Protocol, runtime_checkable

import torch

from ..errors import InputError, NoFaceError
from ..images import check_image
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
