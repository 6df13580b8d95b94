"""A detected face (box, 68 landmarks, score), the errors about faces, and choosing among several faces.

Coordinates are in pixels of the image the face was found in, ``x`` to the right, ``y`` down, with
the centre of pixel ``(row i, column j)`` at ``(x=j, y=i)``. Landmarks follow dlib's 68-point
scheme (iBUG 300-W): 36-41 outline the eye on the image's left (the person's right eye), 42-47 the
other eye, 48 and 54 are the mouth corners.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..base.errors import FaceTooSmallError, InputError, NoFaceError

LEFT_EYE = slice(36, 42)
RIGHT_EYE = slice(42, 48)
MOUTH_LEFT = 48
MOUTH_RIGHT = 54

MIN_EYE_DISTANCE = 16.0
"""Smallest distance between the eye centres (pixels) that crop and alignment accept. The StyleGANEX
crop rescales the eyes to 64 px apart and the aligned face puts them about 64 px apart at 256 x 256,
so below 16 px the face would be upscaled more than 4x and consist of interpolation only."""

RULES = ("largest", "score", "center")


@dataclass(eq=False)
class Face:
    """One face in an image.

    box: ``(x0, y0, x1, y1)`` outer pixel edges, so the box spans ``x1 - x0`` pixels.
    landmarks: ``(68, 2)`` float64 array of ``(x, y)`` points, or ``None`` when only a box is known
        (crop and alignment need landmarks; ``DlibDetector.face_in_box`` finds them for a box).
    score: detector confidence (larger is more certain); 1.0 for faces given by hand.
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray | None = field(default=None, repr=False)
    score: float = 1.0

    def __post_init__(self):
        x0, y0, x1, y1 = (float(v) for v in self.box)
        if not (x1 > x0 and y1 > y0):
            raise InputError(f"a face box needs x1 > x0 and y1 > y0, got {self.box}")
        self.box = (x0, y0, x1, y1)
        if self.landmarks is not None:
            points = np.array(self.landmarks, dtype=np.float64)
            if points.shape != (68, 2):
                raise InputError(f"landmarks must be an array (68, 2) in dlib's order, got shape {points.shape}")
            if not np.isfinite(points).all():
                raise InputError("landmarks contain NaN or infinite values")
            self.landmarks = points

    @classmethod
    def from_landmarks(cls, landmarks, score: float = 1.0) -> Face:
        """A face given by its 68 landmarks (``(68, 2)``, ``(x, y)``); the box is their bounding box."""
        points = np.asarray(landmarks, dtype=np.float64)
        if points.shape != (68, 2):
            raise InputError(f"landmarks must be an array (68, 2) in dlib's order, got shape {points.shape}")
        x0, y0 = points.min(axis=0)
        x1, y1 = points.max(axis=0) + 1.0
        return cls((x0, y0, x1, y1), points, score)

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return (x1 - x0) * (y1 - y0)

    @property
    def center(self) -> np.ndarray:
        """Centre of the box, ``(x, y)``."""
        x0, y0, x1, y1 = self.box
        return np.array([(x0 + x1) / 2.0 - 0.5, (y0 + y1) / 2.0 - 0.5])

    def eyes(self) -> tuple[np.ndarray, np.ndarray]:
        """Centres ``(x, y)`` of the eye on the image's left and of the eye on its right."""
        points = self.require_landmarks()
        return points[LEFT_EYE].mean(axis=0), points[RIGHT_EYE].mean(axis=0)

    def eye_distance(self) -> float:
        left, right = self.eyes()
        return float(np.hypot(*(right - left)))

    def require_landmarks(self) -> np.ndarray:
        if self.landmarks is None:
            raise InputError("this face has a box but no landmarks; get them with "
                             "DlibDetector().face_in_box(image, box) or build it with Face.from_landmarks")
        return self.landmarks

    def require_alignable(self) -> None:
        """Raise ``FaceTooSmallError`` if the eyes are closer than ``MIN_EYE_DISTANCE`` pixels."""
        distance = self.eye_distance()
        if distance < MIN_EYE_DISTANCE:
            raise FaceTooSmallError(
                f"the face is too small: its eyes are {distance:.1f} px apart, the minimum is "
                f"{MIN_EYE_DISTANCE:g} px; use a larger image of the face")

    def resized(self, from_size: tuple[int, int], to_size: tuple[int, int]) -> Face:
        """The same face in the image resized from ``from_size`` to ``to_size`` (both ``(H, W)``;
        half-pixel convention: pixel edges scale)."""
        if tuple(from_size) == tuple(to_size):
            return self
        sx, sy = to_size[1] / from_size[1], to_size[0] / from_size[0]
        return self.mapped(lambda p: (np.asarray(p) + 0.5) * [sx, sy] - 0.5)

    def mapped(self, to_new: Callable[[np.ndarray], np.ndarray]) -> Face:
        """The same face in other coordinates; ``to_new`` maps an ``(N, 2)`` array of points.

        The box becomes the bounding box of the mapped corners, the landmarks are mapped directly.
        """
        x0, y0, x1, y1 = self.box
        # the box corners are pixel edges; map the outermost pixel centres and add the half pixel back
        corners = to_new(np.array([[x0 + 0.5, y0 + 0.5], [x1 - 0.5, y0 + 0.5],
                                   [x0 + 0.5, y1 - 0.5], [x1 - 0.5, y1 - 0.5]]))
        (nx0, ny0), (nx1, ny1) = corners.min(axis=0) - 0.5, corners.max(axis=0) + 0.5
        landmarks = None if self.landmarks is None else to_new(self.landmarks)
        return Face((nx0, ny0, nx1, ny1), landmarks, self.score)


def rank_faces(items: list, rule: str, image_size: tuple[int, int] | None = None,
               face_of: Callable[[object], Face] = lambda item: item) -> list:
    """``items`` sorted best first by ``rule`` (one of :data:`RULES`; ``face_of(item)`` is each item's
    :class:`Face`): ``"largest"`` box, highest ``"score"``, or box centre nearest the ``"center"`` of an
    image of ``image_size`` ``(H, W)``."""
    if rule == "largest":
        return sorted(items, key=lambda i: -face_of(i).area)
    if rule == "score":
        return sorted(items, key=lambda i: -face_of(i).score)
    if rule != "center":
        raise InputError(f"unknown face rule {rule!r}; use one of {RULES}")
    if image_size is None:
        raise InputError("rule 'center' needs image_size=(H, W)")
    middle = np.array([(image_size[1] - 1) / 2.0, (image_size[0] - 1) / 2.0])
    return sorted(items, key=lambda i: float(np.hypot(*(face_of(i).center - middle))))


def select_face(faces: list[Face], rule: str = "largest", index: int = 0,
                image_size: tuple[int, int] | None = None) -> Face:
    """Pick one face: sort by ``rule`` and return the one at position ``index`` of the sorted list.

    rule: ``"largest"`` biggest box first (default), ``"score"`` most confident first,
        ``"center"`` box centre nearest the image centre first (needs ``image_size`` ``(H, W)``).
    index: 0 is the best face by the rule, 1 the next one, and so on.
    Raises ``NoFaceError`` for an empty list, ``ValueError`` for an unknown rule or an index past the end.
    """
    if rule not in RULES:
        raise InputError(f"unknown face rule {rule!r}; use one of {RULES}")
    if not faces:
        raise NoFaceError("no face to choose from")
    ordered = rank_faces(faces, rule, image_size)
    if not -len(ordered) <= index < len(ordered):
        raise InputError(f"face index {index} asked for, but only {len(ordered)} face(s) were found")
    return ordered[index]
