"""Choosing faces in a photo: every face, chosen numbers, or a rule, and why a face cannot be used.

Every detected face gets a number in the photo's **index map**: faces are numbered left to right
(by the centre of their box; equal centres top to bottom), so ``0`` is the leftmost face whatever
the rule. :func:`styleganex.faces.preview.draw_index_map` draws those numbers on the photo, so a
user picks faces by looking at it.

A :class:`FaceSelection` says which faces to use:

- ``mode="one"``: the face at position ``index`` when the usable faces are sorted by ``order``
  (``"largest"``, ``"score"``, ``"center"``, ``"left to right"``); the release's behaviour;
- ``mode="all"``: every usable face (at most ``max_faces``, the first by ``order``);
- ``mode="indices"``: the faces with the index-map numbers in ``indices``.

A face is usable when it has landmarks, its detector score is at least ``min_score``, its box is
at least ``min_size`` pixels wide, its eyes are at least ``MIN_EYE_DISTANCE`` pixels apart, it is
turned sideways by at most :data:`MAX_YAW` and tilted by at most ``MAX_TILT`` degrees, and the
StyleGANEX crop around it is not empty. Otherwise :func:`face_problem` gives the reason in a few
words, which the preview writes next to the face.

>>> from styleganex.dev.testing import synthetic_landmarks
>>> faces = [Face.from_landmarks(synthetic_landmarks(x, 100, d)) for x, d in ((300, 40), (100, 60), (500, 8))]
>>> scan = scan_faces(faces, (400, 640), FaceSelection("all"))
>>> [(c.number, c.selected, c.problem) for c in scan.candidates]
[(0, True, None), (1, True, None), (2, False, 'too small: eyes 8 px apart (min 16)')]
>>> [c.number for c in scan.chosen]                    # the faces to process, in index-map order
[0, 1]
>>> FaceSelection.parse("0,2").indices, FaceSelection.parse("0-2,5").indices, FaceSelection.parse("largest").mode
((0, 2), (0, 1, 2, 5), 'one')

Index-map numbers are typed as whole numbers and inclusive ranges separated by commas (``0,2``,
``0-2``; :func:`parse_face_indices`, the one parser of the node and ``invert --faces``); anything else
(``0 2``, ``-1``, an empty text) is refused with a message that shows what was understood.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from ..base.errors import FaceError, InputError
from .crop_record import DEFAULT_PADDING, MAX_TILT, crop_record
from .face import LEFT_EYE, MIN_EYE_DISTANCE, RIGHT_EYE, RULES, Face, rank_faces

__all__ = ["MAX_YAW", "ORDERS", "SELECT_MODES", "FaceCandidate", "FaceScan", "FaceSelection", "face_pose",
           "face_problem", "index_map", "parse_face_indices", "scan_faces"]

SELECT_MODES = ("one", "all", "indices")
"""How faces are chosen: one face by a rule, every usable face, or the index-map numbers given."""

ORDERS = (*RULES, "left to right")
"""How usable faces are ranked for ``mode="one"`` and ``max_faces``."""

MAX_YAW = 50.0
"""Largest sideways turn (degrees, estimated from the landmarks by :func:`face_pose`) accepted.
dlib's frontal detector and 68-point model are trained on faces turned by up to about 45 degrees;
beyond that the landmarks, and with them the crop and the aligned face, are unreliable."""

MAX_INDICES = 1024
_INDEX_PART = re.compile(r"(\d{1,6})(?:\s*-\s*(\d{1,6}))?")


def parse_face_indices(text, what: str = "face indices") -> tuple[int, ...]:
    """Index-map numbers from a text: whole numbers and inclusive ranges separated by commas, e.g.
    ``"0,2"`` -> ``(0, 2)``, ``"0-2, 5"`` -> ``(0, 1, 2, 5)`` (spaces around them allowed, repeats dropped).

    Raises ``InputError`` naming ``what`` for anything else (``"0 2"``, ``"-1"``, ``"1.5"``, an empty text),
    saying which part could not be read and what was understood before it.
    """
    if not isinstance(text, str):
        raise InputError(f"{what} must be a text such as '0,2' or '0-2', got {text!r}")
    if not text.strip():
        raise InputError(f"{what} is empty: give index-map numbers such as '0,2' or a range '0-2' (faces are "
                         "numbered left to right from 0; the preview shows the numbers)")
    numbers: list[int] = []
    for part in text.split(","):
        m = _INDEX_PART.fullmatch(part.strip())
        if m is None or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
            understood = ", ".join(f"#{i}" for i in dict.fromkeys(numbers)) or "nothing"
            raise InputError(f"{what} {text.strip()[:60]!r}: cannot read {part.strip()[:30]!r} (understood before it: "
                             f"{understood}). Use whole numbers >= 0 and ranges, separated by commas, e.g. '0,2' "
                             "or '0-2'")
        low = int(m.group(1))
        high = low if m.group(2) is None else int(m.group(2))
        if len(numbers) + high - low + 1 > MAX_INDICES:
            raise InputError(f"{what} {text.strip()[:60]!r} names more than {MAX_INDICES} faces")
        numbers.extend(range(low, high + 1))
    return tuple(dict.fromkeys(numbers))


@dataclass(frozen=True)
class FaceSelection:
    """Which faces of a photo to use (see the module docstring).

    mode: one of :data:`SELECT_MODES`.
    order: one of :data:`ORDERS`, the ranking for ``"one"`` and for ``max_faces``.
    index: for ``"one"``: 0 is the best face by ``order``, 1 the next, ...
    indices: for ``"indices"``: index-map numbers (left to right from 0), processed in this order.
    max_faces: for ``"all"``: at most this many faces, the first by ``order`` (0: no limit).
    min_size: faces whose box is narrower than this (pixels) are not used ("too small").
    min_score: faces whose detector score is below this are not used ("weak detection").
    """

    mode: str = "one"
    order: str = "largest"
    index: int = 0
    indices: tuple = ()
    max_faces: int = 0
    min_size: float = 0.0
    min_score: float = float("-inf")

    def __post_init__(self):
        if self.mode not in SELECT_MODES:
            raise InputError(f"face selection mode must be one of {SELECT_MODES}, got {self.mode!r}")
        if self.order not in ORDERS:
            raise InputError(f"face order must be one of {ORDERS}, got {self.order!r}")
        for name in ("index", "max_faces"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise InputError(f"{name} must be an int >= 0, got {value!r}")
        indices = tuple(self.indices)
        if len(indices) > MAX_INDICES or any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 0
                                             for i in indices):
            raise InputError(f"face indices must be ints >= 0 (at most {MAX_INDICES}), got {self.indices!r}")
        object.__setattr__(self, "indices", tuple(dict.fromkeys(int(i) for i in indices)))
        if self.mode == "indices" and not self.indices:
            raise InputError("face selection 'indices' needs at least one index-map number, e.g. '0,2'")
        for name in ("min_size", "min_score"):
            value = float(getattr(self, name))
            if math.isnan(value) or (name == "min_size" and value < 0):
                raise InputError(f"{name} must be a number{' >= 0' if name == 'min_size' else ''}, got "
                                 f"{getattr(self, name)!r}")

    @classmethod
    def parse(cls, text: str, **options) -> FaceSelection:
        """A selection from a short text (CLI, node): ``"all"``, a rule (``"largest"``, ``"score"``,
        ``"center"``, ``"left to right"``, optionally ``":N"`` for the N-th face by it), or index-map
        numbers ``"0,2"`` / ``"0-2"`` (:func:`parse_face_indices`; anything else is an ``InputError``).
        ``options`` set the other fields (``min_size``, ``max_faces``, ...)."""
        if not isinstance(text, str):
            raise InputError(f"a face selection is a text such as 'all', 'largest' or '0,2', got {text!r}")
        words = text.strip().lower().replace("-", " ").replace("_", " ")
        if words in ("", "one"):
            return cls("one", **options)
        if words == "all":
            return cls("all", **options)
        rule, _, nth = words.partition(":")
        if rule.strip() in ORDERS:
            nth = text.partition(":")[2].strip()  # as typed ("-" was made a space above)
            if nth and not nth.isdigit():
                raise InputError(f"in the face selection {text!r}, {nth!r} is not a face position (a whole "
                                 "number >= 0: 0 is the first face by the rule)")
            index = int(nth) if nth else 0
            return cls("one", order=rule.strip(), index=index, **{k: v for k, v in options.items()
                                                                   if k not in ("order", "index")})
        if not any(ch.isdigit() for ch in text):
            raise InputError(f"face selection {text!r}: use 'all', a rule ({', '.join(ORDERS)}) or index-map "
                             "numbers such as '0,2' or '0-2'")
        return cls("indices", indices=parse_face_indices(text, "face selection"), **options)

    @classmethod
    def from_choice(cls, mode: str, indices: str = "", **options) -> FaceSelection:
        """A selection from a front end's two inputs: ``mode`` (:data:`SELECT_MODES`) and, for
        ``"indices"``, the typed index-map numbers (:func:`parse_face_indices`, named ``indices``)."""
        if mode == "indices":
            return cls("indices", indices=parse_face_indices(indices, "indices"), **options)
        return cls(mode, **options)

    def describe(self) -> str:
        if self.mode == "one":
            return f"face {self.index} by {self.order}" if self.index else f"the {self.order} face"
        if self.mode == "all":
            return "every face" if not self.max_faces else f"up to {self.max_faces} faces by {self.order}"
        return "faces " + ", ".join(f"#{i}" for i in self.indices)


@dataclass(frozen=True, eq=False)
class FaceCandidate:
    """One detected face in a photo's index map.

    number: its index-map number (left to right from 0).
    face: the face, photo coordinates.
    problem: why it cannot be used, in a few words, or None when it can.
    selected: whether the selection chose it.
    """

    number: int
    face: Face
    problem: str | None
    selected: bool


@dataclass(eq=False)
class FaceScan:
    """The faces of one photo: every candidate in index-map order, the chosen ones, and, when none
    could be chosen, why (``problem``)."""

    frame_size: tuple
    candidates: list = field(default_factory=list)
    chosen: list = field(default_factory=list)
    problem: str | None = None

    @property
    def faces(self) -> list[Face]:
        """The chosen faces, in processing order."""
        return [c.face for c in self.chosen]


def index_map(faces: list[Face]) -> list[Face]:
    """``faces`` in index-map order: left to right by box centre, equal centres top to bottom."""
    return sorted(faces, key=lambda f: (round(float(f.center[0]), 3), round(float(f.center[1]), 3)))


def face_pose(face: Face) -> tuple[float, float]:
    """``(tilt, yaw)`` in degrees from the 68 landmarks.

    tilt: the angle between the line through the eye centres and the horizontal (in-plane roll;
        180 means upside down).
    yaw: a sideways-turn estimate: along the eye line, the nose tip (point 30) divides the span
        between the face outline at the temples (points 0 and 16) into ``a`` and ``b``; a head of
        round cross-section turned by ``yaw`` gives ``sin(yaw) = (a - b) / (a + b)``. 0 is frontal,
        positive means the nose points to the image's right (a few degrees on the packaged photos).
    """
    points = face.require_landmarks()
    left, right = points[LEFT_EYE].mean(axis=0), points[RIGHT_EYE].mean(axis=0)
    axis = right - left
    tilt = math.degrees(math.atan2(abs(axis[1]), axis[0]))
    norm = float(np.hypot(*axis))
    if norm == 0:
        return tilt, 90.0
    unit = axis / norm
    a = float((points[30] - points[0]) @ unit)
    b = float((points[16] - points[30]) @ unit)
    if a + b <= 0:
        return tilt, 90.0
    return tilt, math.degrees(math.asin(max(-1.0, min(1.0, (a - b) / (a + b)))))


def face_problem(face: Face, frame_size: tuple[int, int], selection: FaceSelection | None = None,
                 padding=DEFAULT_PADDING) -> str | None:
    """Why ``face`` cannot be cropped and aligned (a few words, for the preview), or None if it can.

    Checks, in order: landmarks, ``selection.min_score``, ``selection.min_size``, the eye distance
    (``MIN_EYE_DISTANCE``), upside down, tilt (``MAX_TILT``), sideways turn (:data:`MAX_YAW`) and
    that the StyleGANEX crop around it is not empty.
    """
    selection = selection or FaceSelection()
    if face.landmarks is None:
        return "no landmarks"
    if face.score < selection.min_score:
        return f"weak detection: score {face.score:.2f} (min {selection.min_score:g})"
    width = face.box[2] - face.box[0]
    if width < selection.min_size:
        return f"too small: {width:.0f} px wide (min {selection.min_size:g})"
    distance = face.eye_distance()
    if distance < MIN_EYE_DISTANCE:
        return f"too small: eyes {distance:.0f} px apart (min {MIN_EYE_DISTANCE:g})"
    left, right = face.eyes()
    if right[0] - left[0] <= 0:
        return "upside down or turned over"
    tilt, yaw = face_pose(face)
    if tilt > MAX_TILT:
        return f"tilted {tilt:.0f} degrees (max {MAX_TILT:g})"
    if abs(yaw) > MAX_YAW:
        return f"turned away: about {abs(yaw):.0f} degrees (max {MAX_YAW:g})"
    try:
        crop_record(tuple(frame_size), face, padding)
    except FaceError:
        return "no crop fits in the frame"
    return None


def _ranked(candidates: list[FaceCandidate], order: str, frame_size) -> list[FaceCandidate]:
    if order == "left to right":
        return list(candidates)
    return rank_faces(candidates, order, frame_size, lambda c: c.face)


def scan_faces(faces: list[Face], frame_size: tuple[int, int], selection: FaceSelection | None = None,
               padding=DEFAULT_PADDING) -> FaceScan:
    """Number ``faces`` (the detections of one photo of ``frame_size`` ``(H, W)``) as the index map,
    find what is wrong with each, and choose the ones ``selection`` asks for.

    Returns a :class:`FaceScan`; when no face can be chosen its ``problem`` says why (nothing is
    raised, so a front end can show the preview with the reasons).
    """
    selection = selection or FaceSelection()
    ordered = index_map(list(faces))
    problems = [face_problem(f, frame_size, selection, padding) for f in ordered]
    usable = [FaceCandidate(i, f, None, False) for i, (f, p) in enumerate(zip(ordered, problems)) if p is None]
    chosen_numbers: list[int] = []
    problem = None
    if not ordered:
        problem = "no face found"
    elif selection.mode == "indices":
        missing = [i for i in selection.indices if i >= len(ordered)]
        bad = [i for i in selection.indices if i < len(ordered) and problems[i] is not None]
        if missing:
            problem = (f"face {', '.join(f'#{i}' for i in missing)} asked for, but the index map has "
                       f"{len(ordered)} face(s) (#0 to #{len(ordered) - 1})")
        elif bad:
            problem = "; ".join(f"face #{i} is {problems[i]}" for i in bad)
        else:
            chosen_numbers = list(selection.indices)
    elif not usable:
        problem = "no usable face: " + "; ".join(f"#{i} {p}" for i, p in enumerate(problems))
    elif selection.mode == "one":
        ranked = _ranked(usable, selection.order, frame_size)
        if selection.index >= len(ranked):
            problem = (f"face {selection.index} by {selection.order} asked for, but only {len(ranked)} usable "
                       "face(s) were found")
        else:
            chosen_numbers = [ranked[selection.index].number]
    else:
        ranked = _ranked(usable, selection.order, frame_size)
        keep = ranked[:selection.max_faces] if selection.max_faces else ranked
        chosen_numbers = sorted(c.number for c in keep)
    chosen = set(chosen_numbers)
    candidates = [FaceCandidate(i, f, p, i in chosen) for i, (f, p) in enumerate(zip(ordered, problems))]
    return FaceScan(tuple(frame_size), candidates, [candidates[i] for i in chosen_numbers], problem)
