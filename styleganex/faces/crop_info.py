"""Where the crops of a batch came from: the one crop schema of the library, the CLI and the nodes.

A :class:`CropInfo` holds one :class:`~styleganex.faces.CropRecord` per crop of a batch, the padding
and the batch mode they were cut with, the faces' landmarks in crop coordinates (for the face mask
of paste-back and for super-resolution) and, at run time only, the original frames. Latents carry it
(``Latent.crop``) and latent files store it (the file layouts, old ones included, are read and written
by :mod:`styleganex.pipelines.latent_files`), so a latent saved by any front end pastes back in any other.

Several faces of one photo: crop ``k`` pastes into frame ``frame_index[k]`` of ``n_frames`` (frames
without a crop are returned unchanged), and all crops of a frame are composited into it
(:meth:`CropInfo.composite`). An IMAGE batch needs one size, so crops of different sizes are brought to
one ``canvas`` ``(h, w)``: each crop's box is first grown inside its rescaled frame (real pixels, the
face keeps its place in the crop), and what the rescaled frame cannot give is padded at the bottom and
right (edge pixels repeated); the crop then sits at the top-left of its canvas
(:mod:`styleganex.faces.group`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from ..base.errors import InputError
from ..base.schema import as_int, as_list
from ..io.images import check_image
from .crop_record import DEFAULT_PADDING, CropRecord, apply_crop
from .face import Face
from .paste import PasteOptions, check_labels, paste_face
from .prepare import PreparedFace

__all__ = ["BATCH_MODES", "Composite", "CropInfo", "read_padding"]

BATCH_MODES = ("each image", "first image for all")
"""How the crops of a batch were cut: faces per image, or the first image's crops for all (video)."""


def read_padding(value, where: str) -> tuple[int, int, int, int]:
    """``(left, right, top, bottom)`` from four numbers or one for all sides, each 0..65536 (``InputError``
    naming ``where`` otherwise)."""
    if isinstance(value, (list, tuple)):
        values = as_list(value, "padding", where, 4)
        return tuple(as_int(v, f"padding[{i}]", where, 0, 65_536) for i, v in enumerate(values))
    p = as_int(value, "padding", where, 0, 65_536)
    return (p, p, p, p)


@dataclass(frozen=True, eq=False)
class Composite:
    """What :meth:`CropInfo.composite` returns: the frames ``[F, 3, H, W]`` with every crop pasted,
    the pasted region ``masks`` ``[F, 1, H, W]`` (0 = untouched, 1 = all generated), and per crop
    the colour transform used (or None)."""

    frames: torch.Tensor
    masks: torch.Tensor
    colours: tuple


