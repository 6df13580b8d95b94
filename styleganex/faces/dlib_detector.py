"""Offline face detection with dlib: the HOG frontal detector plus the 68-point shape predictor.

This is the detector the official StyleGANEX release uses. The predictor file
(``shape_predictor_68_face_landmarks.dat``) comes from the ``face-recognition-models`` package;
its folder is looked up without importing the package (its ``__init__`` needs ``pkg_resources``).
Both models load on first use and are shared by all ``DlibDetector`` objects.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..io.images import check_image, to_uint8_hwc
from .face import Face

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"


def predictor_path() -> str:
    """Path of the 68-point predictor shipped in ``face-recognition-models``; ``FileNotFoundError`` if absent."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{PREDICTOR_FILE} not found: install it with `pip install face-recognition-models`")
    path = os.path.join(spec.submodule_search_locations[0], "models", PREDICTOR_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing: reinstall face-recognition-models")
    return path


@functools.cache
def _frontal_detector():
    import dlib

    return dlib.get_frontal_face_detector()


@functools.cache
def _shape_predictor(path: str):
    import dlib

    return dlib.shape_predictor(path)


class DlibDetector:
    """dlib HOG detector + 68 landmarks.

    upsample: how many times dlib doubles the image before searching (official: 1; finds faces
        from about 40 px wide; each step costs about 4x the time).
    min_score: dlib's detection threshold (0 is dlib's default; raise it to drop weak detections).
    max_side: images whose longer side exceeds this are searched at this size first (faster on large
        photos); landmarks are always placed on the full-resolution image. ``None`` disables it and
        searches at full resolution as the release does: on photos larger than ``max_side`` the box,
        and so the landmarks and the crop parameters, can differ slightly from the release's.
    fallback_pixels: when that reduced search finds nothing, the image is searched once more at a
        larger scale (up to ``2 ** upsample``, the scale of a small image) whose pixel count stays
        within this budget, so a small face in a large photo is still found: a 512-px portrait
        pasted into a 6000 x 4000 canvas shrinks to a 24-px face at 1600 px, too small for dlib.
        The default, 25 megapixels, is a 6000 x 4000 image at full size without upsampling (about
        2.5 s on one CPU core; faces from about 80 px wide). ``None`` or 0 disables it.
    predictor: path of a 68-point ``.dat`` file; default: ``predictor_path()``.
    """

    def __init__(self, upsample: int = 1, min_score: float = 0.0, max_side: int | None = 1600,
                 predictor: str | None = None, fallback_pixels: int | None = 25_000_000):
        self.upsample = upsample
        self.min_score = min_score
        self.max_side = max_side
        self.predictor = predictor
        self.fallback_pixels = fallback_pixels

    def detect(self, image: torch.Tensor) -> list[Face]:
        """All faces in ``image`` ``[3, H, W]`` (0..1), each with 68 landmarks, in dlib's order."""
        check_image(image)
        pixels = to_uint8_hwc(image)
        search, shrink = pixels, 1.0
        height, width = pixels.shape[:2]
        if self.max_side and max(height, width) > self.max_side:
            shrink = self.max_side / max(height, width)
            size = (max(1, round(height * shrink)), max(1, round(width * shrink)))
            small = F.interpolate(image[None], size=size, mode="bilinear", antialias=True, align_corners=False)
            search = to_uint8_hwc(small[0])
        found = self._search(search, shrink, self.upsample)
        if not found and shrink < 1.0 and self.fallback_pixels:
            # nothing at the reduced size: once more at the largest scale the budget allows
            scale = min(2.0 ** self.upsample, math.sqrt(self.fallback_pixels / (height * width)))
            if scale > 1.25 * shrink * 2.0 ** self.upsample:  # only if it shows faces clearly smaller
                size = (max(1, round(width * scale)), max(1, round(height * scale)))
                search = pixels if size == (width, height) else \
                    np.asarray(Image.fromarray(pixels).resize(size, Image.BILINEAR))
                found = self._search(search, size[0] / width, 0)
        return [Face(box, self._landmarks(pixels, box), score) for box, score in found]

    def _search(self, search: np.ndarray, scale: float, upsample: int) -> list:
        """(box in full-image pixels, score) of the faces dlib finds in ``search``, the image
        resized by ``scale``."""
        rects, scores, _ = _frontal_detector().run(search, upsample, self.min_score)
        return [((rect.left() / scale, rect.top() / scale, (rect.right() + 1) / scale,
                  (rect.bottom() + 1) / scale), float(score)) for rect, score in zip(rects, scores)]

    def face_in_box(self, image: torch.Tensor, box: tuple[float, float, float, float]) -> Face:
        """The face inside a box you already know (``(x0, y0, x1, y1)``), with its 68 landmarks."""
        check_image(image)
        return Face(box, self._landmarks(to_uint8_hwc(image), box))

    def _landmarks(self, pixels: np.ndarray, box) -> np.ndarray:
        import dlib

        x0, y0, x1, y1 = (int(round(v)) for v in box)
        rect = dlib.rectangle(x0, y0, max(x0, x1 - 1), max(y0, y1 - 1))
        shape = _shape_predictor(self.predictor or predictor_path())(pixels, rect)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
