"""Reading image files and converting between the core's image tensors and uint8 arrays.

Inside the core an image is a float32 tensor ``[3, H, W]`` with values in 0..1 (the face front end
works in 0..1; the model itself wants -1..1 and its callers convert).

``load_image`` accepts what Pillow can decode and turns every pixel format into that layout:

- grey (``1``, ``L``), palette (``P``), CMYK, YCbCr: converted to RGB by Pillow;
- 16-bit grey (``I;16``, ``I;16B``, ``I``): divided by 65535, so no precision is lost to 8 bits.
  Pillow has no 16-bit RGB mode: it decodes 16-bit RGB files to 8-bit RGB itself;
- 32-bit float grey (``F``): taken as 0..1 and clipped;
- any alpha channel (``RGBA``, ``LA``, ``PA``, palette transparency): composited over black, i.e.
  colour times alpha, so transparent pixels become black;
- the EXIF orientation tag is applied, so the tensor looks the way viewers show the photo;
- animated or multi-page files: the first frame.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError
from .validation import check_image

__all__ = ["MAX_PIXELS", "ImageError", "check_image", "from_uint8_hwc", "load_image", "to_uint8_hwc"]

MAX_PIXELS = 36_000_000
"""Largest image ``load_image`` decodes by default (36 megapixels, e.g. 6000 x 6000): a float32
copy of that takes 432 MB, and larger files are more often decompression bombs than photos."""

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")

_FILE_SIGNATURES = {
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (or an Office document)",
    b"\x1f\x8b": "a gzip archive",
    b"{": "a JSON file",
    b"<": "an HTML/XML/SVG text file",
}


def load_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    """Read an image file as a float32 tensor ``[3, H, W]`` in 0..1 (see the module docstring).

    Raises ``FileNotFoundError`` if there is no such file, and ``ImageError`` if the file is not an
    image Pillow can decode, is truncated, or has more than ``max_pixels`` pixels.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No image file at {path!r}")
    try:
        with Image.open(path) as im:
            width, height = im.size
            if width * height > max_pixels:
                raise ImageError(
                    f"{path!r} is {width}x{height} = {width * height:,} pixels, more than the limit of "
                    f"{max_pixels:,} pixels; shrink it first or pass a larger max_pixels")
            im = ImageOps.exif_transpose(im)
            array = _pixels_as_rgb_float(im)
    except ImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path!r} is not a readable image: {_describe_file(path)} ({exc})") from exc
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def _pixels_as_rgb_float(im: Image.Image) -> np.ndarray:
    """Any Pillow image -> float32 array ``[H, W, 3]`` in 0..1."""
    if im.mode in _SIXTEEN_BIT_MODES:
        grey = np.asarray(im, dtype=np.float32) / 65535.0
        return np.repeat(np.clip(grey, 0.0, 1.0)[:, :, None], 3, axis=2)
    if im.mode == "F":
        grey = np.clip(np.asarray(im, dtype=np.float32), 0.0, 1.0)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if "A" in im.mode or "a" in im.mode or "transparency" in im.info:
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        return rgba[:, :, :3] * rgba[:, :, 3:]
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def _describe_file(path: str) -> str:
    """A few words about what a file that Pillow rejected actually is."""
    size = os.path.getsize(path)
    if size == 0:
        return "the file is empty"
    with open(path, "rb") as f:
        head = f.read(64)
    for signature, kind in _FILE_SIGNATURES.items():
        if head.lstrip().startswith(signature):
            return f"{size:,} bytes, looks like {kind}"
    if head[4:8] == b"ftyp":
        return f"{size:,} bytes, looks like an MP4/MOV video"
    try:
        head.decode("utf-8")
        return f"{size:,} bytes of text starting with {head[:24]!r}"
    except UnicodeDecodeError:
        return f"{size:,} bytes of binary data starting with {head[:8]!r}"


def to_uint8_hwc(image: torch.Tensor) -> np.ndarray:
    """Tensor ``[3, H, W]`` in 0..1 -> numpy uint8 array ``[H, W, 3]`` (rounded, clipped)."""
    if image.ndim != 3 or image.shape[0] != 3:
        raise ImageError(f"expected an image tensor [3, H, W], got shape {tuple(image.shape)}")
    array = image.detach().to("cpu", torch.float32).clamp(0.0, 1.0).mul(255.0).round()
    # a fresh C-ordered copy: dlib rejects the odd strides numpy allows on size-1 axes of a view
    return np.array(array.to(torch.uint8).permute(1, 2, 0).numpy(), order="C")


def from_uint8_hwc(array: np.ndarray) -> torch.Tensor:
    """Numpy uint8 array ``[H, W, 3]`` (or grey ``[H, W]`` / ``[H, W, 1]``) -> float32 ``[3, H, W]`` in 0..1."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ImageError(f"expected a uint8 array, got {array.dtype}")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3):
        raise ImageError(f"expected an array [H, W, 3], [H, W, 1] or [H, W], got shape {array.shape}")
    tensor = torch.from_numpy(np.array(array)).permute(2, 0, 1).float() / 255.0
    return tensor.expand(3, -1, -1).contiguous()
