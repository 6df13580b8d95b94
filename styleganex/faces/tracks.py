"""Faces through a video: one track per person, smoothed, carried over frames without a detection,
and a state that continues in the next chunk of a long video.

:class:`FaceTracker` is called on the frames in order. On the first frame with faces it numbers them
as the index map (left to right) and starts a track for every face the
:class:`~styleganex.faces.select.FaceSelection` chooses (``"all"`` also starts tracks for faces that
appear later). Each track keeps:

- its crop: fixed from its first frame (``follow=False``, the release's video crop) or moved with
  the face (``follow=True``, a crop of the first size placed by the smoothed eye midpoint);
- its aligned face x̃ (from its first frame, as the release), so w+ never changes;
- its landmarks for the face mask: the face's shape in its first frame, moved by a similarity
  transform into each frame. The transform is fitted to the stable landmarks (brows, eyes, nose,
  mouth corners; dlib's integer landmarks jump by 1 to 15 px between identical frames, the jaw most)
  and then refined by aligning the face's pixels with its first frame (Gauss-Newton on the grey
  levels inside the face, :mod:`~styleganex.faces.motion`), which is accurate to a small fraction of
  a pixel and also follows the face in frames where the detector misses it. The transform is smoothed by an
  exponential moving average (``smoothing``) that never lags the refined one by more than
  ``tolerance`` pixels;
- its colour transform (smoothed by paste-back, :meth:`Track.smooth_colour`).

Detections are matched to tracks by position and size (eye midpoint within one eye distance of the
track's, eye distance within a factor 1.5). A track without a detection in a frame is carried over
(same crop, mask and colour) for up to ``max_missing`` frames, then rests until its face comes back.

Everything a later chunk needs is in :class:`VideoState` (``tracker.state``); give it to the next
tracker (a copy: ComfyUI may run a chunk again) and the video continues without a jump.

>>> from styleganex.dev.testing import synthetic_landmarks
>>> class Fixed:                                        # a detector that always finds two faces
...     def detect(self, image):
...         return [Face.from_landmarks(synthetic_landmarks(x, 150, 40)) for x in (150, 450)]
>>> tracker = FaceTracker(FaceSelection("all"), Fixed(), prepare=False)
>>> [(t.id, t.carried) for t in tracker(torch.zeros(3, 300, 600))]
[(0, False), (1, False)]
>>> tracker.state.frames_seen, len(tracker.state.tracks)
(1, 2)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch

from ..base.errors import InputError
from .crop_record import DEFAULT_PADDING, CropRecord, crop_record
from .detect import FaceDetector, default_detector
from .face import Face
from .motion import apply_similarity, face_samples, fit_similarity, refine_motion, similarity_through
from .paste import ColourTransform
from .prepare import prepare_face
from .select import FaceSelection, face_problem, scan_faces
from .video_crop import fixed_size_record

__all__ = ["FaceTracker", "Track", "TrackedFace", "VideoState"]

STABLE = np.r_[17:48, 48, 54]
"""Landmarks the motion is fitted to: brows, nose, eyes and the mouth corners (not the jaw)."""
MIN_MATCH = (0.6, 0.85)
"""Normalised cross-correlation of the face's grey levels with its first frame above which the
refined motion is used: with a detection, without one."""
REFINE_GATE = 0.25
"""The refined motion may move the face by at most this many eye distances from the landmark fit."""
MATCH_DISTANCE = 1.0
"""A detection belongs to a track when its eye midpoint lies within this many eye distances."""
MATCH_SIZE = 1.5
"""... and its eye distance is within this factor of the track's."""


@dataclass(eq=False)
class Track:
    """One person through the video (frame pixels throughout).

    id: its number (the first frame's index-map number; later faces get the next free numbers).
    record: the crop of the current frame.
    shape: the ``(68, 2)`` reference landmarks (the face's shape, as in the frame it started).
    anchors: two points that fix the smoothed motion of ``shape`` into the current frame.
    points, values: grey levels of the face in its first frame (:func:`~styleganex.faces.motion.face_samples`).
    aligned: the aligned face x̃ ``[3, 256, 256]`` of its first frame (None when not prepared).
    colour: the smoothed colour transform of paste-back (None before the first paste).
    missing: frames since it was last detected.
    eye_distance, offset, crop_size: for following the face with the crop.
    """

    id: int
    record: CropRecord
    shape: np.ndarray
    anchors: np.ndarray
    aligned: torch.Tensor | None
    colour: ColourTransform | None = None
    missing: int = 0
    scale: float = 1.0
    offset: np.ndarray = field(default_factory=lambda: np.zeros(2))
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def motion(self) -> np.ndarray:
        """The smoothed similarity from :attr:`shape` into the current frame (2x3)."""
        return similarity_through(self._anchor_points(), self.anchors)

    def _anchor_points(self) -> np.ndarray:
        """Two points across the reference shape, one face width apart, at its centre height."""
        centre = self.shape.mean(axis=0)
        half = (self.shape[:, 0].max() - self.shape[:, 0].min()) / 2.0
        return np.array([centre - [half, 0.0], centre + [half, 0.0]])

    def landmarks(self) -> np.ndarray:
        """The face's ``(68, 2)`` landmarks in the current frame, smoothed."""
        return apply_similarity(self.motion(), self.shape)

    def smooth_colour(self, measured: ColourTransform | None, smoothing: float) -> ColourTransform | None:
        """Blend ``measured`` into the running colour transform and return the result."""
        if measured is not None:
            self.colour = measured if self.colour is None else self.colour.blend(measured, smoothing)
        return self.colour


