"""Pictures of the front end: one face through every step, and a group photo with every face pasted back.

    python -c "from styleganex.dev.face_demo import save_demo; save_demo('docs/images/faces_demo.png')"
    python -c "from styleganex.dev.face_demo import save_group_demo; save_group_demo('docs/images/group_photo.png')"

``demo_figure`` panels: the frame with landmarks, crop box (green) and FFHQ quad (yellow); the StyleGANEX crop; the
aligned 256 x 256 face (``prepare_face``: aligned on the crop with landmarks found again on it, as the
release does; the quad drawn is that alignment's, mapped back to the frame); the frame with a stand-in
"model output" (the crop upscaled 4x with its colour channels rotated) pasted back with the default feather.

``group_figure`` panels: the index map (Face Crop's preview); every face pasted back with the crop
rectangle and no colour matching; with face masks and colour matching; the pasted-region mask. The
"edit" is a stand-in for the model (random test weights make no faces): each crop upscaled 4x,
posterised with dark edges (a cartoon look) and tinted warm.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from ..faces.align import ffhq_quad
from ..faces.detect import detect_face
from ..faces.face import Face
from ..faces.paste import paste_back
from ..faces.prepare import prepare_face
from ..io.images import from_uint8_hwc, to_uint8_hwc


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



def cartoon_stand_in(crops: torch.Tensor) -> torch.Tensor:
    """A visible stand-in edit for pictures: crops ``[N, 3, h, w]`` -> ``[N, 3, 4h, 4w]`` upscaled,
    smoothed, posterised to 4 levels, edges darkened and tinted warm."""
    from kornia.filters import box_blur, sobel

    big = F.interpolate(crops, scale_factor=4, mode="bicubic", align_corners=False).clamp(0.0, 1.0)
    smooth = box_blur(big, (9, 9))
    poster = torch.round(smooth * 4.0) / 4.0
    edges = sobel(big.mean(dim=1, keepdim=True))
    lines = (edges > 0.05).float()
    tint = torch.tensor([1.12, 1.0, 0.82], device=crops.device)[:, None, None]
    return (poster * (1.0 - 0.8 * lines) * tint).clamp(0.0, 1.0)


def group_figure(photo: torch.Tensor, scale: float = 0.5) -> torch.Tensor:
    """The four panels of a group photo ``[3, H, W]`` in a 2 x 2 sheet (each panel ``scale`` times the
    photo); returns ``[3, H', W']``."""
    from ..faces.group import prepare_group, previews, scan_images
    from ..faces.paste import PasteOptions
    from ..faces.preview import _font
    from ..faces.select import FaceSelection

    scans = scan_images(photo[None], FaceSelection("all"))
    group = prepare_group(photo[None], scans)
    edited = cartoon_stand_in(group.crops)
    plain = group.crop.composite(edited, PasteOptions("crop", 0.1)).frames[0]
    seamless = group.crop.composite(edited, PasteOptions("face", 0.05, 0.0, True))
    panels = [("Face Crop preview: every face numbered left to right", previews(photo[None], scans)[0]),
              ("crop rectangles, no colour match: seams, faces overlap", plain),
              ("face masks, faded inside, colours matched", seamless.frames[0]),
              ("Decode's mask output: the pasted region", seamless.masks[0].expand(3, -1, -1))]
    height, width = (round(v * scale) for v in photo.shape[-2:])
    gap, caption = 6, 20
    sheet = Image.new("RGB", (2 * width + gap, 2 * (height + caption) + gap), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = _font(14)
    for k, (title, picture) in enumerate(panels):
        im = Image.fromarray(to_uint8_hwc(picture)).resize((width, height), Image.LANCZOS)
        x, y = (k % 2) * (width + gap), (k // 2) * (height + caption + gap)
        sheet.paste(im, (x, y + caption))
        draw.text((x + 4, y + 2), title, fill=(0, 0, 0), font=font)
    return from_uint8_hwc(np.asarray(sheet))


def save_group_demo(path: str) -> None:
    """Save ``group_figure`` of the three-face group photo of ``styleganex.dev.testing`` as a PNG (docs/images)."""
    from .testing import group_photo

    Image.fromarray(to_uint8_hwc(group_figure(group_photo(3)))).save(path, optimize=True)
