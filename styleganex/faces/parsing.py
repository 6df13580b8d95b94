"""Face parsing with the BiSeNet of the StyleGANEX release (``faceparsing.pth``, 19 classes).

StyleGANEX's mask-to-face pipeline turns a photo into a 19-class parsing map with the BiSeNet face
parser of *face-parsing.PyTorch* (ResNet-18 context path, the spatial path replaced by the ResNet's
1/8 feature) trained on CelebAMask-HQ. The modules below reproduce that network with the same
sub-module names, so the released ``faceparsing.pth`` loads with ``strict=True`` and no renaming.
``styleganex/faces/data/faceparsing_keys.json`` lists every state-dict key and shape that the file is
expected to hold (see :func:`state_dict_manifest`).

Class ids (the order the released parser predicts; it is *not* the CelebAMask-HQ file order):

====  ==========  ====  ==========  ====  ==========  ====  ==========
  0   background    5   r_eye        10   nose         15   neck_l
  1   skin          6   eye_g        11   mouth        16   cloth
  2   l_brow        7   l_ear        12   u_lip        17   hair
  3   r_brow        8   r_ear        13   l_lip        18   hat
  4   l_eye         9   ear_r        14   neck
====  ==========  ====  ==========  ====  ==========  ====  ==========

Pre-processing of the official release (``image_translation.py`` and the web UI, mask2face from a
photo): the RGB crop in 0..1 is normalised with the ImageNet mean/std, upsampled 2x (bilinear,
``align_corners=False``) "for precise segmentation", the main BiSeNet output (logits, already
bilinearly resized to the network input inside BiSeNet) is brought back to the crop size with
nearest-neighbour interpolation and the arg-max over classes gives the labels.
:meth:`FaceParser.parse` does exactly this by default (``scale=2.0``); ``size=512`` instead runs the
network on a 512x512 resize, as the face-parsing.PyTorch demo does.

Checkpoints are untrusted: they are read with ``torch.load(..., weights_only=True)`` (or with
``safetensors``) and never unpickled otherwise.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..base.errors import InputError

__all__ = [
    "NUM_CLASSES",
    "FACE_PARSING_CLASSES",
    "CELEBAMASK_HQ_COLORS",
    "PALETTE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "KEY_MANIFEST_PATH",
    "BiSeNet",
    "FaceParser",
    "labels_to_onehot",
    "onehot_to_labels",
    "label_image_to_labels",
    "colorize",
    "validate_labels",
    "state_dict_manifest",
]

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

#: ImageNet normalisation used by the official code before the parser (on RGB in 0..1).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Expected state-dict keys and shapes of ``faceparsing.pth``.
KEY_MANIFEST_PATH = Path(__file__).resolve().parent / "data" / "faceparsing_keys.json"

_DOWNLOAD_HINT = (
    "download faceparsing.pth from the Hugging Face repository PKUWilliamYang/StyleGANEX "
    "(folder pretrained_models/, S-Lab License 1.0, non-commercial use only)"
)


# --------------------------------------------------------------------------------------------
# Network. Attribute names are the state-dict key components of the released checkpoint.
# --------------------------------------------------------------------------------------------


class ConvBNReLU(nn.Module):
    """Bias-free convolution, BatchNorm, ReLU (keys ``conv.weight``, ``bn.*``)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1, padding: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


class BasicBlock(nn.Module):
    """ResNet basic block; the shortcut projection is ``downsample.0`` (conv) / ``downsample.1`` (BN)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.downsample: nn.Module | None = None
        if in_ch != out_ch or stride != 1:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_ch),
            )

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(shortcut + y)


def _stage(in_ch: int, out_ch: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(in_ch, out_ch, stride), BasicBlock(out_ch, out_ch, 1))


class ResNet18Features(nn.Module):
    """ResNet-18 trunk without the classifier; returns the 1/8, 1/16 and 1/32 feature maps."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = _stage(64, 64, 1)
        self.layer2 = _stage(64, 128, 2)
        self.layer3 = _stage(128, 256, 2)
        self.layer4 = _stage(256, 512, 2)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        f8 = self.layer2(x)
        f16 = self.layer3(f8)
        f32 = self.layer4(f16)
        return f8, f16, f32


def _global_mean(x: Tensor) -> Tensor:
    return x.mean(dim=(2, 3), keepdim=True)


