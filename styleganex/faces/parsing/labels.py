"""Parsing labels: the 19 class ids of the released parser, their colours, and the label formats.

Class ids (the order the released parser predicts; it is *not* the CelebAMask-HQ file order):

====  ==========  ====  ==========  ====  ==========  ====  ==========
  0   background    5   r_eye        10   nose         15   neck_l
  1   skin          6   eye_g        11   mouth        16   cloth
  2   l_brow        7   l_ear        12   u_lip        17   hair
  3   r_brow        8   r_ear        13   l_lip        18   hat
  4   l_eye         9   ear_r        14   neck
====  ==========  ====  ==========  ====  ==========  ====  ==========

A label map is ``[B,H,W]`` int64 class ids (:func:`validate_labels`); the mask-to-face encoder takes its
one-hot ``[B,19,H,W]`` (:func:`labels_to_onehot`); :func:`colorize` draws it in the CelebAMask-HQ colours
and :func:`label_image_to_labels` reads a user's mask image (class-id image or colour mask) back.

>>> labels_to_onehot(torch.tensor([[[0, 18]]])).shape
torch.Size([1, 19, 1, 2])
>>> colorize(torch.tensor([[[1]]]))[0, :, 0, 0].mul(255).round().tolist()  # skin
[204.0, 0.0, 0.0]
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ...base.errors import InputError

NUM_CLASSES = 19

#: Class names in the id order predicted by the released ``faceparsing.pth``.
FACE_PARSING_CLASSES: tuple[str, ...] = (
    "background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear",
    "ear_r", "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat",
)

#: The standard CelebAMask-HQ colour of every face part (RGB, 0..255), keyed by part name.
#: These are the 19 colours the CelebAMask-HQ dataset uses for its colour masks.
CELEBAMASK_HQ_COLORS: dict[str, tuple[int, int, int]] = {
    "background": (0, 0, 0),
    "skin": (204, 0, 0),
    "nose": (76, 153, 0),
    "eye_g": (204, 204, 0),
    "l_eye": (51, 51, 255),
    "r_eye": (204, 0, 204),
    "l_brow": (0, 255, 255),
    "r_brow": (255, 204, 204),
    "l_ear": (102, 51, 0),
    "r_ear": (255, 0, 0),
    "mouth": (102, 204, 0),
    "u_lip": (255, 255, 0),
    "l_lip": (0, 0, 153),
    "hair": (0, 0, 204),
    "hat": (255, 51, 153),
    "ear_r": (0, 204, 204),
    "neck_l": (0, 51, 0),
    "neck": (255, 153, 51),
    "cloth": (0, 204, 0),
}

#: 19-entry palette indexed by *class id* of this parser: entry ``i`` is the CelebAMask-HQ colour of
#: the part ``FACE_PARSING_CLASSES[i]`` (so a CelebAMask-HQ colour mask maps to the right ids).
PALETTE: tuple[tuple[int, int, int], ...] = tuple(CELEBAMASK_HQ_COLORS[n] for n in FACE_PARSING_CLASSES)


def validate_labels(labels: Tensor, num_classes: int = NUM_CLASSES) -> Tensor:
    """Check an integer label map ``[B,H,W]`` (or ``[B,1,H,W]``) and return it as ``[B,H,W]`` int64.

    Raises ``ValueError`` for a wrong shape, a non-integer dtype (float values that are whole numbers
    are accepted), negative labels or labels ``>= num_classes`` (the message names the max label).
    """
    if not isinstance(labels, Tensor):
        raise TypeError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    if labels.dim() == 4 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.dim() != 3:
        raise InputError(f"labels must have shape [B,H,W] (or [B,1,H,W]), got {list(labels.shape)}")
    if labels.dtype == torch.bool or labels.is_complex():
        raise InputError(f"labels must hold integer class ids, got dtype {labels.dtype}")
    if labels.is_floating_point():
        if not torch.equal(labels, labels.round()):
            raise InputError("labels must hold integer class ids, got fractional float values")
    labels = labels.long()
    if labels.numel():
        lo, hi = int(labels.min()), int(labels.max())
        if lo < 0:
            raise InputError(f"labels must be >= 0, got min label {lo}")
        if hi >= num_classes:
            raise InputError(f"labels must be < {num_classes} (class ids 0..{num_classes - 1}), got max label {hi}")
    return labels


def labels_to_onehot(labels: Tensor, num_classes: int = NUM_CLASSES) -> Tensor:
    """``[B,H,W]`` class ids -> ``[B,num_classes,H,W]`` float32 one-hot (the mask2face encoder input)."""
    labels = validate_labels(labels, num_classes)
    return F.one_hot(labels, num_classes).permute(0, 3, 1, 2).to(torch.float32).contiguous()


def onehot_to_labels(onehot: Tensor, num_classes: int | None = None) -> Tensor:
    """``[B,C,H,W]`` one-hot, probabilities or logits -> ``[B,H,W]`` int64 (arg-max over classes)."""
    if not isinstance(onehot, Tensor):
        raise TypeError(f"onehot must be a torch.Tensor, got {type(onehot).__name__}")
    if onehot.dim() != 4:
        raise InputError(f"onehot must have shape [B,C,H,W], got {list(onehot.shape)}")
    if num_classes is not None and onehot.shape[1] != num_classes:
        raise InputError(f"onehot has {onehot.shape[1]} channels, expected {num_classes}")
    return onehot.argmax(dim=1)


def _palette_tensor(palette: Sequence[Sequence[int]] | Tensor, num_classes: int) -> Tensor:
    pal = torch.as_tensor(np.asarray(palette), dtype=torch.int64) if not isinstance(palette, Tensor) else palette.long()
    if pal.dim() != 2 or pal.shape[1] != 3:
        raise InputError(f"palette must be a list of RGB triples, got shape {list(pal.shape)}")
    if pal.shape[0] < num_classes:
        raise InputError(f"palette has {pal.shape[0]} colours, need at least {num_classes}")
    return pal[:num_classes]


def colorize(
    labels: Tensor,
    palette: Sequence[Sequence[int]] | Tensor = PALETTE,
    num_classes: int = NUM_CLASSES,
) -> Tensor:
    """``[B,H,W]`` class ids -> ``[B,3,H,W]`` float RGB in 0..1 using ``palette`` (default :data:`PALETTE`)."""
    labels = validate_labels(labels, num_classes)
    pal = _palette_tensor(palette, num_classes).to(device=labels.device, dtype=torch.float32) / 255.0
    return pal[labels].permute(0, 3, 1, 2).contiguous()


def _image_to_uint8_bchw(image) -> Tensor:
    """Normalise the accepted label-image inputs to an int64 tensor ``[B,C,H,W]`` with values 0..255."""
    if not isinstance(image, Tensor):
        from PIL import Image

        if isinstance(image, Image.Image):
            if image.mode == "P":  # palette PNG: the stored indices are the class ids (as the official code)
                arr = np.asarray(image)
            elif image.mode in ("L", "I", "I;16", "RGB"):
                arr = np.asarray(image)
            else:
                arr = np.asarray(image.convert("RGB"))
            t = torch.from_numpy(np.array(arr, copy=True)).long()
            return t[None, None] if t.dim() == 2 else t.permute(2, 0, 1)[None]
        if isinstance(image, np.ndarray):
            t = torch.from_numpy(np.array(image, copy=True))
            if t.dim() == 2:
                t = t[None, None]
            elif t.dim() == 3:  # H,W,C
                t = t.permute(2, 0, 1)[None]
            elif t.dim() == 4:  # B,H,W,C
                t = t.permute(0, 3, 1, 2)
            image = t
        else:
            raise TypeError(f"label image must be a Tensor, numpy array or PIL image, got {type(image).__name__}")
    t = image
    if t.dim() == 2:
        t = t[None, None]
    elif t.dim() == 3:
        # [B,H,W] label maps, or a single [C,H,W] image with C in (1,3,4)
        t = t[:, None] if t.shape[0] not in (1, 3, 4) else t[None]
    elif t.dim() != 4:
        raise InputError(f"label image must have 2 to 4 dimensions, got shape {list(t.shape)}")
    if t.shape[1] not in (1, 3, 4):
        raise InputError(f"label image must have 1, 3 or 4 channels (as [B,C,H,W]), got shape {list(t.shape)}")
    if t.shape[1] == 4:
        t = t[:, :3]
    if t.is_floating_point():
        if t.numel() and (float(t.min()) < 0.0 or float(t.max()) > 1.0 + 1e-6):
            raise InputError("a float label image must be in 0..1 (pixel value / 255)")
        t = (t * 255.0).round()
    return t.long()


def label_image_to_labels(
    image,
    num_classes: int = NUM_CLASSES,
    palette: Sequence[Sequence[int]] | Tensor = PALETTE,
    tolerance: int = 20,
) -> Tensor:
    """Convert a parsing-mask image to class ids ``[B,H,W]`` (int64).

    Accepted inputs: a tensor ``[B,C,H,W]``/``[C,H,W]``/``[B,H,W]``/``[H,W]`` (uint8/integer 0..255, or
    float 0..1 meaning pixel/255, ``C`` in 1, 3, 4 — alpha is ignored; a 3-D tensor whose first size is
    1, 3 or 4 is read as one ``[C,H,W]`` image, any other as ``[B,H,W]``), a numpy array ``H,W[,C]`` or
    ``B,H,W,C``, or a PIL image. Channels-last ComfyUI IMAGE batches must be permuted first. Two
    encodings are recognised:

    * **label image**: one channel, or three equal channels (a grey image), where the pixel value is
      the class id (0..18). This is what the official release reads (``getchannel(0)``); palette
      ("P" mode) PNGs are read by their indices, as there.
    * **colour mask**: every pixel is one of the ``palette`` colours (default: CelebAMask-HQ colours
      in this parser's class order, :data:`PALETTE`), up to ``tolerance`` per channel (0..255) to
      survive lossy compression; each pixel gets the nearest palette colour.

    Raises ``ValueError`` naming the max label when a label image has values ``>= num_classes``, and
    when a colour image has pixels that match no palette colour.
    """
    img = _image_to_uint8_bchw(image)
    if img.shape[1] == 1 or (torch.equal(img[:, 0], img[:, 1]) and torch.equal(img[:, 0], img[:, 2])):
        grey = img[:, 0]
        hi = int(grey.max()) if grey.numel() else 0
        if hi < num_classes:
            return grey
        if img.shape[1] == 1:
            raise InputError(
                f"label image values must be class ids 0..{num_classes - 1}, got max label {hi}"
            )
        # Grey RGB image with larger values: only a palette image could explain it; fall through.
    pal = _palette_tensor(palette, num_classes).to(img.device)
    rgb = img[:, :3] if img.shape[1] >= 3 else img.expand(-1, 3, -1, -1)
    b, _, h, w = rgb.shape
    codes = (rgb[:, 0] * 65536 + rgb[:, 1] * 256 + rgb[:, 2]).reshape(-1)
    uniq, inverse = torch.unique(codes, return_inverse=True)  # match each distinct colour once
    colours = torch.stack([uniq // 65536, (uniq // 256) % 256, uniq % 256], dim=1)
    nearest = torch.empty(uniq.shape[0], dtype=torch.long, device=img.device)
    distance = torch.empty(uniq.shape[0], dtype=torch.long, device=img.device)
    chunk = 1 << 16
    for s in range(0, uniq.shape[0], chunk):
        d = (colours[s:s + chunk, None, :] - pal[None]).abs().amax(dim=2)  # L-inf distance to the palette
        distance[s:s + chunk], nearest[s:s + chunk] = d.min(dim=1)
    bad = distance > tolerance
    if bool(bad.any()):
        n_bad = int(bad[inverse].sum())
        example = tuple(int(v) for v in colours[bad.nonzero()[0, 0]])
        grey_note = ""
        if img.shape[1] != 1 and torch.equal(img[:, 0], img[:, 1]) and torch.equal(img[:, 0], img[:, 2]):
            grey_note = f" (as a grey label image its max label would be {int(img[:, 0].max())})"
        raise InputError(
            f"label image is neither a class-id image (values 0..{num_classes - 1}) nor a colour mask "
            f"with the palette colours: {n_bad} pixel(s) match no palette colour within {tolerance}, "
            f"e.g. RGB {example}{grey_note}"
        )
    return nearest[inverse].reshape(b, h, w)
