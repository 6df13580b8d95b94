"""Several faces per photo: find and choose them, crop and align each, bring the crops to one size.

:func:`scan_images` detects the faces of every photo and chooses them (:mod:`~styleganex.faces.select`);
:func:`prepare_group` then runs :func:`~styleganex.faces.prepare_face` once per chosen face and
returns one batch of crops and aligned faces with a :class:`~styleganex.faces.CropInfo` whose
records paste back into their photos (several faces of one photo into one frame).

One size for the batch: the crops of different faces differ in size (the StyleGANEX crop is clipped
at the frame's edges), but the model, latents and ComfyUI IMAGE batches need one. The canvas is the
largest crop's ``(h, w)``; every other crop's box is grown to it inside its rescaled frame (more real
pixels around the face; the face keeps its place in the crop, unless the box had to move away from
the frame's right or bottom edge), and what the rescaled frame cannot give is padded at the bottom
and right by repeating the edge pixels. ``CropInfo.canvas`` records it and paste-back ignores the
padding. With one face per photo nothing changes.

>>> from styleganex.faces import FaceSelection
>>> from styleganex.dev.testing import group_photo
>>> photo = group_photo(3)                              # [3, 352, 768]: three people
>>> scans = scan_images(photo[None], FaceSelection("all"))
>>> [c.number for c in scans[0].chosen]
[0, 1, 2]
>>> group = prepare_group(photo[None], scans)
>>> group.crops.shape[0], group.aligned.shape           # one crop per face, one size
(3, torch.Size([3, 3, 256, 256]))
>>> group.crop.frame_index, group.crop.n_frames         # all three paste into frame 0
((0, 0, 0), 1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..base.errors import FaceError, InputError, NoFaceError, check_cancel
from ..io.images import check_image
from .crop_info import BATCH_MODES, CropInfo
from .crop_record import DEFAULT_PADDING, CropRecord, apply_crop
from .detect import FaceDetector, default_detector
from .face import Face
from .prepare import IF_NO_FACE, PreparedFace, prepare_center, prepare_face
from .preview import draw_index_map
from .select import FaceScan, FaceSelection, scan_faces

__all__ = ["GROUP_IF_NO_FACE", "FoundFaces", "PreparedGroup", "crop_faces", "grow_record", "prepare_group",
           "previews", "scan_images", "scan_problems"]

GROUP_IF_NO_FACE = (*IF_NO_FACE, "skip")
"""A photo without a usable face: raise ``FaceError`` (naming each photo and why), crop its centre,
or leave it out (it pastes back unchanged)."""


@dataclass(eq=False)
class PreparedGroup:
    """The chosen faces of a batch of photos, ready for the model.

    crops: ``[N, 3, h, w]`` in 0..1, one per face, all of one size (the canvas).
    aligned: ``[N, 3, 256, 256]`` the FFHQ-aligned faces (w+).
    crop: the :class:`CropInfo` (frames attached): crop ``k`` pastes into ``crop.frame_index[k]``.
    scans: per scanned photo its :class:`~styleganex.faces.select.FaceScan` (one for
        ``first_for_all``).
    notes: per photo what happened when it had no usable face (``""`` otherwise).
    """

    crops: torch.Tensor
    aligned: torch.Tensor
    crop: CropInfo
    scans: list
    notes: list


def scan_images(images: torch.Tensor, selection: FaceSelection | None = None, *,
                detector: FaceDetector | None = None, padding=DEFAULT_PADDING, first_for_all: bool = False,
                progress: Callable | None = None, cancel: Callable | None = None) -> list[FaceScan]:
    """Detect and choose the faces of every photo of ``images`` ``[B, 3, H, W]`` (0..1).

    first_for_all: only photo 0 is scanned (its faces give the crops of every photo, video frames).
    progress, cancel: ``progress(done, total, info)`` after each photo; ``cancel()`` before each.
    Returns one :class:`~styleganex.faces.select.FaceScan` per scanned photo; nothing is raised for
    photos without a usable face (see :func:`scan_problems`).
    """
    check_image(images, "images", ndims=(4,))
    detector = detector or default_detector()
    count = 1 if first_for_all else images.shape[0]
    scans = []
    for b in range(count):
        check_cancel(cancel)
        faces = detector.detect(images[b])
        scans.append(scan_faces(faces, tuple(images.shape[-2:]), selection, padding))
        if progress is not None:
            progress(b + 1, count, {"stage": "faces"})
    return scans


def scan_problems(scans: list[FaceScan]) -> str | None:
    """One message naming every photo without a usable chosen face and why, or None."""
    bad = [(b, s.problem) for b, s in enumerate(scans) if s.problem]
    if not bad:
        return None
    if len(scans) == 1:
        return bad[0][1]
    return "; ".join(f"image {b}: {problem}" for b, problem in bad)


def _error(scans: list[FaceScan], message: str) -> FaceError:
    if all(s.problem in (None, "no face found") for s in scans):
        return NoFaceError(message)
    return FaceError(message)


def grow_record(record: CropRecord, size: tuple[int, int]) -> tuple[CropRecord, tuple[int, int]]:
    """``record`` with its box grown to ``size`` ``(h, w)`` inside the rescaled frame: the box keeps its
    top-left corner unless it would leave the rescaled frame (then it moves left/up). Returns the new
    record and ``(rows, columns)`` still missing (to pad at the bottom and right)."""
    x0, y0, x1, y1 = record.box
    rh, rw = record.resized_size
    want_h, want_w = size
    if want_h < y1 - y0 or want_w < x1 - x0:
        raise InputError(f"cannot grow a {record.crop_size} crop to the smaller {tuple(size)}")

    def span(lo, length, limit):
        hi = min(lo + length, limit)
        lo = max(hi - length, 0)
        return lo, hi

    nx0, nx1 = span(x0, want_w, rw)
    ny0, ny1 = span(y0, want_h, rh)
    grown = CropRecord(record.frame_size, record.scale, record.resized_size, (nx0, ny0, nx1, ny1))
    return grown, (want_h - (ny1 - ny0), want_w - (nx1 - nx0))


def _fitted(image: torch.Tensor, prepared: PreparedFace, canvas: tuple[int, int]):
    """The crop of ``prepared`` at the canvas size: (crop, record, face in the crop or None)."""
    record, (pad_h, pad_w) = grow_record(prepared.record, canvas)
    crop = prepared.crop if record == prepared.record else apply_crop(image, record)
    if pad_h or pad_w:
        crop = F.pad(crop[None], (0, pad_w, 0, pad_h), mode="replicate")[0]
    face = None
    if prepared.landmarks is not None:
        shift = np.array(prepared.record.box[:2], dtype=np.float64) - record.box[:2]
        face = Face.from_landmarks(np.asarray(prepared.landmarks) + shift)
    return crop, record, face


def prepare_group(images: torch.Tensor, scans: list[FaceScan], *, detector: FaceDetector | None = None,
                  padding=DEFAULT_PADDING, if_no_face: str = "error", first_for_all: bool = False,
                  progress: Callable | None = None, cancel: Callable | None = None) -> PreparedGroup:
    """Crop and align every chosen face of ``images`` ``[B, 3, H, W]`` (0..1).

    Args:
        images: the photos (``scan_images``'s input).
        scans: :func:`scan_images`'s result for them.
        detector: used again on each crop (the release re-detects the landmarks there).
        padding: the crop padding (see ``crop_record``).
        if_no_face: one of :data:`GROUP_IF_NO_FACE`.
        first_for_all: the faces of photo 0 give the crops and aligned faces of every photo.
        progress, cancel: per face.

    Returns:
        A :class:`PreparedGroup` (faces of photo 0 first, each photo's faces in the scan's order).

    Raises ``FaceError`` (``NoFaceError`` when nothing was detected) naming each photo without a
    usable face when ``if_no_face`` is ``"error"``, or when no photo has one.
    """
    check_image(images, "images", ndims=(4,))
    if if_no_face not in GROUP_IF_NO_FACE:
        raise InputError(f"if_no_face must be one of {GROUP_IF_NO_FACE}, got {if_no_face!r}")
    if len(scans) != (1 if first_for_all else images.shape[0]):
        raise InputError(f"{len(scans)} face scans for {images.shape[0]} images")
    message = scan_problems(scans)
    if message and if_no_face == "error":
        raise _error(scans, message)
    count = images.shape[0]
    notes = [""] * count
    per_image: list[list[PreparedFace]] = []
    total = sum(len(s.chosen) for s in scans) * (count if first_for_all else 1) or count
    done = 0
    for b in range(count):
        scan = scans[0 if first_for_all else b]
        if first_for_all and b > 0:
            per_image.append([PreparedFace(apply_crop(images[b], p.record), p.aligned, p.record, p.face, p.landmarks,
                                           p.landmarks_source) for p in per_image[0]])
            continue
        if scan.problem:
            notes[b] = ("centre crop: " if if_no_face == "center" else "left out: ") + scan.problem
            per_image.append([prepare_center(images[b], padding)] if if_no_face == "center" else [])
            continue
        prepared = []
        for face in scan.faces:
            check_cancel(cancel)
            prepared.append(prepare_face(images[b], face, detector=detector, padding=padding))
            done += 1
            if progress is not None:
                progress(done, total, {"stage": "faces"})
        per_image.append(prepared)
    if first_for_all:
        notes = [notes[0]] * count
    if not any(per_image):
        raise _error(scans, message or "no face")
    sizes = [p.crop.shape[-2:] for ps in per_image for p in ps]
    canvas = (max(s[0] for s in sizes), max(s[1] for s in sizes))
    crops, aligned, records, faces, index = [], [], [], [], []
    for b, prepared in enumerate(per_image):
        for p in prepared:
            crop, record, face = _fitted(images[b], p, canvas)
            crops.append(crop)
            aligned.append(p.aligned)
            records.append(record)
            faces.append(face)
            index.append(b)
    mode = BATCH_MODES[1] if first_for_all else BATCH_MODES[0]
    info = CropInfo(tuple(records), padding, mode, images, tuple(faces), tuple(index), count, canvas)
    return PreparedGroup(torch.stack(crops), torch.stack(aligned), info, list(scans), notes)


def previews(images: torch.Tensor, scans: list[FaceScan], notes: list[str] | None = None) -> torch.Tensor:
    """The index map of every photo ``[B, 3, H, W]``: its faces numbered and boxed (chosen green,
    others yellow, unusable red with the reason) and its note or problem in a banner. With one scan
    for several photos (``first_for_all``) every photo shows that scan's boxes."""
    check_image(images, "images", ndims=(4,))
    out = []
    for b in range(images.shape[0]):
        scan = scans[b] if len(scans) == images.shape[0] else scans[0]
        note = notes[b] if notes and notes[b] else None
        out.append(draw_index_map(images[b], scan, note))
    return torch.stack(out)


@dataclass(eq=False)
class FoundFaces:
    """What :func:`crop_faces` found.

    group: the prepared faces, or None when ``problem`` stopped it (``if_no_face="error"``).
    preview: ``[B, 3, H, W]`` the photos with every face numbered and marked (:func:`previews`).
    problem: the photos without a usable chosen face and why (:func:`scan_problems`), or None.
    """

    group: PreparedGroup | None
    preview: torch.Tensor
    problem: str | None


def crop_faces(images: torch.Tensor, selection: FaceSelection | None = None, *,
               detector: FaceDetector | None = None, padding=DEFAULT_PADDING, if_no_face: str = "error",
               first_for_all: bool = False, progress: Callable | None = None,
               cancel: Callable | None = None) -> FoundFaces:
    """The faces step of every front door: :func:`scan_images`, then, unless a photo has no usable face
    and ``if_no_face`` is ``"error"`` (or ``"skip"`` would leave out every photo), :func:`prepare_group`;
    with the index-map preview either way, so the caller can show it with the problem instead of failing
    deep in a batch.

    Args: as :func:`scan_images` and :func:`prepare_group`.
    """
    detector = detector or default_detector()
    scans = scan_images(images, selection, detector=detector, padding=padding, first_for_all=first_for_all,
                        progress=progress, cancel=cancel)
    problem = scan_problems(scans)
    if problem and if_no_face == "error":
        return FoundFaces(None, previews(images, scans), problem)
    if problem and if_no_face == "skip" and all(s.problem for s in scans):  # nothing left to crop
        return FoundFaces(None, previews(images, scans), f"{problem} (every image left out: none has a usable face)")
    group = prepare_group(images, scans, detector=detector, padding=padding, if_no_face=if_no_face,
                          first_for_all=first_for_all, progress=progress, cancel=cancel)
    return FoundFaces(group, previews(images, scans, group.notes), problem)
