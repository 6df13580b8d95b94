"""Image translation pipelines of the release: face super-resolution, sketch-to-face, mask-to-face.

>>> from styleganex.dev.testing import random_model
>>> sketch = torch.rand(1, 1, 64, 64)                         # [B, 1, H, W] in [0, 1]
>>> sketch_to_face(random_model("sketch2face"), sketch, number=4).shape   # 4 faces, 4x larger, in 0..1
torch.Size([4, 3, 256, 256])
>>> labels = torch.randint(0, 19, (1, 64, 64))                # class ids (or one-hot [B, 19, H, W])
>>> mask_to_face(random_model("mask2face"), labels, number=2).shape
torch.Size([2, 3, 256, 256])
>>> low = torch.rand(1, 3, 16, 16)                             # a face crop already, in 0..1
>>> aligned = torch.rand(1, 3, 256, 256)                      # (by default: aligned from the face found)
>>> super_resolve(random_model("sr"), low, factor=16, aligned01=aligned, crop=False).shape   # factor x the crop
torch.Size([1, 3, 256, 256])

With ``crop=True`` (default) the input is a photo that is cropped as the release does (eyes 64 px
apart, after upsampling), so the output has the crop's geometry.

What the official ``image_translation.py`` does, and what these functions reproduce:

* Super-resolution (``styleganex_sr.pt``: factors 4-48, ``styleganex_sr32.pt``: 32 only), input chain
  :func:`sr_inputs`. With ``degrade_factor`` (the release's default) the photo is cropped as every
  release script crops it (``faces.prepare_face``), the crop is degraded with the official bicubic
  downsampling (:func:`styleganex.pipelines.degradation.bicubic_downsample`) by ``degrade_factor`` (the release
  uses ``resize_factor // 4``), clipped to [0, 1], truncated to 8 bits (``ToPILImage``) and resized back
  with PIL's bicubic filter. Without it (``--use_raw_data``) the low-resolution photo is resized
  ``factor / 4`` times larger with PIL's bicubic filter and then cropped with the eyes 64 px apart. The
  aligned face x̃ is the FFHQ alignment of that upsampled crop with landmarks detected *on it*; the
  model encodes the upsampled crop (w+ from x̃, f and the fusion skip features from the crop) and
  decodes it 4x larger. ``crop=False`` takes images that are face crops already (output ``factor``
  times the low-resolution input).
* Sketch / mask to face: the encoder runs with BatchNorm on the statistics of the input itself
  (the release calls ``pspex.train()``; here :func:`styleganex.model.encoder.batch_statistics`, which leaves
  the model untouched), one input at a time as the release does (batch statistics depend on the
  batch), and w+ rows 8..n_latent-1 (``opts['latent_mask']``) are replaced by 0.7 x a mapped random
  style, one per sample.

Noise: the release decodes these with fresh random noise (``randomize_noise=True``). Here
``noise="random"`` draws it from a generator seeded by ``seed``, so a call is reproducible and never
touches the global RNG; ``"zero"`` and ``"stored"`` are also accepted.

Outputs are clamped to [-1, 1] as in the release.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from ..base.errors import InputError, check_cancel
from ..base.validation import MAX_SEED, UNIT, check_finite, check_image, check_seed
from ..faces.parsing import NUM_CLASSES, labels_to_onehot
from ..model.latent import Latent
from ..model.network import StyleGANEX
from ..model.padding import make_size_valid
from .degradation import bicubic_downsample, bicubic_weight

__all__ = ["super_resolve", "sr_inputs", "SRInputs", "sr_factors", "default_sr_factor", "release_degradation",
           "sketch_to_face", "mask_to_face", "sr_lowres", "pil_bicubic_resize", "latent_mask_rows",
           "center_crop_512", "SR_FACTOR_RANGE", "prepare_sketch"]

SR_FACTOR_RANGE = (4, 48)
"""Factors of the multi-factor SR model (``styleganex_sr.pt``), as stated in the release README."""

def _parse_int_list(value) -> list[int]:
    if value is None or value == "":
        return []
    if isinstance(value, (int, float)):
        return [int(value)]
    if isinstance(value, str):
        return [int(v) for v in value.replace(" ", "").split(",") if v]
    return [int(v) for v in value]


def sr_factors(model: StyleGANEX) -> tuple[int, int]:
    """The inclusive range ``(lo, hi)`` of super-resolution factors ``model`` supports.

    From ``opts['resize_factors']`` (the training downsampling factors; the output is 4x the
    upsampled input): a single factor ``k`` allows ``4k`` only (sr32: ``"8"`` -> 32); several allow
    the release's 4-48. Without that option: 32 for the ``sr32`` variant, else 4-48.
    Raises ``ModelKindError`` for a model that is not a super-resolution model.
    """
    model.require_kind("sr", task="super-resolution")
    factors = _parse_int_list(model.opts.get("resize_factors"))
    if len(factors) == 1:
        return (4 * factors[0], 4 * factors[0])
    if not factors and getattr(model, "variant", "") == "sr32":
        return (32, 32)
    return SR_FACTOR_RANGE


def default_sr_factor(model: StyleGANEX) -> int:
    """The factor used when none is given: 32 (the release's default) when the model supports it."""
    lo, hi = sr_factors(model)
    return 32 if lo <= 32 <= hi else lo


def release_degradation(model: StyleGANEX, factor: int | None = None) -> tuple[int, int]:
    """``(factor, degrade_factor)`` of the release's default SR mode for ``factor`` (default
    :func:`default_sr_factor`): the photo's face crop is degraded by ``factor // 4`` and brought back, so
    the output is 4x the crop."""
    degrade = max(1, int(default_sr_factor(model) if factor is None else factor) // 4)
    return 4 * degrade, degrade


def _check_factor(model: StyleGANEX, factor) -> int:
    lo, hi = sr_factors(model)
    if isinstance(factor, bool) or not isinstance(factor, (int, float, np.integer)) or int(factor) != factor:
        raise InputError(f"the super-resolution factor must be a whole number, got {factor!r}")
    factor = int(factor)
    if not lo <= factor <= hi:
        allowed = f"only {lo}" if lo == hi else f"{lo} to {hi}"
        raise InputError(f"this {getattr(model, 'variant', 'sr')} model supports super-resolution factors "
                         f"{allowed}, got {factor}")
    return factor


# ---- resampling as the release does it -----------------------------------------------------------
def _pil_weights(in_size: int, out_size: int, a: float = -0.5) -> torch.Tensor:
    """Resampling matrix [out, in] of PIL's bicubic ``Image.resize`` along one axis (a = -0.5,
    support 2 scaled by the shrink factor, window clipped to the image and renormalised)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 2.0 * filterscale
    centers = (torch.arange(out_size, dtype=torch.float64) + 0.5) * scale
    w = torch.zeros(out_size, in_size, dtype=torch.float64)
    for i in range(out_size):
        c = float(centers[i])
        lo = max(int(c - support + 0.5), 0)
        hi = min(int(c + support + 0.5), in_size)
        x = torch.arange(lo, hi, dtype=torch.float64)
        k = bicubic_weight((x - c + 0.5) / filterscale, a)
        total = float(k.sum())
        w[i, lo:hi] = k / total if total != 0 else k
    return w


def pil_bicubic_resize(image01: torch.Tensor, size: tuple[int, int], quantize: bool = True) -> torch.Tensor:
    """Resize ``[B, C, H, W]`` (values in 0..1) to ``size`` ``(h, w)`` as PIL's bicubic resize does.

    quantize: the image is rounded to 8 bits and resized by PIL itself (``Image.resize(..., BICUBIC)``,
    the release's call; 1 or 3 channels), else by the same arithmetic on floats: the horizontal pass,
    then the vertical one (other channel counts round each pass to 8 bits, as PIL does)."""
    h, w = int(size[0]), int(size[1])
    x = image01
    dtype = x.dtype
    if quantize and x.shape[1] in (1, 3):  # 8-bit images: PIL itself, as the release
        return torch.stack([_pil_resize_8bit(img, (h, w)) for img in x]).to(x.device, dtype)
    if quantize:
        x = torch.round(x.clamp(0, 1) * 255.0)
    if x.shape[-1] != w:
        wx = _pil_weights(x.shape[-1], w).to(x.device, torch.float64)
        x = torch.matmul(x.double(), wx.t()).to(dtype)
        if quantize:
            x = torch.floor(x + 0.5).clamp(0, 255)
    if x.shape[-2] != h:
        wy = _pil_weights(x.shape[-2], h).to(x.device, torch.float64)
        x = torch.matmul(wy, x.double()).to(dtype)
        if quantize:
            x = torch.floor(x + 0.5).clamp(0, 255)
    return x / 255.0 if quantize else x


def sr_lowres(image01: torch.Tensor, degrade_factor: int, quantize: bool = True) -> torch.Tensor:
    """The release's low-resolution input from a high-resolution face ``[B, 3, H, W]`` in 0..1:
    official bicubic downsampling by ``degrade_factor``, clipped to [0, 1], and (``quantize``)
    truncated to 8 bits as ``ToPILImage`` does."""
    low = bicubic_downsample(image01, int(degrade_factor)).clamp(0.0, 1.0)
    if quantize:
        low = torch.floor(low * 255.0) / 255.0
    return low


# ---- super-resolution ----------------------------------------------------------------------------
@dataclass(eq=False)
class SRInputs:
    """What the release feeds the SR model for one photo (all images ``[3, ., .]`` in 0..1).

    low: the low-resolution face (the degraded crop, or the given image for raw input).
    up: the upsampled input the encoder takes f and the skip features from (x1).
    aligned: ``[3, 256, 256]`` the FFHQ-aligned face that gives w+ (x2), or ``None`` (``align=False``).
    record: the crop in the photo (degraded input) or in the upsampled photo (raw input); ``None``
        without cropping.
    landmarks_source: ``"redetected"`` (x̃'s landmarks found on ``up``, as the release), ``"mapped"``
        (the given / crop landmarks: detection found nothing near them) or ``"none"`` (no x̃).
    """

    low: torch.Tensor
    up: torch.Tensor
    aligned: torch.Tensor
    record: object | None
    landmarks_source: str


def _pil_resize_8bit(image01: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """PIL's bicubic ``Image.resize`` of one image [C, H, W] (C = 1 or 3, 0..1) rounded to 8 bits."""
    from PIL import Image
    levels = (image01.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    if levels.shape[0] == 3:
        pil = Image.fromarray(levels.permute(1, 2, 0).numpy(), "RGB")
    else:
        pil = Image.fromarray(levels[0].numpy(), "L")
    out = np.array(pil.resize((int(size[1]), int(size[0])), Image.BICUBIC))
    out = torch.from_numpy(out).float() / 255.0
    return out.permute(2, 0, 1) if out.ndim == 3 else out[None]


def _pil_resize(image01: torch.Tensor, size: tuple[int, int], quantize: bool) -> torch.Tensor:
    """PIL's default ``Image.resize`` (bicubic) of [3, H, W] to ``size`` (h, w), as the release calls it."""
    return pil_bicubic_resize(image01[None], size, quantize)[0].to(image01.device)


def sr_inputs(image01: torch.Tensor, factor: int, degrade_factor: int | None = None, *, face=None,
              detector=None, crop: bool = True, quantize: bool = True, align: bool = True) -> SRInputs:
    """The release's SR input chain for one image ``[3, H, W]`` in 0..1 (``image_translation.py``).

    With ``degrade_factor`` (the release's default; it uses ``resize_factor // 4``): ``image`` is a
    high-resolution photo. It is cropped as every release script crops (``faces.prepare_face``: eyes
    64 px apart, ``cv2.resize``'s bilinear), the crop is degraded (the official bicubic downsampling
    by ``degrade_factor``, clipped, truncated to 8 bits), resized back to the crop's size with PIL's
    bicubic filter (``up``; ``factor / 4`` times ``low`` when ``factor != 4 * degrade_factor``), and
    x̃ is the FFHQ alignment of ``up`` with landmarks detected on ``up``.

    Without it (the release's ``--use_raw_data``): ``image`` is the low-resolution photo. It is
    resized ``factor / 4`` times larger with PIL's bicubic filter, the face is found on that and
    cropped as above (eyes 64 px apart), and x̃ is the aligned crop. The output (4x ``up``) therefore
    has the crop's geometry, not ``factor`` times the input (a 64 x 64 photo at x16 can give 1632 x 1952).

    crop: False skips the cropping: ``image`` is already a face crop (e.g. from Face Crop); ``up`` is
        ``image`` degraded and resized back, or resized ``factor / 4`` times; output ``factor`` x input.
    face: the face in ``image``'s pixels (``faces.Face`` or (68, 2) landmarks): with ``crop`` it is
        the face to crop (instead of detecting it); x̃'s landmarks are still detected on ``up``, near it.
    quantize: 8-bit images between the steps, as the release's PIL images.
    align: False skips x̃ where it is not part of the crop (``aligned`` is then ``None`` and
        ``landmarks_source`` ``"none"``), for callers that bring their own.
    """
    from ..faces import prepare_face

    check_image(image01[None], "image", channels=3, value_range=UNIT, ndims=(4,))
    record, source = None, "redetected"
    if degrade_factor is not None:
        if crop:
            prepared = prepare_face(image01, None if face is None else _as_face(face), detector=detector)
            image01, record = prepared.crop, prepared.record
            face = _crop_face(prepared)
        low = sr_lowres(image01[None], degrade_factor, quantize)[0]
        h, w = image01.shape[-2:]
        target = (h, w) if factor == 4 * degrade_factor else (low.shape[-2] * factor // 4, low.shape[-1] * factor // 4)
        if min(target) < 8:
            raise InputError(f"image {h}x{w} is too small: its upsampled input would be {target[0]}x{target[1]}")
        up = _pil_resize(low, target, quantize)
        if not align:
            return SRInputs(low, up, None, record, "none")
        if face is not None and tuple(target) != (h, w):
            face = _as_face(face).resized((h, w), target)
        aligned, source = _aligned_and_source(up, face, detector)
        return SRInputs(low, up, aligned, record, source)
    low = torch.round(image01 * 255) / 255 if quantize else image01
    h, w = image01.shape[-2:]
    target = (h * factor // 4, w * factor // 4)
    if min(target) < 8:
        raise InputError(f"image {h}x{w} is too small: its upsampled input would be {target[0]}x{target[1]}")
    up = _pil_resize(low, target, quantize)
    if face is not None:
        face = _as_face(face).resized((h, w), target)
    if crop:
        prepared = prepare_face(up, face, detector=detector)
        return SRInputs(low, prepared.crop, prepared.aligned, prepared.record, prepared.landmarks_source)
    if not align:
        return SRInputs(low, up, None, None, "none")
    aligned, source = _aligned_and_source(up, face, detector)
    return SRInputs(low, up, aligned, None, source)


def _crop_face(prepared):
    """The face of a ``PreparedFace`` in crop pixels (the landmarks its alignment used)."""
    from ..faces import Face
    return Face.from_landmarks(prepared.landmarks)



def _faces_for_batch(face, batch: int) -> list:
    if face is None:
        return [None] * batch
    from ..faces import Face
    per_image = isinstance(face, (list, tuple)) and all(
        f is None or isinstance(f, Face) or np.asarray(f).shape == (68, 2) for f in face)
    if per_image:
        if len(face) != batch:
            raise InputError(f"face lists {len(face)} faces for {batch} images")
        return list(face)
    return [face] * batch


def _as_face(face):
    from ..faces import Face
    if isinstance(face, Face):
        return face
    return Face.from_landmarks(np.asarray(face, dtype=np.float64))


def _aligned_and_source(up01: torch.Tensor, face, detector) -> tuple[torch.Tensor, str]:
    from ..faces import align_crop, detect_face
    if face is None:
        face = detect_face(up01, detector)
        aligned, _, _ = align_crop(up01, face, redetect=False)
        return aligned, "redetected"
    aligned, _, source = align_crop(up01, _as_face(face), detector=detector)
    return aligned, source


def _noise_generator(model: StyleGANEX, seed: int):
    return torch.Generator(device=model.device).manual_seed(int(seed) % (MAX_SEED + 1))


def _sr_render(model: StyleGANEX, x1: torch.Tensor, aligned: torch.Tensor, noise="random",
               generator=None) -> torch.Tensor:
    """The release's SR forward: w+ from the aligned face, f and skip features from the upsampled
    input ``x1`` [B,3,H,W] in [-1,1] (multiples of 8), decoded (4x at 1024). Not clamped."""
    latent = model.encode(x1, aligned, skips=True)
    return model.decode(latent, noise=noise, generator=generator)


@torch.no_grad()
def super_resolve(model: StyleGANEX, images01: torch.Tensor, factor: int | None = None,
                  degrade_factor: int | None = None, *, aligned01: torch.Tensor | None = None, face=None,
                  detector=None, noise: str = "random",
                  seed: int = 0, quantize: bool = True, crop: bool = True,
                  progress: Callable | None = None, cancel: Callable | None = None) -> torch.Tensor:
    """Super-resolve faces as the release does (:func:`sr_inputs`, then the model). Returns
    [B, 3, H', W'] in 0..1: 4x the upsampled input ``up``.

    images01: [B, 3, h, w] in 0..1. With ``degrade_factor``: high-resolution photo(s), cropped (unless
        ``crop=False``) and degraded by ``degrade_factor`` (the release uses ``resize_factor // 4``);
        the output is 4x the crop. Without: low-resolution photo(s), upsampled ``factor / 4`` times
        and then (unless ``crop=False``) cropped with the eyes 64 px apart, as the release's
        ``--use_raw_data``: the output is 4x that crop. ``crop=False``: the images are face crops
        already; the output is ``factor`` times the low-resolution image.
    factor: sr model: 4..48 (default 32); sr32: 32 only. With ``degrade_factor`` it defaults to
        ``4 * degrade_factor``.
    aligned01: optional x̃ [B, 3, h', w'] in 0..1; by default the FFHQ alignment of ``up`` with the
        landmarks detected on it (the face nearest ``face`` when given: a ``faces.Face`` or (68, 2)
        points in ``image``'s pixels, or a list of them, one per image).
    noise, seed: decoder noise ("random" from a generator seeded by ``seed``, "zero", "stored").
    quantize: 8-bit images between the steps, as the release's PIL images.
    With ``crop`` every image of a batch gets its own crop; they must come out the same size (else
    pass the images one at a time). Upsampled inputs whose sides are not multiples of 8 are padded
    (edges replicated) and the padding is removed from the output again.
    """
    model.require_kind("sr", task="super_resolve")
    check_image(images01, "image", channels=3, value_range=UNIT, ndims=(4,))
    b = images01.shape[0]
    img01 = images01.float().clamp(0, 1)
    if degrade_factor is not None:
        if isinstance(degrade_factor, bool) or int(degrade_factor) != degrade_factor or degrade_factor < 1:
            raise InputError(f"degrade_factor must be a positive whole number, got {degrade_factor!r}")
        degrade_factor = int(degrade_factor)
        factor = _check_factor(model, 4 * degrade_factor if factor is None else factor)
    else:
        factor = _check_factor(model, factor if factor is not None else default_sr_factor(model))
    if aligned01 is not None:
        check_image(aligned01, "aligned", channels=3, value_range=UNIT, ndims=(4,))
        if aligned01.shape[0] != b:
            raise InputError(f"aligned has {aligned01.shape[0]} images, image has {b}")

    faces = _faces_for_batch(face, b)
    ups, xs = [], []
    for i in range(b):
        check_cancel(cancel)
        inputs = sr_inputs(img01[i], factor, degrade_factor, face=faces[i], detector=detector, crop=crop,
                           quantize=quantize, align=aligned01 is None)
        ups.append(inputs.up)
        xs.append((inputs.aligned if aligned01 is None else aligned01[i].float()) * 2 - 1)
    if len({tuple(u.shape) for u in ups}) > 1:
        sizes = ", ".join(f"{u.shape[-1]}x{u.shape[-2]}" for u in ups)
        raise InputError(f"the {b} images give crops of different sizes ({sizes}); "
                         "super-resolve them one at a time, or pass crop=False for images that are face crops already")
    x1, size_record = make_size_valid(torch.stack(ups) * 2 - 1, 8, "pad")
    aligned = torch.stack(xs)
    generator = _noise_generator(model, check_seed(seed)) if noise == "random" else None
    outs = []
    for i in range(b):  # one image at a time: memory stays at one output
        check_cancel(cancel)
        y = check_finite(_sr_render(model, x1[i:i + 1], aligned[i:i + 1], noise, generator),
                         f"super-resolution of image {i}").clamp(-1, 1)
        outs.append(((size_record.undo(y) + 1) / 2).to(images01.device))
        if progress is not None:
            progress(i + 1, b, {"stage": "super_resolve"})
    return torch.cat(outs)


# ---- sketch / mask to face ------------------------------------------------------------------------
def center_crop_512(x: torch.Tensor) -> torch.Tensor:
    """The release web UI's crop of large sketches / parsing maps ``[..., H, W]``: a side over 513 px
    keeps its central 512 px (bounds floored to multiples of 8); smaller sides are kept whole."""
    h, w = x.shape[-2:]
    if h > 513:
        x = x[..., (h // 2 - 256) // 8 * 8:(h // 2 + 256) // 8 * 8, :]
    if w > 513:
        x = x[..., (w // 2 - 256) // 8 * 8:(w // 2 + 256) // 8 * 8]
    return x


def prepare_sketch(image01: torch.Tensor, crop: bool = True) -> torch.Tensor:
    """A sketch for :func:`sketch_to_face` from an image or a mask: the one sketch preparation of every front end.

    Args:
        image01: ``[B, C, H, W]`` or ``[C, H, W]`` in 0..1 with 1, 3 or 4 channels (an alpha channel is
            dropped). A grey image (equal colour channels) gives its first channel, as the release's web UI
            reads sketches; a coloured one gives the mean of its colour channels.
        crop: the release web UI's centre crop of large sketches (:func:`center_crop_512`).

    Returns:
        ``[B, 1, H', W']`` in 0..1.

    >>> prepare_sketch(torch.ones(3, 600, 300) * 0.5).shape   # the 600 px side keeps its central 512
    torch.Size([1, 1, 512, 300])
    """
    x = image01[None] if isinstance(image01, torch.Tensor) and image01.ndim == 3 else image01
    check_image(x, "sketch", channels=None, value_range=UNIT, ndims=(4,))
    if x.shape[1] not in (1, 3, 4):
        raise InputError(f"a sketch has 1, 3 or 4 channels, got {x.shape[1]}")
    colour = x[:, :3].float()
    grey = bool((colour == colour[:, :1]).all())
    sketch = colour[:, :1] if grey else colour.mean(dim=1, keepdim=True)
    return center_crop_512(sketch) if crop else sketch


def latent_mask_rows(model: StyleGANEX) -> list[int]:
    """The w+ rows replaced by random styles: ``opts['latent_mask']`` (those below n_latent), else 8.."""
    rows = _parse_int_list(model.opts.get("latent_mask"))
    rows = [r for r in rows if 0 <= r < model.n_latent] if rows else list(range(8, model.n_latent))
    return rows


def _inject(wplus: torch.Tensor, inject: torch.Tensor, rows: Sequence[int]) -> torch.Tensor:
    out = wplus.clone()
    idx = torch.as_tensor(list(rows), dtype=torch.long, device=out.device)
    out[:, idx] = inject.to(out)[:, idx]
    return out


def _translate_render(model: StyleGANEX, x: torch.Tensor, inject: torch.Tensor, rows: Sequence[int], noise="random",
                      generator=None) -> torch.Tensor:
    """The release's sketch/mask forward for ONE input ``x`` [1, C, H, W] and ``n`` injected w+
    ``inject`` [n, n_latent, S]: encoder on batch statistics, masked rows replaced, decoded.
    Returns [n, 3, ...] (not clamped)."""
    latent = model.encode(x, batch_stats=True, skips=True)  # batch_statistics(), model untouched
    n = inject.shape[0]
    rep = lambda t: t.expand(n, *t.shape[1:])  # noqa: E731
    latent = Latent(wplus=_inject(rep(latent.wplus), inject, rows), f=rep(latent.f),
                    skips=None if latent.skips is None else [rep(s) for s in latent.skips])
    return model.decode(latent, noise=noise, generator=generator)


def _multimodal(model: StyleGANEX, x: torch.Tensor, number: int, seed: int, noise, progress, cancel, what: str):
    if isinstance(number, bool) or int(number) != number or number < 1:
        raise InputError(f"number must be a positive whole number, got {number!r}")
    number = int(number)
    x, size_record = make_size_valid(x, 8, "pad")
    h, w = x.shape[-2:]
    if math.ceil(h / 16) * math.ceil(w / 16) < 2:
        raise InputError(f"the {what.split('_')[0]} is too small ({h}x{w} after padding to multiples of 8): "
                         "the encoder's batch statistics need at least 16x32 pixels")
    rows = latent_mask_rows(model)
    seed = check_seed(seed)
    g = torch.Generator().manual_seed(seed)  # a CPU generator: same styles on every device
    styles = model.mixing_styles(number, generator=g)
    noise_gen = _noise_generator(model, seed + 1) if noise == "random" else None
    outs, total, done = [], x.shape[0] * number, 0
    for b in range(x.shape[0]):  # one input at a time: BatchNorm statistics of that input alone
        for s in range(0, number, 4):
            check_cancel(cancel)
            y = _translate_render(model, x[b:b + 1], styles[s:s + 4], rows, noise, noise_gen)
            y = check_finite(y, f"{what} of input {b}").clamp(-1, 1)
            outs.append((size_record.undo(y) + 1) / 2)
            done += y.shape[0]
            if progress is not None:
                progress(done, total, {"stage": what})
    return torch.cat(outs)


@torch.no_grad()
def sketch_to_face(model: StyleGANEX, sketch: torch.Tensor, number: int = 1, seed: int = 0, *, noise: str = "random",
                   progress: Callable | None = None, cancel: Callable | None = None) -> torch.Tensor:
    """Faces from sketches with the sketch2face model: ``number`` samples per sketch.

    sketch: [B, 1, H, W] in [0, 1] (not normalised, as released; see :func:`prepare_sketch`). Returns
    [B*number, 3, 4H, 4W] (at 1024) in 0..1, ordered input-major (sample k of input b at ``b*number + k``). Sample k
    uses the k-th style drawn from ``seed`` for every input, so a seed reproduces its results.
    """
    model.require_kind("sketch", task="sketch_to_face")
    if isinstance(sketch, torch.Tensor) and sketch.ndim == 4 and sketch.shape[1] in (3, 4):
        raise InputError(f"the sketch must be one channel [B, 1, H, W] in [0, 1], got an RGB image "
                         f"{tuple(sketch.shape)}; take one channel (sketch[:, :1]) or its mean")
    if isinstance(sketch, torch.Tensor) and sketch.ndim == 3:
        raise InputError(f"the sketch must be [B, 1, H, W], got {tuple(sketch.shape)}; add the channel "
                         "dimension with sketch.unsqueeze(1)")
    check_image(sketch, "sketch", channels=1, value_range=(0.0, 1.0), ndims=(4,))
    return _multimodal(model, sketch.float(), number, seed, noise, progress, cancel, "sketch_to_face")


def _mask_onehot(mask: torch.Tensor) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.Tensor (label map [B, H, W] or one-hot [B, 19, H, W]), "
                        f"got {type(mask).__name__}")
    if mask.ndim == 4 and mask.shape[1] == NUM_CLASSES and mask.is_floating_point():
        check_image(mask, "mask", channels=NUM_CLASSES, value_range=(0.0, 1.0), ndims=(4,))
        return mask.float()
    if mask.ndim == 4 and mask.shape[1] in (3, 4):
        raise InputError(f"mask_to_face takes a label map [B, H, W] of class ids 0..18 or a one-hot map "
                         f"[B, 19, H, W], not an RGB image {tuple(mask.shape)}: parse a photo with "
                         "styleganex.faces.parsing.FaceParser, or read a colour mask with "
                         "styleganex.faces.parsing.label_image_to_labels")
    if mask.ndim == 4 and mask.shape[1] != 1:
        raise InputError(f"mask must be a label map [B, H, W] or a one-hot map [B, 19, H, W], got "
                         f"{tuple(mask.shape)}")
    return labels_to_onehot(mask, NUM_CLASSES)


@torch.no_grad()
def mask_to_face(model: StyleGANEX, mask: torch.Tensor, number: int = 1, seed: int = 0, *, noise: str = "random",
                 progress: Callable | None = None, cancel: Callable | None = None) -> torch.Tensor:
    """Faces from face-parsing maps with the mask2face model: ``number`` samples per map.

    mask: class ids [B, H, W] (or [B, 1, H, W]; integers 0..18, the BiSeNet classes of
    ``styleganex.faces.parsing``) or a one-hot map [B, 19, H, W]. Returns [B*number, 3, 4H, 4W] (at 1024)
    in 0..1, ordered as :func:`sketch_to_face`.
    """
    model.require_kind("mask", task="mask_to_face")
    if model.config.input_nc != NUM_CLASSES:
        raise InputError(f"this model takes {model.config.input_nc}-channel label maps, not the "
                         f"{NUM_CLASSES}-class parsing maps of the release")
    onehot = _mask_onehot(mask)
    return _multimodal(model, onehot, number, seed, noise, progress, cancel, "mask_to_face")
