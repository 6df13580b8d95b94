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

Every image file goes through :func:`open_image` (also the label images of ``mask2face``): images over
:data:`MAX_PIXELS` are refused before a pixel is decoded, and truncated or damaged files are refused
rather than filled with grey. Error messages describe a rejected file by its size and kind only.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..base.errors import ImageError, NonFiniteError
from ..base.filetypes import describe_bytes, file_kind
from ..base.outputs import image_format, write_all
from ..base.validation import check_image

__all__ = ["MAX_PIXELS", "ImageError", "check_image", "check_pixels", "from_uint8_hwc", "load_image", "open_image",
           "pixel_limit", "to_uint8_hwc"]

_DEFAULT_MAX_PIXELS = 36_000_000


def _max_pixels_from_env() -> int:
    text = os.environ.get("STYLEGANEX_MAX_PIXELS", "").replace("_", "").strip()
    if not text:
        return _DEFAULT_MAX_PIXELS
    if text.isdigit() and int(text) > 0:
        return int(text)
    warnings.warn(f"STYLEGANEX_MAX_PIXELS={text!r} is not a positive whole number; using "
                  f"{_DEFAULT_MAX_PIXELS:,}", stacklevel=2)
    return _DEFAULT_MAX_PIXELS


MAX_PIXELS = _max_pixels_from_env()
"""The one pixel cap of every image entry point (image files, label images, video frames, node
images): 36 megapixels (e.g. 6000 x 6000) unless the ``STYLEGANEX_MAX_PIXELS`` environment variable
says otherwise. A float32 copy of that takes 432 MB, and larger files are more often decompression
bombs than photos. The command line sets it with ``--max-pixels``; Python code may assign it."""

PIXEL_LIMIT_HINT = ("raise the limit with --max-pixels on the command line, styleganex.io.images.MAX_PIXELS in "
                    "Python, or the STYLEGANEX_MAX_PIXELS environment variable (ComfyUI), or shrink the image")
"""How a user raises :data:`MAX_PIXELS`; every refusal names it."""

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")

_DECODING = threading.Lock()


def pixel_limit(max_pixels: int | None = None) -> int:
    """``max_pixels`` checked, or the current :data:`MAX_PIXELS` when None."""
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ImageError(f"the pixel limit must be a positive whole number, got {limit!r}")
    return limit


def check_pixels(width: int, height: int, what: str, max_pixels: int | None = None,
                 error: type[Exception] = ImageError) -> None:
    """Raise ``error`` when a ``width`` x ``height`` image is over the pixel cap (naming how to raise it)."""
    limit = pixel_limit(max_pixels)
    if width * height > limit:
        raise error(f"{what} is {width}x{height} = {width * height:,} pixels, more than the limit of {limit:,} "
                    f"pixels; {PIXEL_LIMIT_HINT}")


@contextlib.contextmanager
def _strict_decoding(limit: int):
    """Pillow refuses truncated files (whatever another package set ``LOAD_TRUNCATED_IMAGES`` to) and
    leaves the pixel cap to :func:`check_pixels` (its own bomb check would stop at about 179 MP)."""
    with _DECODING:
        truncated, bomb = ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        Image.MAX_IMAGE_PIXELS = None if bomb is None else max(bomb, limit)
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS = truncated, bomb


def open_image(path: str | os.PathLike, max_pixels: int | None = None) -> Image.Image:
    """Open and fully decode an image file with the checks of every image entry point: the pixel cap
    (:data:`MAX_PIXELS` unless ``max_pixels`` is given) before any pixel is decoded, and truncated or
    damaged files refused. Returns the Pillow image as stored (mode kept, e.g. palette indices of a
    label image; EXIF orientation not applied).

    Raises ``FileNotFoundError`` if there is no such file and ``ImageError`` otherwise.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No image file at {path!r}")
    limit = pixel_limit(max_pixels)
    try:
        with _strict_decoding(limit), Image.open(path) as im:
            width, height = im.size
            check_pixels(width, height, repr(path), limit)
            im.load()
            return im.copy()
    except ImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path!r} is not a readable image: {_what_file(path)} ({_reason(exc)})") from exc


def load_image(path: str | os.PathLike, max_pixels: int | None = None) -> torch.Tensor:
    """Read an image file as a float32 tensor ``[3, H, W]`` in 0..1 (see the module docstring).

    Raises ``FileNotFoundError`` if there is no such file, and ``ImageError`` if the file is not an
    image Pillow can decode, is truncated, or has more than ``max_pixels`` pixels (default: the current
    :data:`MAX_PIXELS`).
    """
    im = open_image(path, max_pixels)
    try:
        array = _pixels_as_rgb_float(ImageOps.exif_transpose(im))
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{os.fspath(path)!r} is not a readable image: {_reason(exc)}") from exc
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def _what_file(path) -> str:
    """A file Pillow refused: a damaged or truncated image of a known kind, or what it is instead."""
    kind = file_kind(path) if os.path.getsize(path) else None
    if kind is not None and kind.endswith(" image"):
        return f"{os.path.getsize(path):,} bytes, a damaged or truncated {kind[2:] if kind.startswith('a ') else kind}"
    return describe_bytes(path)


def _reason(exc: BaseException) -> str:
    """Pillow's reason, without anything it quotes from the file."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "b'" in text or 'b"' in text:
        return type(exc).__name__
    return text[:200]


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


def image_writer(image01: torch.Tensor, path: Path) -> Callable[[Path], None]:
    """A writer for ``write_all``: a [3, H, W] image in 0..1, in the format of ``path``'s extension.

    Raises OutputPathError for an extension not in :data:`IMAGE_FORMATS` and NonFiniteError for an image
    with NaN or infinite values (both before anything is written)."""
    fmt = image_format(path)
    if isinstance(image01, torch.Tensor) and not bool(torch.isfinite(image01.detach()).all()):
        raise NonFiniteError(f"refusing to write {path}: the image holds NaN or infinite values (the step that made "
                             "it failed); nothing was written")

    def write(tmp: Path) -> None:
        from PIL import Image

        from ..io.images import to_uint8_hwc
        Image.fromarray(to_uint8_hwc(image01)).save(tmp, format=fmt)
    return write


def write_images(items: Iterable[tuple[Path, torch.Tensor]]) -> None:
    """Write [3, H, W] images in 0..1; all files appear at the end, or none on error."""
    write_all([(Path(p), image_writer(img, p)) for p, img in items])