@dataclass(frozen=True, eq=False)
class TrackedFace:
    """A track in one frame: its id, the crop record, the smoothed landmarks (frame pixels), and
    whether they were carried over (no detection in this frame)."""

    id: int
    record: CropRecord
    landmarks: np.ndarray
    carried: bool

    def landmarks_in_crop(self) -> np.ndarray:
        return self.record.frame_to_crop(self.landmarks)


@dataclass(eq=False)
class VideoState:
    """What a video needs to continue in its next chunk: the tracks, the frame size and how many
    frames were seen. Give a :meth:`copy` to the next chunk's tracker (or ``process_video``)."""

    tracks: list = field(default_factory=list)
    frame_size: tuple | None = None
    frames_seen: int = 0
    started: bool = False
    next_id: int = 0
    notes: list = field(default_factory=list)

    def copy(self) -> VideoState:
        return copy.deepcopy(self)

    def track(self, track_id: int) -> Track:
        return next(t for t in self.tracks if t.id == track_id)

    def problem(self) -> str | None:
        """Why no face was tracked in the frames seen so far (their frames come back unchanged), or None."""
        if self.tracks:
            return None
        notes = "; ".join(self.notes[:3]) or "no face was detected"
        return f"no usable face in any of the {self.frames_seen} frames ({notes})"


