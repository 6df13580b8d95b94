"""Writing results so that nothing half-written is ever left behind.

Every file is first written to a hidden temporary name beside its target; only when all files of
a result are written are they renamed into place. On any error (or Ctrl-C) the temporary files are
removed and no target is touched.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable, Iterable

import torch

IMAGE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}  # anything else: PNG


def write_all(items: Iterable[tuple[Path, Callable[[Path], None]]]) -> None:
    """``items``: (target path, write(temporary path)). All targets appear together, or none."""
    done = []
    try:
        for path, write in items:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
            done.append((tmp, path))
            write(tmp)
        for tmp, path in done:
            os.replace(tmp, path)
    finally:
        for tmp, _ in done:
            if tmp.exists():
                tmp.unlink()


def image_writer(image01: torch.Tensor, path: Path) -> Callable[[Path], None]:
    """A writer for ``write_all``: a [3, H, W] image in 0..1, format from ``path``'s suffix."""
    def write(tmp: Path) -> None:
        from PIL import Image

        from .images import to_uint8_hwc
        fmt = IMAGE_FORMATS.get(Path(path).suffix.lower(), "PNG")
        Image.fromarray(to_uint8_hwc(image01)).save(tmp, format=fmt)
    return write


def write_images(items: Iterable[tuple[Path, torch.Tensor]]) -> None:
    """Write [3, H, W] images in 0..1; all files appear at the end, or none on error."""
    write_all([(Path(p), image_writer(img, p)) for p, img in items])