@dataclass(eq=False)
class CropInfo:
    """The crops of a batch.

    records: one ``CropRecord`` per crop.
    padding: ``(left, right, top, bottom)`` rescaled pixels kept around the eyes.
    mode: one of :data:`BATCH_MODES`.
    frames: the original frames ``[n_frames, 3, H, W]`` in 0..1, for paste-back (run time only, never saved).
    faces: per crop the face in *crop* coordinates (the landmarks the alignment used), or None.
    frame_index: per crop the frame it pastes into (default: crop ``k`` into frame ``k``).
    n_frames: how many frames (default: one more than the largest ``frame_index``); frames without a
        crop paste back unchanged.
    canvas: ``(h, w)`` every crop was padded to at the bottom/right (None: each crop is its own size).
    """

    records: tuple
    padding: tuple = DEFAULT_PADDING
    mode: str = "each image"
    frames: torch.Tensor | None = field(default=None, repr=False)
    faces: tuple | None = field(default=None, repr=False)
    frame_index: tuple | None = None
    n_frames: int | None = None
    canvas: tuple | None = None

    def __post_init__(self):
        self.records = tuple(self.records)
        if not self.records or not all(isinstance(r, CropRecord) for r in self.records):
            raise InputError("a CropInfo needs at least one CropRecord")
        self.padding = read_padding(self.padding, "crop info")
        if self.mode not in BATCH_MODES:
            raise InputError(f"crop info mode must be one of {BATCH_MODES}, got {self.mode!r}")
        if self.faces is not None:
            self.faces = tuple(self.faces)
            if len(self.faces) != self.batch:
                raise InputError(f"crop info has {self.batch} records but {len(self.faces)} faces")
        self._check_frame_index()
        if self.canvas is not None:
            self.canvas = (int(self.canvas[0]), int(self.canvas[1]))
            for k, r in enumerate(self.records):
                if r.crop_size[0] > self.canvas[0] or r.crop_size[1] > self.canvas[1]:
                    raise InputError(f"crop {k} is {r.crop_size}, larger than the canvas {self.canvas}")
            if self.canvas == self.records[0].crop_size and all(r.crop_size == self.canvas for r in self.records):
                self.canvas = None
        if self.frames is not None:
            self.frames = self._checked_frames(self.frames)

    def _check_frame_index(self) -> None:
        index = tuple(range(self.batch)) if self.frame_index is None else tuple(int(i) for i in self.frame_index)
        if len(index) != self.batch:
            raise InputError(f"crop info has {self.batch} records but {len(index)} frame indices")
        count = (max(index) + 1) if self.n_frames is None else int(self.n_frames)
        if any(i < 0 or i >= count for i in index):
            raise InputError(f"crop info frame indices must lie in 0..{count - 1}, got {list(index)}")
        for k, r in enumerate(self.records):
            first = self.records[index.index(index[k])]
            if tuple(r.frame_size) != tuple(first.frame_size):
                raise InputError(f"crops {index.index(index[k])} and {k} paste into frame {index[k]} but were cut "
                                 f"from frames of different sizes ({first.frame_size} and {r.frame_size})")
        self.frame_index, self.n_frames = index, count

    @property
    def batch(self) -> int:
        """The number of crops."""
        return len(self.records)

    @property
    def grouped(self) -> bool:
        """Whether the crops do not map one to one onto the frames (several faces per frame, or
        frames without a face)."""
        return self.frame_index != tuple(range(self.batch)) or self.n_frames != self.batch

    def crops_of(self, frame: int) -> list[int]:
        """The crops that paste into ``frame``, in order."""
        return [k for k, i in enumerate(self.frame_index) if i == frame]

    def frame_size(self, frame: int) -> tuple[int, int] | None:
        """``(H, W)`` of ``frame`` as the records say (None for a frame without crops)."""
        crops = self.crops_of(frame)
        return tuple(self.records[crops[0]].frame_size) if crops else None

    def __eq__(self, other) -> bool:
        """Equal when the saved geometry (records, padding, mode, frame indices, canvas) is; frames and
        faces are not compared."""
        return isinstance(other, CropInfo) and self._geometry() == other._geometry()

    def _geometry(self) -> tuple:
        return ([r.to_dict() for r in self.records], self.padding, self.mode, self.frame_index, self.n_frames,
                self.canvas)

    __hash__ = None

    # ---- building ------------------------------------------------------------------------------
    @classmethod
    def from_prepared(cls, prepared: list[PreparedFace], padding=DEFAULT_PADDING, mode: str = "each image",
                      frames: torch.Tensor | None = None) -> CropInfo:
        """The crop info of faces prepared by :func:`~styleganex.faces.prepare_face` (one per frame)."""
        faces = [None if p.landmarks is None else Face.from_landmarks(p.landmarks) for p in prepared]
        return cls(tuple(p.record for p in prepared), padding, mode, frames, tuple(faces))

    def with_frames(self, frames: torch.Tensor) -> CropInfo:
        """The same crops with the original frames ``[n_frames or 1, 3, H, W]`` attached (checked against
        the records' frame sizes; one frame is used for every record)."""
        return replace(self, frames=frames)

    def _checked_frames(self, frames: torch.Tensor) -> torch.Tensor:
        check_image(frames, "frames", ndims=(4,))
        if frames.shape[0] == 1 and self.n_frames > 1:
            if self.mode != BATCH_MODES[1]:  # one frame stands for all only where the crops were cut that way
                raise InputError(f"the crop info has records for {self.n_frames} images, each cut from its own "
                                 f"image ({self.mode!r}), but 1 frame was given: give the {self.n_frames} "
                                 "original images")
            frames = frames.expand(self.n_frames, -1, -1, -1)
        if frames.shape[0] != self.n_frames:
            raise InputError(f"the crop info has records for {self.n_frames} images but {frames.shape[0]} frames "
                             "were given")
        for k, r in enumerate(self.records):
            if tuple(frames.shape[-2:]) != tuple(r.frame_size):
                raise InputError(f"image {self.frame_index[k]} was cropped from a {r.frame_size[1]}x"
                                 f"{r.frame_size[0]} photo but the frame given is {frames.shape[-1]}x"
                                 f"{frames.shape[-2]}: give the original photo")
        return frames

    # ---- batches -------------------------------------------------------------------------------
    def select(self, index: int) -> CropInfo:
        """The crop info of crop ``index`` alone (with its frame)."""
        if not -self.batch <= index < self.batch:
            raise InputError(f"image {index} asked for, but the crop info holds {self.batch}")
        index %= self.batch
        frame = self.frame_index[index]
        return CropInfo(self.records[index:index + 1], self.padding, self.mode,
                        None if self.frames is None else self.frames[frame:frame + 1],
                        None if self.faces is None else self.faces[index:index + 1], canvas=self.canvas)

    @classmethod
    def cat(cls, parts: list[CropInfo]) -> CropInfo:
        """One crop info for the crops of ``parts`` in order, their frames one after the other
        (padding and mode of the first; the canvases must agree)."""
        if not parts:
            raise InputError("nothing to concatenate")
        if len({p.canvas for p in parts}) > 1:
            raise InputError(f"cannot join crops padded to different canvases {[p.canvas for p in parts]}")
        frames = None
        if all(p.frames is not None for p in parts):
            sizes = {tuple(p.frames.shape[-2:]) for p in parts}
            frames = torch.cat([p.frames for p in parts]) if len(sizes) == 1 else None
        faces = None
        if all(p.faces is not None for p in parts):
            faces = tuple(f for p in parts for f in p.faces)
        index, offset = [], 0
        for p in parts:
            index.extend(i + offset for i in p.frame_index)
            offset += p.n_frames
        return cls(tuple(r for p in parts for r in p.records), parts[0].padding, parts[0].mode, frames, faces,
                   tuple(index), offset, parts[0].canvas)

    # ---- using ---------------------------------------------------------------------------------
    def face_in(self, index: int, size: tuple[int, int]) -> Face | None:
        """The face of crop ``index`` in its crop (or canvas) resized to ``size`` ``(h, w)`` (e.g. a
        low-resolution copy of the crop), or None when no landmarks are known."""
        if self.faces is None or self.faces[index] is None:
            return None
        return self.faces[index].resized(self.canvas or self.records[index].crop_size, size)

    def landmarks(self, index: int) -> np.ndarray | None:
        """The ``(68, 2)`` landmarks of crop ``index`` in crop pixels, or None."""
        face = None if self.faces is None else self.faces[index]
        return None if face is None else face.landmarks

    def recut(self) -> torch.Tensor:
        """The crops cut again from :attr:`frames`: ``[B, 3, h, w]`` (padded to the canvas as the
        originals were), e.g. to parse the original faces for the paste-back mask."""
        if self.frames is None:
            raise InputError("cutting the crops again needs the original frames (CropInfo.with_frames)")
        out = []
        for k, record in enumerate(self.records):
            crop = apply_crop(self.frames[self.frame_index[k]], record)
            if self.canvas is not None and tuple(crop.shape[-2:]) != self.canvas:
                crop = F.pad(crop[None], (0, self.canvas[1] - crop.shape[-1], 0, self.canvas[0] - crop.shape[-2]),
                             mode="replicate")[0]
            out.append(crop)
        return torch.stack(out)

    def composite(self, images01: torch.Tensor, options: PasteOptions | None = None, *,
                  labels: list | None = None, masks: torch.Tensor | None = None,
                  colours: list | None = None) -> Composite:
        """Paste every crop's image into its frame (several faces of one frame one after the other).

        Args:
            images01: ``[B, 3, h, w]`` (0..1, any size showing the crops or the canvas, e.g. the model's
                4x outputs), one per record.
            options: the mask and colour options (:class:`~styleganex.faces.paste.PasteOptions`).
            labels: per crop face-parser labels (``[h, w]`` or ``[K, h, w]``) or None, for the face mask.
            masks: ``[B, (1,) h, w]`` extra weights in 0..1 at the images' size.
            colours: per crop a colour transform to use instead of measuring one, or None.

        Returns:
            :class:`Composite` with ``n_frames`` frames. Needs :attr:`frames`.
        """
        if self.frames is None:
            raise InputError("paste-back needs the original frames: attach them with CropInfo.with_frames(frames)")
        check_image(images01, "images", ndims=(4,))
        if images01.shape[0] != self.batch:
            raise InputError(f"{images01.shape[0]} images to paste back, but the crop info holds {self.batch}")
        for name, per_crop in (("labels", labels), ("colours", colours)):
            if per_crop is not None and len(per_crop) != self.batch:
                raise InputError(f"{len(per_crop)} {name} for {self.batch} crops")
        if labels is not None:
            labels = [None if lab is None else check_labels(lab, f"labels[{k}]") for k, lab in enumerate(labels)]
        frames, masks_out, used = [], [], [None] * self.batch
        for f in range(self.n_frames):
            original = self.frames[f]
            result, covered = original, torch.zeros_like(original[:1])
            for k in self.crops_of(f):
                pasted = paste_face(original, images01[k].to(original.dtype), self.records[k], options,
                                    landmarks=self.landmarks(k), labels=None if labels is None else labels[k],
                                    mask=None if masks is None else masks[k],
                                    colour=None if colours is None else colours[k], onto=result, canvas=self.canvas)
                result, used[k] = pasted.frame, pasted.colour
                covered = torch.maximum(1.0 - (1.0 - covered) * (1.0 - pasted.mask),
                                        torch.maximum(covered, pasted.mask))
            frames.append(result)
            masks_out.append(covered)
        return Composite(torch.stack(frames), torch.stack(masks_out), tuple(used))

    def paste(self, images01: torch.Tensor, feather: float = 0.1, masks: torch.Tensor | None = None) -> torch.Tensor:
        """Paste ``images01`` ``[B, 3, h, w]`` (0..1, any size showing the crops, e.g. the model's 4x
        outputs) back into the frames with the feathered rectangle; returns ``[n_frames, 3, H, W]``.
        Needs :attr:`frames`. :meth:`composite` has the face mask, colour matching and the masks."""
        return self.composite(images01, PasteOptions("crop", feather), masks=masks).frames
