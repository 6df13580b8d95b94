"""A picture of the whole front end on one image: detection, crop, alignment and paste-back.

    python -c "from styleganex.faces.demo import save_demo; save_demo('docs/images/faces_demo.png')"

Panels: the frame with landmarks, crop box (green) and FFHQ quad (yellow); the StyleGANEX crop; the
aligned 256 x 256 face (``prepare_face``: aligned on the crop with landmarks found again on it, as the
release does; the quad drawn is that alignment's, mapped back to the frame); the frame with a stand-in
"model output" (the crop upscaled 4x with its colour channels rotated) pasted back with the default feather.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from ..images import from_uint8_hwc, to_uint8_hwc
from .align import ffhq_quad
from .detect import detect_face
from .face import Face
from .paste import paste_back
from .prepare import prepare_face


def demo_figure(image: torch.Tensor, face: Face | None = None, height: int = 256) -> torch.Tensor:
    """The four panels side by side, each ``height`` pixels tall; returns ``[3, height + 20, W]``."""
    face = face or detect_face(image)
    prepared = prepare_face(image, face)
    crop, record, aligned = prepared.crop, prepared.record, prepared.aligned
    quad = record.crop_to_frame(ffhq_quad(prepared.landmarks))
    output = F.interpolate(crop[None], scale_factor=4, mode="bicubic", align_corners=False)[0]
    output = output[[2, 0, 1]].clamp(0.0, 1.0)
    pasted = paste_back(image, output, record)

    annotated = Image.fromarray(to_uint8_hwc(image))
    draw = ImageDraw.Draw(annotated)
    for x, y in face.landmarks:
        draw.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=(255, 40, 40))
    x0, y0, x1, y1 = record.box
    sx, sy = record.scale_xy
    draw.rectangle([x0 / sx, y0 / sy, x1 / sx - 1, y1 / sy - 1], outline=(0, 255, 0), width=2)
    draw.polygon([tuple(p) for p in quad], outline=(255, 220, 0), width=2)

    panels = [("frame + landmarks, crop, quad", annotated),
              (f"crop {record.crop_size[1]}x{record.crop_size[0]}", Image.fromarray(to_uint8_hwc(crop))),
              ("aligned 256x256", Image.fromarray(to_uint8_hwc(aligned))),
              ("4x output pasted back", Image.fromarray(to_uint8_hwc(pasted)))]
    resized = [(title, im.resize((max(1, round(im.width * height / im.height)), height), Image.LANCZOS))
               for title, im in panels]
    gap, caption = 6, 20
    sheet = Image.new("RGB", (sum(im.width for _, im in resized) + gap * (len(resized) - 1), height + caption),
                      (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    x = 0
    for title, im in resized:
        sheet.paste(im, (x, caption))
        draw.text((x + 4, 4), title, fill=(0, 0, 0))
        x += im.width + gap
    return from_uint8_hwc(np.asarray(sheet))


def save_demo(path: str) -> None:
    """Save the figure for scikit-image's astronaut photo as a PNG (the one in docs/images)."""
    import skimage.data

    # 208 px panels keep the PNG under 300 KB (about 275 KB) for the docs
    figure = demo_figure(from_uint8_hwc(skimage.data.astronaut()), height=208)
    Image.fromarray(to_uint8_hwc(figure)).save(path, optimize=True)

