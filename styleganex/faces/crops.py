"""Where the crops of a batch came from: the one crop schema of the library, the CLI and the nodes.

A :class:`CropInfo` holds one :class:`~styleganex.faces.CropRecord` per image of a batch, the padding
and the batch mode they were cut with, and, at run time only, the original frames (for paste-back)
and the faces in crop coordinates (for super-resolution). Latents carry it (``Latent.crop``) and latent
files store :meth:`CropInfo.to_dict`, so a latent saved by any front end pastes back in any other::

    {"version": 2, "records": [<CropRecord.to_dict()>, ...], "padding": [l, r, t, b], "mode": "each image"}

:meth:`CropInfo.from_dict` also reads the two older layouts: a single record (what ``invert`` wrote
before version 2) and ``{"records", "padding": <int>, "mode"}`` (what the nodes wrote).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from ..errors import InputError
from ..images import check_image
from ..schema import as_int, as_list, read_str
from .crop import DEFAULT_PADDING, CropRecord
from .face import Face
from .paste import paste_back
from .prepare import PreparedFace

__all__ = ["BATCH_MODES", "CropInfo"]

BATCH_MODES = ("each image", "first image for all")
"""How the crops of a batch were cut: a face per image, or the first image's crop for all (video)."""

VERSION = 2
MAX_BATCH = 100_000


def _padding(value, where: str) -> tuple[int, int, int, int]:
    if isinstance(value, (list, tuple)):
        values = as_list(value, "padding", where, 4)
        return tuple(as_int(v, f"padding[{i}]", where, 0, 65_536) for i, v in enumerate(values))
    p = as_int(value, "padding", where, 0, 65_536)
    return (p, p, p, p)


