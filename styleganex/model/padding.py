"""The encoder's padding: image sizes that are multiples of 8, and the record that undoes it.

The encoder needs both sides to be multiples of 8. ``make_size_valid`` pads or crops to get there
and returns a ``SizeRecord``; ``undo_size_valid`` removes exactly that padding again, also from a
model output that is ``scale`` times larger (4x for the 1024 models).

All functions take ``[3, H, W]`` or ``[B, 3, H, W]`` tensors.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..base.errors import InputError
from ..base.schema import MAX_SIDE, read_int, read_ints, read_str


@dataclass(frozen=True)
class SizeRecord:
    """What ``make_size_valid`` did: ``mode`` 'pad' or 'crop', the original ``(H, W)``, and the
    rows/columns added (pad) or removed (crop) on each side."""

    mode: str
    original_size: tuple[int, int]
    top: int
    bottom: int
    left: int
    right: int

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` after ``make_size_valid``."""
        sign = 1 if self.mode == "pad" else -1
        height, width = self.original_size
        return (height + sign * (self.top + self.bottom), width + sign * (self.left + self.right))

    def undo(self, image: torch.Tensor, original: torch.Tensor | None = None) -> torch.Tensor:
        """``undo_size_valid`` with the scale read off ``image`` (its width over :attr:`size`'s):
        e.g. the 4x output of a 1024 model for a padded frame."""
        width = self.size[1]
        scale = image.shape[-1] // width
        if scale < 1 or scale * width != image.shape[-1]:
            raise InputError(f"image is {tuple(image.shape[-2:])}, not a whole multiple of the size "
                             f"{self.size} this record made")
        return undo_size_valid(image, self, scale, original)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = "size record") -> SizeRecord:
        """Read :meth:`to_dict`'s layout, every field checked (``InputError`` naming ``where``)."""
        mode = read_str(data, "mode", where, ("pad", "crop"))
        height, width = read_ints(data, "original_size", where, 2, 1, MAX_SIDE)
        size = (height, width)
        top, bottom, left, right = (read_int(data, k, where, 0, MAX_SIDE) for k in ("top", "bottom", "left", "right"))
        if mode == "crop" and (top + bottom >= size[0] or left + right >= size[1]):
            raise InputError(f"{where}: cropping {top}+{bottom} rows and {left}+{right} columns leaves nothing "
                             f"of a {size[1]}x{size[0]} image")
        return cls(mode, size, top, bottom, left, right)


def make_size_valid(image: torch.Tensor, multiple: int = 8, mode: str = "pad") -> tuple[torch.Tensor, SizeRecord]:
    """Make both sides of ``image`` multiples of ``multiple``.

    mode ``"pad"``: grow to the next multiple, replicating the edge pixels, split evenly between the
        two sides (the extra row/column goes bottom/right).
    mode ``"crop"``: shrink to the previous multiple, cutting evenly from both sides; a side shorter
        than ``multiple`` raises ``ValueError``.
    Returns the new image and the ``SizeRecord`` that ``undo_size_valid`` needs.
    """
    if mode not in ("pad", "crop"):
        raise InputError(f"mode must be 'pad' or 'crop', got {mode!r}")
    height, width = image.shape[-2:]
    if mode == "pad":
        extra_h, extra_w = -height % multiple, -width % multiple
    else:
        if height < multiple or width < multiple:
            raise InputError(f"cannot crop a {width}x{height} image to multiples of {multiple}: it is too small")
        extra_h, extra_w = height % multiple, width % multiple
    top, left = extra_h // 2, extra_w // 2
    record = SizeRecord(mode, (height, width), top, extra_h - top, left, extra_w - left)
    if mode == "pad":
        batch = image if image.ndim == 4 else image[None]
        padded = F.pad(batch, (record.left, record.right, record.top, record.bottom), mode="replicate")
        return (padded if image.ndim == 4 else padded[0]), record
    return image[..., top:height - record.bottom, left:width - record.right], record


def undo_size_valid(image: torch.Tensor, record: SizeRecord, scale: int = 1,
                    original: torch.Tensor | None = None) -> torch.Tensor:
    """Reverse ``make_size_valid`` on ``image``, which may be ``scale`` times the padded/cropped size.

    pad: removes ``scale`` times the added rows/columns; exact.
    crop: puts back ``scale`` times the removed rows/columns, taken from ``original`` (an image of
        ``scale`` times the original size) when given, else by repeating the edge pixels.
    """
    height, width = record.original_size
    expected = (scale * (height + record.top + record.bottom), scale * (width + record.left + record.right))
    if record.mode == "crop":
        expected = (scale * (height - record.top - record.bottom), scale * (width - record.left - record.right))
    if tuple(image.shape[-2:]) != expected:
        raise InputError(f"image is {tuple(image.shape[-2:])}, expected {expected} for this record at scale {scale}")
    top, bottom, left, right = (scale * v for v in (record.top, record.bottom, record.left, record.right))
    if record.mode == "pad":
        return image[..., top:expected[0] - bottom, left:expected[1] - right]
    if original is not None:
        restored = original.clone()
        restored[..., top:top + expected[0], left:left + expected[1]] = image
        return restored
    batch = image if image.ndim == 4 else image[None]
    padded = F.pad(batch, (left, right, top, bottom), mode="replicate")
    return padded if image.ndim == 4 else padded[0]