class FaceTracker:
    """Call it on the frames in order: ``tracker(frame)`` (``[3, H, W]`` in 0..1) returns the tracks
    active in that frame (:class:`TrackedFace`, by id). See the module docstring.

    selection: which faces (the first frame's index map; ``"all"`` also takes faces that appear later).
    detector: the face detector (default: dlib).
    padding: the crop padding.
    follow: move the crop with the face (else each track's crop is fixed from its first frame).
    smoothing: 0 follows every measurement; 0.8 (default) averages over about 5 frames.
    tolerance: the smoothed mask never lags the fitted motion by more than this (pixels).
    max_missing: frames a track is carried over without a detection before it rests.
    prepare: make each track's aligned face x̃ (``prepare_face``; off for geometry-only use).
    state: a :class:`VideoState` to continue (used and updated in place).
    """

    def __init__(self, selection: FaceSelection | None = None, detector: FaceDetector | None = None,
                 padding=DEFAULT_PADDING, follow: bool = False, smoothing: float = 0.8, tolerance: float = 0.5,
                 max_missing: int = 30, prepare: bool = True, state: VideoState | None = None):
        if not 0.0 <= smoothing < 1.0:
            raise InputError(f"smoothing must be in [0, 1), got {smoothing}")
        if not tolerance >= 0.0:
            raise InputError(f"tolerance must be >= 0 pixels, got {tolerance}")
        if isinstance(max_missing, bool) or not isinstance(max_missing, int) or max_missing < 0:
            raise InputError(f"max_missing must be an int >= 0, got {max_missing!r}")
        self.selection = selection or FaceSelection()
        self.detector = detector or default_detector()
        self.padding = padding
        self.follow = follow
        self.smoothing = float(smoothing)
        self.tolerance = float(tolerance)
        self.max_missing = max_missing
        self.prepare = prepare
        self.state = state if state is not None else VideoState()

    def __call__(self, frame: torch.Tensor) -> list[TrackedFace]:
        state = self.state
        size = tuple(frame.shape[-2:])
        if state.frame_size is None:
            state.frame_size = size
        elif size != tuple(state.frame_size):
            raise InputError(f"frame is {size[1]}x{size[0]}, the video started with "
                             f"{state.frame_size[1]}x{state.frame_size[0]}")
        faces = [f for f in self.detector.detect(frame) if f.landmarks is not None]
        if not state.started:
            self._start(frame, faces)
        else:
            self._update(frame, faces)
        state.frames_seen += 1
        return [TrackedFace(t.id, t.record, t.landmarks(), t.missing > 0)
                for t in sorted(state.tracks, key=lambda t: t.id) if t.missing <= self.max_missing]

    # ---- starting tracks -------------------------------------------------------------------------
    def _start(self, frame: torch.Tensor, faces: list[Face]) -> None:
        scan = scan_faces(faces, tuple(frame.shape[-2:]), self.selection, self.padding)
        if scan.problem:
            if faces:
                self.state.notes.append(f"frame {self.state.frames_seen}: {scan.problem}")
            return
        for candidate in scan.chosen:
            self._new_track(frame, candidate.face, candidate.number)
        self.state.started = True
        self.state.next_id = max(c.number for c in scan.candidates) + 1

    def _new_track(self, frame: torch.Tensor, face: Face, track_id: int) -> None:
        if self.prepare:
            prepared = prepare_face(frame, face, detector=self.detector, padding=self.padding)
            record, aligned = prepared.record, prepared.aligned
        else:
            record, aligned = crop_record(tuple(frame.shape[-2:]), face, self.padding), None
        shape = face.require_landmarks().copy()
        track = Track(track_id, record, shape, np.zeros((2, 2)), aligned, scale=record.scale)
        track.anchors = track._anchor_points()
        track.points, track.values = face_samples(frame, shape)
        middle = shape[36:48].mean(axis=0)
        track.offset = np.array(record.box[:2], dtype=np.float64) - middle * record.scale
        self.state.tracks.append(track)

    # ---- following them -------------------------------------------------------------------------
    def _update(self, frame: torch.Tensor, faces: list[Face]) -> None:
        pairs = []
        for t in self.state.tracks:
            now = t.landmarks()
            middle, eyes = now[36:48].mean(axis=0), _eye_distance(now)
            gate = MATCH_DISTANCE * (2.0 if t.missing > self.max_missing else 1.0)
            for j, f in enumerate(faces):
                d = _eye_distance(f.landmarks)
                ratio = max(d, 1e-6) / max(eyes, 1e-6)
                distance = float(np.hypot(*(f.landmarks[36:48].mean(axis=0) - middle))) / max(eyes, 1e-6)
                if distance <= gate and 1.0 / MATCH_SIZE <= ratio <= MATCH_SIZE:
                    pairs.append((distance + abs(np.log(ratio)), t, j))
        used_tracks, used_faces = set(), set()
        for _, t, j in sorted(pairs, key=lambda p: p[0]):
            if t.id in used_tracks or j in used_faces:
                continue
            used_tracks.add(t.id)
            used_faces.add(j)
            self._measure(t, faces[j], tuple(frame.shape[-2:]), frame)
        for t in self.state.tracks:
            if t.id not in used_tracks:
                self._measure(t, None, tuple(frame.shape[-2:]), frame)
        if self.selection.mode == "all":
            limit = self.selection.max_faces or None
            for j, f in enumerate(faces):
                if j in used_faces or (limit and len(self.state.tracks) >= limit):
                    continue
                if face_problem(f, tuple(frame.shape[-2:]), self.selection, self.padding) is None:
                    self._new_track(frame, f, self.state.next_id)
                    self.state.next_id += 1

    def _measure(self, t: Track, face: Face | None, frame_size, frame: torch.Tensor) -> None:
        """Update ``t`` with its detection in this frame (None: not detected)."""
        start = t.motion() if face is None else fit_similarity(t.shape[STABLE], face.landmarks[STABLE])
        refined, match = refine_motion(frame, t.points, t.values, start)
        anchors = t._anchor_points()
        moved = float(np.abs(apply_similarity(refined, anchors) - apply_similarity(start, anchors)).max())
        good = match >= MIN_MATCH[face is None] and moved <= REFINE_GATE * _eye_distance(t.shape) * abs(start[0, 0])
        if face is None and not good:
            t.missing += 1
            return
        fitted = apply_similarity(refined if good else start, anchors)
        a = self.smoothing
        smooth = a * t.anchors + (1.0 - a) * fitted
        t.anchors = fitted + np.clip(smooth - fitted, -self.tolerance, self.tolerance)
        t.missing = 0
        if self.follow and face is not None:
            try:
                scale = crop_record(frame_size, face, self.padding).scale
            except ValueError:  # turned over in this frame: keep the last crop
                return
            t.scale = a * t.scale + (1.0 - a) * scale
            middle = t.landmarks()[36:48].mean(axis=0)
            t.record = fixed_size_record(frame_size, middle, t.scale, t.record.crop_size, t.offset)


def _eye_distance(points: np.ndarray) -> float:
    return float(np.hypot(*(points[42:48].mean(axis=0) - points[36:42].mean(axis=0))))