@dataclass(eq=False)
class CropInfo:
    """The crops of a batch.

    records: one ``CropRecord`` per image.
    padding: ``(left, right, top, bottom)`` rescaled pixels kept around the eyes.
    mode: one of :data:`BATCH_MODES`.
    frames: the original frames ``[B, 3, H, W]`` in 0..1, for paste-back (run time only, never saved).
    faces: per image the face in *crop* coordinates (the landmarks the alignment used), or None
        (run time only, never saved).
    """

    records: tuple
    padding: tuple = DEFAULT_PADDING
    mode: str = "each image"
    frames: torch.Tensor | None = field(default=None, repr=False)
    faces: tuple | None = field(default=None, repr=False)

    def __post_init__(self):
        self.records = tuple(self.records)
        if not self.records or not all(isinstance(r, CropRecord) for r in self.records):
            raise InputError("a CropInfo needs at least one CropRecord")
        self.padding = _padding(self.padding, "crop info")
        if self.mode not in BATCH_MODES:
            raise InputError(f"crop info mode must be one of {BATCH_MODES}, got {self.mode!r}")
        if self.faces is not None:
            self.faces = tuple(self.faces)
            if len(self.faces) != self.batch:
                raise InputError(f"crop info has {self.batch} records but {len(self.faces)} faces")
        if self.frames is not None:
            self.frames = self._checked_frames(self.frames)

    @property
    def batch(self) -> int:
        return len(self.records)

    def __eq__(self, other) -> bool:
        """Equal when the saved parts (records, padding, mode) are; frames and faces are not compared."""
        return isinstance(other, CropInfo) and self.to_dict() == other.to_dict()

    __hash__ = None

    # ---- building ------------------------------------------------------------------------------
    @classmethod
    def from_prepared(cls, prepared: list[PreparedFace], padding=DEFAULT_PADDING, mode: str = "each image",
                      frames: torch.Tensor | None = None) -> CropInfo:
        """The crop info of faces prepared by :func:`~styleganex.faces.prepare_face`."""
        faces = [None if p.landmarks is None else Face.from_landmarks(p.landmarks) for p in prepared]
        return cls(tuple(p.record for p in prepared), padding, mode, frames, tuple(faces))

    def with_frames(self, frames: torch.Tensor) -> CropInfo:
        """The same crops with the original frames ``[B or 1, 3, H, W]`` attached (checked against the
        records' frame sizes; one frame is used for every record)."""
        return replace(self, frames=frames)

    def _checked_frames(self, frames: torch.Tensor) -> torch.Tensor:
        check_image(frames, "frames", ndims=(4,))
        if frames.shape[0] == 1 and self.batch > 1:
            frames = frames.expand(self.batch, -1, -1, -1)
        if frames.shape[0] != self.batch:
            raise InputError(f"the crop info has records for {self.batch} images but {frames.shape[0]} frames "
                             "were given")
        for k, r in enumerate(self.records):
            if tuple(frames.shape[-2:]) != tuple(r.frame_size):
                raise InputError(f"image {k} was cropped from a {r.frame_size[1]}x{r.frame_size[0]} photo but "
                                 f"the frame given is {frames.shape[-1]}x{frames.shape[-2]}: give the original photo")
        return frames

    # ---- batches -------------------------------------------------------------------------------
    def select(self, index: int) -> CropInfo:
        """The crop info of image ``index`` alone."""
        if not -self.batch <= index < self.batch:
            raise InputError(f"image {index} asked for, but the crop info holds {self.batch}")
        pick = slice(index, index + 1 if index != -1 else None)
        return CropInfo(self.records[pick], self.padding, self.mode,
                        None if self.frames is None else self.frames[pick],
                        None if self.faces is None else self.faces[pick])

    @classmethod
    def cat(cls, parts: list[CropInfo]) -> CropInfo:
        """One crop info for the images of ``parts`` in order (padding and mode of the first)."""
        if not parts:
            raise InputError("nothing to concatenate")
        frames = None
        if all(p.frames is not None for p in parts):
            sizes = {tuple(p.frames.shape[-2:]) for p in parts}
            frames = torch.cat([p.frames for p in parts]) if len(sizes) == 1 else None
        faces = None
        if all(p.faces is not None for p in parts):
            faces = tuple(f for p in parts for f in p.faces)
        return cls(tuple(r for p in parts for r in p.records), parts[0].padding, parts[0].mode, frames, faces)

    # ---- using ---------------------------------------------------------------------------------
    def face_in(self, index: int, size: tuple[int, int]) -> Face | None:
        """The face of image ``index`` in its crop resized to ``size`` ``(h, w)`` (e.g. a low-resolution
        copy of the crop), or None when no landmarks are known."""
        if self.faces is None or self.faces[index] is None:
            return None
        return self.faces[index].resized(self.records[index].crop_size, size)

    def paste(self, images01: torch.Tensor, feather: float = 0.1, masks: torch.Tensor | None = None) -> torch.Tensor:
        """Paste ``images01`` ``[B, 3, h, w]`` (0..1, any size showing the crops, e.g. the model's 4x
        outputs) back into the frames; returns ``[B, 3, H, W]``. Needs :attr:`frames`."""
        if self.frames is None:
            raise InputError("paste-back needs the original frames: attach them with CropInfo.with_frames(frames)")
        check_image(images01, "images", ndims=(4,))
        if images01.shape[0] != self.batch:
            raise InputError(f"{images01.shape[0]} images to paste back, but the crop info holds {self.batch}")
        return torch.stack([
            paste_back(self.frames[b], images01[b].to(self.frames.dtype), self.records[b], feather,
                       None if masks is None else masks[b])
            for b in range(self.batch)])

    # ---- files ---------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The JSON-serialisable part (records, padding, mode)."""
        return {"version": VERSION, "records": [r.to_dict() for r in self.records], "padding": list(self.padding),
                "mode": self.mode}

    @classmethod
    def from_dict(cls, data, where: str = "crop info") -> CropInfo:
        """Read :meth:`to_dict`'s layout or an older one (see the module docstring), every field checked.
        Raises ``InputError`` naming ``where`` and the field."""
        if not isinstance(data, dict):
            raise InputError(f"{where} must be a JSON object, found {type(data).__name__}")
        if "box" in data and "records" not in data:  # one record, as `invert` wrote before version 2
            return cls((CropRecord.from_dict(data, where),))
        version = data.get("version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= VERSION:
            raise InputError(f"{where}: version {version!r} is not one this release reads (1..{VERSION}); "
                             "it was written by a newer release")
        records = as_list(data.get("records"), "records", where, max_length=MAX_BATCH)
        if not records:
            raise InputError(f"{where}: field 'records' is empty")
        parsed = tuple(CropRecord.from_dict(r, f"{where}, record {i}") for i, r in enumerate(records))
        padding = _padding(data.get("padding", DEFAULT_PADDING), where)
        mode = read_str(data, "mode", where, BATCH_MODES) if "mode" in data else "each image"
        return cls(parsed, padding, mode)

