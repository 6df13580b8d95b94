"""Images in, images out: the steps every front end runs around the model.

>>> from styleganex.faces import CropInfo, prepare_face
>>> from styleganex.io.images import load_image
>>> photo = load_image("photo.jpg")                    # [3, H, W] in 0..1
>>> prepared = prepare_face(photo)                     # the crop and the aligned face
>>> crop = CropInfo.from_prepared([prepared], frames=photo[None])
>>> latent = encode_images(model, prepared.crop[None], prepared.aligned[None], crop=crop)
>>> latent = invert_images(model, prepared.crop[None], latent=latent, steps=500).latent  # doctest: +SKIP
>>> images = decode_latent(model, latent)              # [1, 3, 4h, 4w] in 0..1
>>> images.shape[-1] == 4 * prepared.crop.shape[-1]
True
>>> latent.crop.paste(images).shape                    # pasted back into the photo
torch.Size([1, 3, 512, 512])

Images here are batches ``[B, 3, H, W]`` in 0..1 (the face functions' convention); sides that are not
multiples of 8 are padded (edges repeated) before the model sees them, the padding is recorded in the
latent (``Latent.size_record``) and removed again by :func:`decode_latent`. Frames are encoded and
decoded one at a time, so memory stays at one frame. Long work reports ``progress(done, total, info)``
and stops with :class:`~styleganex.base.errors.Cancelled` when ``cancel()`` returns True.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..base.errors import InputError, check_cancel
from ..base.validation import check_finite, check_image, check_seed
from ..faces.crop_info import CropInfo
from ..model.generator import NOISE_MODES as GENERATOR_NOISE_MODES
from ..model.latent import Latent
from ..model.network import StyleGANEX
from ..model.padding import make_size_valid
from .inversion import InversionResult, optimize

__all__ = ["NOISE_MODES", "Rendered", "decode_latent", "encode_images", "invert_images", "render_latent"]

NOISE_MODES = ("auto", *GENERATOR_NOISE_MODES)
"""Decoder noise: the latent's optimised maps when it has them, else zero ("auto"); zero; random
(seeded); the checkpoint's stored maps."""


def _padded(images01: torch.Tensor):
    """``images01`` padded to multiples of 8 and the record (None when nothing was padded)."""
    check_image(images01, "images", ndims=(4,))
    padded, record = make_size_valid(images01, 8, "pad")
    return padded, (record if padded.shape != images01.shape else None)


def _aligned(aligned01: torch.Tensor | None, batch: int) -> torch.Tensor | None:
    if aligned01 is None:
        return None
    check_image(aligned01, "aligned", ndims=(4,))
    if aligned01.shape[0] == 1 and batch > 1:
        aligned01 = aligned01.expand(batch, -1, -1, -1)
    if aligned01.shape[0] != batch:
        raise InputError(f"{aligned01.shape[0]} aligned faces for {batch} images: give one per image (or one for all)")
    return aligned01 * 2 - 1


def _meta(model: StyleGANEX) -> dict:
    source = getattr(model, "source", None)
    return {"model": str(source) if source else model.variant, "variant": model.variant}


def encode_images(model: StyleGANEX, images01: torch.Tensor, aligned01: torch.Tensor | None = None, *,
                  crop: CropInfo | None = None, progress: Callable | None = None,
                  cancel: Callable | None = None) -> Latent:
    """Step I: encode face crops into the W+-F space.

    Args:
        model: an RGB or super-resolution model.
        images01: the crops ``[B, 3, H, W]`` in 0..1 (any size; padded to multiples of 8).
        aligned01: the FFHQ-aligned faces ``[B or 1, 3, h, w]`` in 0..1 giving w+; without them w+
            comes from the crops themselves.
        crop: where the crops came from, kept in the latent for paste-back.
        progress, cancel: called per image (see the module docstring).

    Returns:
        The :class:`Latent` (on the model's device) with ``crop``, ``size_record`` and ``meta`` set.
    """
    model.require_kind("rgb", "sr", task="encoding a photo")
    padded, size_record = _padded(images01)
    aligned = _aligned(aligned01, padded.shape[0])
    parts = []
    for b in range(padded.shape[0]):
        check_cancel(cancel)
        part = model.encode(padded[b:b + 1] * 2 - 1, None if aligned is None else aligned[b:b + 1])
        for t in (part.wplus, part.f):
            check_finite(t, f"encoding image {b}")
        parts.append(part)
        if progress is not None:
            progress(b + 1, padded.shape[0], {"stage": "encode"})
    latent = Latent.cat(parts)
    return Latent(latent.wplus, latent.f, latent.skips, None, crop, size_record, _meta(model))