class AttentionRefinement(nn.Module):
    """ConvBNReLU followed by a channel gate from globally pooled features (``conv_atten``, ``bn_atten``)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv = ConvBNReLU(in_ch, out_ch, 3, 1, 1)
        self.conv_atten = nn.Conv2d(out_ch, out_ch, 1, bias=False)
        self.bn_atten = nn.BatchNorm2d(out_ch)

    def forward(self, x: Tensor) -> Tensor:
        feat = self.conv(x)
        gate = torch.sigmoid(self.bn_atten(self.conv_atten(_global_mean(feat))))
        return feat * gate


class ContextPath(nn.Module):
    """ResNet-18 plus two attention-refinement branches merged top-down (nearest upsampling)."""

    def __init__(self):
        super().__init__()
        self.resnet = ResNet18Features()
        self.arm16 = AttentionRefinement(256, 128)
        self.arm32 = AttentionRefinement(512, 128)
        self.conv_head32 = ConvBNReLU(128, 128, 3, 1, 1)
        self.conv_head16 = ConvBNReLU(128, 128, 3, 1, 1)
        self.conv_avg = ConvBNReLU(512, 128, 1, 1, 0)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        f8, f16, f32 = self.resnet(x)
        context = self.conv_avg(_global_mean(f32))  # [B,128,1,1], broadcast over the 1/32 map
        s32 = self.arm32(f32) + context
        up32 = self.conv_head32(F.interpolate(s32, size=f16.shape[2:], mode="nearest"))
        s16 = self.arm16(f16) + up32
        up16 = self.conv_head16(F.interpolate(s16, size=f8.shape[2:], mode="nearest"))
        return f8, up16, up32


class FeatureFusion(nn.Module):
    """Concatenate, 1x1 ConvBNReLU, then add a squeeze-excitation re-weighted copy (``conv1``/``conv2``)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.convblk = ConvBNReLU(in_ch, out_ch, 1, 1, 0)
        self.conv1 = nn.Conv2d(out_ch, out_ch // 4, 1, bias=False)
        self.conv2 = nn.Conv2d(out_ch // 4, out_ch, 1, bias=False)

    def forward(self, spatial: Tensor, context: Tensor) -> Tensor:
        feat = self.convblk(torch.cat([spatial, context], dim=1))
        gate = torch.sigmoid(self.conv2(F.relu(self.conv1(_global_mean(feat)))))
        return feat + feat * gate


class OutputHead(nn.Module):
    """3x3 ConvBNReLU then a bias-free 1x1 classifier (keys ``conv.*``, ``conv_out.weight``)."""

    def __init__(self, in_ch: int, mid_ch: int, n_classes: int):
        super().__init__()
        self.conv = ConvBNReLU(in_ch, mid_ch, 3, 1, 1)
        self.conv_out = nn.Conv2d(mid_ch, n_classes, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_out(self.conv(x))


class BiSeNet(nn.Module):
    """BiSeNet face parser of face-parsing.PyTorch / StyleGANEX (no separate spatial path).

    ``forward(x)`` takes an ImageNet-normalised RGB batch ``[B,3,H,W]`` and returns the main logits
    ``[B,n_classes,H,W]`` (bilinear, ``align_corners=True``, as in the release). With ``aux=True`` it
    returns the three outputs of the release ``(main, out16, out32)``; the two auxiliary heads are only
    used for training but their weights are part of the checkpoint.
    """

    def __init__(self, n_classes: int = NUM_CLASSES):
        super().__init__()
        self.n_classes = n_classes
        self.cp = ContextPath()
        self.ffm = FeatureFusion(256, 256)
        self.conv_out = OutputHead(256, 256, n_classes)
        self.conv_out16 = OutputHead(128, 64, n_classes)
        self.conv_out32 = OutputHead(128, 64, n_classes)

    def forward(self, x: Tensor, aux: bool = False):
        size = x.shape[2:]
        f8, cp8, cp16 = self.cp(x)
        out = self.conv_out(self.ffm(f8, cp8))
        out = F.interpolate(out, size=size, mode="bilinear", align_corners=True)
        if not aux:
            return out
        out16 = F.interpolate(self.conv_out16(cp8), size=size, mode="bilinear", align_corners=True)
        out32 = F.interpolate(self.conv_out32(cp16), size=size, mode="bilinear", align_corners=True)
        return out, out16, out32


def state_dict_manifest(model: nn.Module | None = None) -> dict:
    """Key/shape manifest of a BiSeNet state dict (the content of ``faceparsing_keys.json``).

    ``num_batches_tracked`` BatchNorm counters are listed with ``"optional": true``: checkpoints saved
    by old PyTorch versions may lack them, and :meth:`FaceParser.load` fills them in.
    """
    if model is None:
        model = BiSeNet(NUM_CLASSES)
    keys = []
    for name, tensor in model.state_dict().items():
        entry = {"key": name, "shape": list(tensor.shape), "dtype": str(tensor.dtype).replace("torch.", "")}
        if name.endswith(".num_batches_tracked"):
            entry["optional"] = True
        keys.append(entry)
    return {
        "description": "State-dict keys and shapes of the BiSeNet face parser faceparsing.pth "
        "(StyleGANEX release, 19 classes), generated from styleganex.faces.parsing.BiSeNet",
        "num_classes": getattr(model, "n_classes", NUM_CLASSES),
        "n_keys": len(keys),
        "keys": keys,
    }


def _write_key_manifest(path: str | os.PathLike = KEY_MANIFEST_PATH) -> None:
    """Regenerate ``faceparsing_keys.json`` (developer helper)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(state_dict_manifest(), fh, indent=1)
        fh.write("\n")


# --------------------------------------------------------------------------------------------
# Checkpoint loading
# --------------------------------------------------------------------------------------------


def _read_checkpoint(path: Path) -> object:
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:  # noqa: BLE001 - report any parse failure with the file name
            raise InputError(f"Face parser checkpoint {path} could not be read as safetensors "
                             f"({type(exc).__name__}: truncated or not safetensors)") from exc
    from ..base.filetypes import safe_torch_load

    try:
        return safe_torch_load(str(path), InputError)
    except InputError as exc:
        raise InputError(f"Face parser checkpoint: {exc} (expected faceparsing.pth, a plain BiSeNet "
                         "state dict)") from exc


def _describe_wrong_checkpoint(obj: object) -> str | None:
    """Name what a checkpoint is when it is clearly not the face parser."""
    if not isinstance(obj, dict):
        return f"it holds a {type(obj).__name__}, not a state dict"
    keys = [k[len("module."):] if k.startswith("module.") else k for k in obj.keys() if isinstance(k, str)]
    if "state_dict" in obj and isinstance(obj["state_dict"], dict):
        inner = [str(k) for k in obj["state_dict"].keys()]
        if any(k.startswith(("encoder.", "decoder.")) for k in inner):
            return "it is a StyleGANEX/pSp checkpoint (encoder.*/decoder.* weights)"
        return None  # a wrapped state dict; unwrapped by the caller
    if "g_ema" in obj or ("g" in obj and "d" in obj):
        return "it is a StyleGAN2 generator checkpoint (g_ema)"
    if any(k.startswith(("encoder.", "decoder.")) for k in keys):
        return "it is a StyleGANEX/pSp state dict (encoder.*/decoder.* weights)"
    if any(k.startswith(("style.", "convs.", "to_rgbs.")) for k in keys):
        return "it is a StyleGAN2 generator state dict"
    if keys and not any(k.startswith("cp.") for k in keys):
        sample = ", ".join(keys[:3])
        return f"it has no BiSeNet context-path keys (cp.*); first keys: {sample}"
    return None


def _normalise_state_dict(obj: dict) -> dict[str, Tensor]:
    if "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    out = {}
    for k, v in obj.items():
        if not isinstance(k, str) or not isinstance(v, Tensor):
            continue
        if k.startswith("module."):  # saved from (Distributed)DataParallel
            k = k[len("module."):]
        out[k] = v
    return out


# --------------------------------------------------------------------------------------------
# Label helpers
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Parser front end
# --------------------------------------------------------------------------------------------


class FaceParser:
    """The released BiSeNet face parser, ready for inference.

    ``FaceParser()`` builds a randomly initialised network (tests); use :meth:`load` for the real one.
    """

    def __init__(self, model: BiSeNet | None = None, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.model = (model if model is not None else BiSeNet(NUM_CLASSES)).to(self.device).eval()
        self.num_classes = self.model.n_classes

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> "FaceParser":
        """Load ``faceparsing.pth`` (or a ``.safetensors`` copy of it) with strict key matching.

        Errors: ``FileNotFoundError`` naming the file when it is missing; ``ValueError`` naming the file
        and what it is when it is another checkpoint (e.g. a StyleGANEX ``.pt``) or does not match the
        BiSeNet keys/shapes.
        """
        p = Path(path).expanduser()
        if not p.is_file():
            raise FileNotFoundError(
                f"Face parser checkpoint not found: {p}. The mask2face pipeline needs the BiSeNet "
                f"face parser: {_DOWNLOAD_HINT}, and put it in the models folder (models/styleganex)."
            )
        obj = _read_checkpoint(p)
        what = _describe_wrong_checkpoint(obj)
        if what is not None:
            raise InputError(
                f"{p} is not the BiSeNet face parser checkpoint (faceparsing.pth): {what}. {_DOWNLOAD_HINT}."
            )
        sd = _normalise_state_dict(obj)  # type: ignore[arg-type]
        model = BiSeNet(NUM_CLASSES)
        expected = model.state_dict()
        # Checkpoints written by PyTorch < 0.4.1 have no BatchNorm counters: fill them in.
        for k, v in expected.items():
            if k.endswith(".num_batches_tracked") and k not in sd:
                sd[k] = torch.zeros_like(v)
        missing = [k for k in expected if k not in sd]
        unexpected = [k for k in sd if k not in expected]
        if missing or unexpected:
            raise InputError(
                f"{p} does not match the BiSeNet face parser (faceparsing.pth): "
                f"{len(missing)} missing key(s) {missing[:4]}, {len(unexpected)} unexpected key(s) "
                f"{unexpected[:4]}."
            )
        wrong = [
            f"{k}: {list(sd[k].shape)} != {list(v.shape)}" for k, v in expected.items() if sd[k].shape != v.shape
        ]
        if wrong:
            hint = ""
            if sd["conv_out.conv_out.weight"].shape[0] != NUM_CLASSES:
                hint = f" (the file predicts {sd['conv_out.conv_out.weight'].shape[0]} classes, expected {NUM_CLASSES})"
            raise InputError(f"{p} has BiSeNet keys with wrong shapes{hint}: {wrong[:4]}")
        sd = {k: v.to(expected[k].dtype) if v.is_floating_point() else v for k, v in sd.items()}
        model.load_state_dict(sd, strict=True)
        return cls(model, device)

    def to(self, device: str | torch.device) -> "FaceParser":
        self.device = torch.device(device)
        self.model.to(self.device)
        return self

    @torch.inference_mode()
    def logits(
        self,
        image: Tensor,
        scale: float = 2.0,
        size: int | tuple[int, int] | None = None,
    ) -> Tensor:
        """Class logits ``[B,19,H,W]`` at the input size (see :meth:`parse` for the arguments)."""
        if not isinstance(image, Tensor):
            raise TypeError(f"image must be a torch.Tensor, got {type(image).__name__}")
        if image.dim() != 4 or image.shape[1] != 3:
            raise InputError(f"image must have shape [B,3,H,W] (RGB, 0..1), got {list(image.shape)}")
        if image.shape[2] < 1 or image.shape[3] < 1:
            raise InputError(f"image is empty: {list(image.shape)}")
        h, w = image.shape[2], image.shape[3]
        x = image.to(device=self.device, dtype=torch.float32)
        mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        x = (x - mean) / std
        if size is not None:
            th, tw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
            if th < 32 or tw < 32:
                raise InputError(f"size must be at least 32, got {size}")
            if (th, tw) != (h, w):
                x = F.interpolate(x, size=(th, tw), mode="bilinear", align_corners=False,
                                  antialias=th < h or tw < w)
        elif scale != 1.0:
            if scale <= 0:
                raise InputError(f"scale must be > 0, got {scale}")
            th, tw = max(1, int(h * scale)), max(1, int(w * scale))
            x = F.interpolate(x, size=(th, tw), mode="bilinear", align_corners=False, antialias=scale < 1)
        out = self.model(x)
        if out.shape[2:] != (h, w):
            out = F.interpolate(out, size=(h, w), mode="nearest")
        return out

    def parse(
        self,
        image: Tensor,
        scale: float = 2.0,
        size: int | tuple[int, int] | None = None,
    ) -> Tensor:
        """Parse RGB faces ``[B,3,H,W]`` (float 0..1) into class ids ``[B,H,W]`` (int64, input size).

        * default (``scale=2.0``): the official StyleGANEX pre-processing — ImageNet normalisation,
          2x bilinear upsampling, network, logits back to the input size by nearest neighbour,
          arg-max. The official crops are at most 512x512, so the network sees at most 1024x1024.
        * ``size=512`` (or ``(h, w)``): run the network on a 512x512 bilinear resize instead (the
          face-parsing.PyTorch demo); ``scale`` is then ignored. Useful for large inputs.

        The result is on the input's device.
        """
        labels = self.logits(image, scale=scale, size=size).argmax(dim=1)
        return labels.to(image.device)

    __call__ = parse

