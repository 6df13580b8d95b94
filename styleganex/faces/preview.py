"""The index map: a photo with its faces boxed and numbered, and why a face cannot be used.

Chosen faces are drawn in green, faces that could be used but were not chosen in yellow, and faces
that cannot be used in red with the reason (too small, turned away, ...). A message (e.g. why the
photo gives no crop) is written in a banner at the top.

>>> from styleganex.dev.testing import synthetic_landmarks
>>> from styleganex.faces import Face, FaceSelection, scan_faces
>>> faces = [Face.from_landmarks(synthetic_landmarks(x, 100, d)) for x, d in ((100, 40), (260, 8))]
>>> scan = scan_faces(faces, (240, 360), FaceSelection("all"))
>>> picture = draw_index_map(torch.full((3, 240, 360), 0.5), scan, "1 face chosen")
>>> picture.shape, bool((picture != 0.5).any())
(torch.Size([3, 240, 360]), True)
"""

from __future__ import annotations

import textwrap

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..io.images import check_image, from_uint8_hwc, to_uint8_hwc
from .select import FaceScan

__all__ = ["CHOSEN", "REJECTED", "UNCHOSEN", "draw_index_map"]

CHOSEN = (40, 210, 80)
UNCHOSEN = (245, 200, 40)
REJECTED = (235, 50, 45)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


def _label(draw: ImageDraw.ImageDraw, xy, text: str, font, colour, width: int, height: int) -> None:
    """``text`` on a dark plate at ``xy`` (its bottom-left corner), kept inside the picture."""
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    pad = max(2, (y1 - y0) // 5)
    w, h = x1 - x0 + 2 * pad, y1 - y0 + 2 * pad
    x = min(max(0, int(xy[0])), max(0, width - w))
    y = min(max(0, int(xy[1]) - h), max(0, height - h))
    draw.rectangle((x, y, x + w, y + h), fill=(0, 0, 0))
    draw.text((x + pad - x0, y + pad - y0), text, fill=colour, font=font)


def draw_index_map(image: torch.Tensor, scan: FaceScan, message: str | None = None) -> torch.Tensor:
    """The photo ``image`` ``[3, H, W]`` (0..1) with the faces of ``scan`` boxed and numbered.

    Args:
        image: the photo the faces were found in.
        scan: :func:`~styleganex.faces.select.scan_faces`'s result for it.
        message: written in a banner at the top (default: ``scan.problem``, if any).

    Returns:
        ``[3, H, W]`` float32 in 0..1.
    """
    check_image(image, "image", ndims=(3,))
    picture = Image.fromarray(to_uint8_hwc(image))
    draw = ImageDraw.Draw(picture)
    height, width = image.shape[-2:]
    line = max(2, round(min(height, width) / 250))
    font = _font(max(12, round(min(height, width) / 20)))
    for c in scan.candidates:
        colour = REJECTED if c.problem else CHOSEN if c.selected else UNCHOSEN
        x0, y0, x1, y1 = c.face.box
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=colour, width=line)
        text = f"#{c.number}" + (f" {c.problem}" if c.problem else "")
        _label(draw, (x0, y0 - line), text, font, colour, width, height)
    message = message if message is not None else scan.problem
    if message:
        chars = max(20, int(width / max(1.0, draw.textlength("m", font=font))) - 2)
        text = "\n".join(textwrap.wrap(message, chars)[:6])
        x0, y0, x1, y1 = draw.multiline_textbbox((0, 0), text, font=font)
        draw.rectangle((0, 0, width, y1 - y0 + 2 * line + 4), fill=(110, 0, 0))
        draw.multiline_text((line + 2 - x0, line + 2 - y0), text, fill=(255, 255, 255), font=font)
    return from_uint8_hwc(np.asarray(picture))