def invert_images(model: StyleGANEX, images01: torch.Tensor, aligned01: torch.Tensor | None = None, *,
                  latent: Latent | None = None, crop: CropInfo | None = None, progress: Callable | None = None,
                  cancel: Callable | None = None, **options) -> InversionResult:
    """Step II: optimise w+, f and the noise maps so the decoded crops match ``images01``.

    Args:
        model: an RGB or super-resolution model.
        images01: the crops ``[B, 3, H, W]`` in 0..1.
        aligned01: aligned faces for the start when no ``latent`` is given (see :func:`encode_images`).
        latent: the starting latent (:func:`encode_images` of the same crops); it is not changed.
        crop: crop info for the result (default: the starting latent's).
        progress, cancel: called per step.
        options: those of :func:`styleganex.pipelines.inversion.optimize` (steps, lr, lpips_weight, mse_weight,
            noise_reg_weight, seed, lpips, ...).

    Returns:
        The :class:`~styleganex.pipelines.inversion.InversionResult`; its latent carries ``crop``, ``size_record``
        and the starting latent's ``meta`` plus the inversion settings.
    """
    model.require_kind("rgb", "sr", task="the inversion")
    padded, size_record = _padded(images01)
    if latent is not None:
        if latent.batch != padded.shape[0]:
            raise InputError(f"the latent holds {latent.batch} images but {padded.shape[0]} were given: "
                             "give the crops the latent was encoded from")
        if tuple(latent.f.shape[-2:]) != (padded.shape[-2] // 8, padded.shape[-1] // 8):
            raise InputError(f"the latent was encoded from an image of another size ({latent.f.shape[-1] * 8}x"
                             f"{latent.f.shape[-2] * 8} after padding, not {padded.shape[-1]}x{padded.shape[-2]}): "
                             "give the crops the latent was encoded from")
        start = latent.clone()
        aligned = None
    else:
        start, aligned = None, _aligned(aligned01, padded.shape[0])
    result = optimize(model, padded * 2 - 1, aligned, latent=start, progress=progress, cancel=cancel, **options)
    meta = {**(_meta(model) if latent is None else latent.meta), **result.latent.meta}
    out = result.latent
    for t in (out.wplus, out.f, *(out.noise or [])):
        check_finite(t, "the inversion (optimisation diverged: lower lr)")
    result.latent = Latent(out.wplus, out.f, out.skips, out.noise, crop or (latent.crop if latent else None),
                           size_record, meta)
    return result


@torch.no_grad()
def decode_latent(model: StyleGANEX, latent: Latent, noise: str = "auto", *, seed: int = 0,
                  progress: Callable | None = None, cancel: Callable | None = None) -> torch.Tensor:
    """Render a latent back to images, one frame at a time, with the padding removed.

    Args:
        model: the model that made the latent (or one with another generator, see ``swap_generator``).
        latent: what to render.
        noise: one of :data:`NOISE_MODES`.
        seed: the seed of ``noise="random"``.
        progress, cancel: called per frame.

    Returns:
        ``[B, 3, h, w]`` float32 in 0..1 on the CPU (4x the crops for the 1024 models).
    """
    if noise not in NOISE_MODES:
        raise InputError(f"noise must be one of {NOISE_MODES}, got {noise!r}")
    mode = None if noise == "auto" else noise
    generator = torch.Generator(device=model.device).manual_seed(check_seed(seed)) if noise == "random" else None
    outs = []
    for b in range(latent.batch):
        check_cancel(cancel)
        y = model.decode(latent.select(b), noise=mode, generator=generator).float()
        y = check_finite(y, f"decoding image {b}").clamp(-1, 1).cpu()
        if latent.size_record is not None:
            y = latent.size_record.undo(y)
        outs.append((y + 1) / 2)
        if progress is not None:
            progress(b + 1, latent.batch, {"stage": "decode"})
    return torch.cat(outs)


@dataclass
class Rendered:
    """What :func:`render_latent` gives."""

    images: torch.Tensor
    """``[N, 3, H, W]`` in 0..1: the photos with every face pasted back (N photos), or the decoded crops."""
    masks: torch.Tensor
    """``[N, 1, H, W]`` in 0..1: where ``images`` is the model's (1) and where the photo is untouched (0);
    all ones when nothing was pasted."""
    pasted: bool
    """Whether the faces were pasted back into their photos."""


def render_latent(model: StyleGANEX, latent: Latent, noise: str = "auto", *, seed: int = 0,
                  crop: CropInfo | None = None, frames: torch.Tensor | None = None, paste=None, parser=None,
                  progress: Callable | None = None, cancel: Callable | None = None) -> Rendered:
    """Decode a latent and, when asked, paste every face back into its photo: the one render step of the
    Decode node and of ``edit``.

    Args:
        model, latent, noise, seed, progress, cancel: as :func:`decode_latent`.
        crop: where the crops came from (default: the latent's own ``crop``).
        frames: the original photos ``[n_frames or 1, 3, H, W]`` in 0..1 to paste into (default: the
            frames the crop info carries).
        paste: a :class:`~styleganex.faces.PasteOptions` (mask shape, feather, erosion, colour matching);
            None decodes only.
        parser: a :class:`~styleganex.faces.parsing.FaceParser`: the face/head mask then follows the parsed
            faces of the photo and of the result instead of the landmarks (unused for the "crop" mask).

    Returns:
        :class:`Rendered`.

    Raises:
        InputError: ``paste`` given for a latent without crop info, or no photo to paste into.
    """
    images = decode_latent(model, latent, noise, seed=seed, progress=progress, cancel=cancel)
    if paste is None:
        return Rendered(images, torch.ones(images.shape[0], 1, *images.shape[-2:]), False)
    crop = latent.crop if crop is None else crop
    if crop is None:
        raise InputError("the latent has no crop record, so it cannot be pasted back into a photo; render it "
                         "without paste-back to get the crops")
    if frames is not None:
        crop = crop.with_frames(frames)
    if crop.frames is None:
        raise InputError("pasting back needs the original photos: give the frames (or crop info that carries them)")
    labels = None
    if parser is not None and paste.shape != "crop":
        from ..faces.paste import parse_for_paste

        labels = list(parse_for_paste(parser, crop.recut(), images))
    result = crop.composite(images, paste, labels=labels)
    return Rendered(result.frames, result.masks, True)
