"""Step II of the two-step inversion: optimise w+, f and the noise maps of one or more frames.

>>> frame = torch.rand(1, 3, 32, 40) * 2 - 1                  # [B, 3, H, W] in [-1, 1]
>>> result = optimize(model, frame, steps=500, seed=0)     # doctest: +SKIP
>>> result = optimize(model, frame, steps=3, seed=0, lpips_weight=0.0, mse_weight=1.0)
>>> result.steps_run, len(result.latent.noise) == model.decoder.num_layers
(3, True)
>>> model.decode(result.latent, noise=None).shape          # noise=None uses the optimised noise maps
torch.Size([1, 3, 128, 160])

As in the official ``latent_optimization.py``: start from the encoder (Step I: w+ from the aligned
face, f from the frame); Adam (lr 0.05, ``lr_schedule``: linear ramp-up over 5 %, cosine ramp-down
over the last 25 %) on w+, f and one noise map per generator layer, each map at the real size of its
layer for this frame; Gaussian noise of strength ``std(w) * latent_noise * max(0, 1 - t/0.75)^2`` on
w+ (``std(w)`` from 1000 mapped random styles, ``latent_noise`` = 0.05 * 0.2 as released); loss =
LPIPS(VGG, v0.1) between the output box-averaged to the input size and the input, plus
``noise_reg_weight * noise_regularize``; noise maps renormalised after each step. Pixel (MSE) and
identity losses are options (weight 0 by default).

Differences from the official code: all randomness comes from one seeded ``torch.Generator``; the
frames of a batch are optimised independently (the noise regularisation and renormalisation are
done per frame; for one frame this is exactly the official computation); the returned w+ is the
final optimised one (the official code returns the last noised copy, which equals it once the
latent noise has decayed, up to the last step's tiny update).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..base.errors import Cancelled, InputError, check_cancel
from ..base.validation import check_seed
from ..model.latent import Latent
from ..model.network import StyleGANEX

__all__ = [
    "Cancelled",
    "InversionResult",
    "latent_std",
    "lr_schedule",
    "noise_normalize_",
    "noise_regularize",
    "noise_sizes",
    "optimize",
]

STEPS = 500
"""Optimisation steps of the release's inversion."""
LR = 0.05
"""Peak learning rate of the release (Adam, ramped up and down)."""
LPIPS_WEIGHT = 1.0
NOISE_REG_WEIGHT = 1e3
"""Weight of the noise regularisation, as released."""
LATENT_NOISE = 0.05 * 0.2
"""Strength of the latent noise relative to std(w), as released (``noise_weight = 0.05 * 0.2``)."""
NOISE_RAMP = 0.75
"""The latent noise decays as ``max(0, 1 - t / NOISE_RAMP) ** 2`` and is gone after 75 % of the steps."""


def lr_schedule(t: float, initial_lr: float, rampdown: float = 0.25, rampup: float = 0.05) -> float:
    """Learning rate at progress t in [0, 1]: linear ramp-up over the first ``rampup``, cosine
    ramp-down over the last ``rampdown``."""
    ramp = min(1.0, (1.0 - t) / rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return initial_lr * ramp * min(1.0, t / rampup)


def noise_regularize(noises) -> torch.Tensor:
    """Sum over noise maps and a bilinear x0.5 pyramid (while the side is > 8) of the squared mean
    autocorrelation with a one-pixel shift along x and along y."""
    loss = 0.0
    for noise in noises:
        size = noise.shape[2]
        while True:
            loss = loss + (noise * torch.roll(noise, 1, dims=3)).mean().pow(2) \
                + (noise * torch.roll(noise, 1, dims=2)).mean().pow(2)
            if size <= 8:
                break
            noise = F.interpolate(noise, scale_factor=0.5, mode="bilinear")
            size //= 2
    return loss


@torch.no_grad()
def noise_normalize_(noises) -> None:
    """In place: each noise map to zero mean and unit (unbiased) standard deviation."""
    for noise in noises:
        noise.sub_(noise.mean()).div_(noise.std())


# ---- Step II ---------------------------------------------------------------------------------
@dataclass
class InversionResult:
    """latent: the optimised ``Latent`` (wplus, f, noise maps; skips and crop carried over);
    history: the total loss of every step run; steps_run: how many steps ran (fewer than asked
    when early stopping triggered)."""

    latent: Latent
    history: list = field(default_factory=list)
    steps_run: int = 0

    @property
    def stopped_early(self) -> bool:
        return bool(self.latent.meta.get("inversion", {}).get("stopped_early", False))


def noise_sizes(model: StyleGANEX, f_size: tuple[int, int]) -> list[tuple[int, int]]:
    """(h, w) of the noise map of every generator layer for a first-layer feature of ``f_size``.

    Layer i has the nominal resolution r = 2^((i+5)//2); the dilated levels (r <= 32) run at the
    size of f, the others at ``f_size * r / 32``: the official ``max(H*32/256, H*r/256)`` for a
    1024 model and an H x W frame (f is H/8 x W/8).
    """
    fh, fw = int(f_size[0]), int(f_size[1])
    sizes = []
    for i in range(model.decoder.num_layers):
        m = max(1, 2 ** ((i + 5) // 2) // 32)
        sizes.append((fh * m, fw * m))
    return sizes


@torch.no_grad()
def latent_std(model: StyleGANEX, n: int = 1000, generator: torch.Generator | None = None) -> float:
    """Spread of the mapped style distribution, as the official code measures it:
    sqrt(sum((w - mean(w))^2) / n) over ``n`` mapped standard-normal z."""
    device, dtype = model.device, model.dtype
    z = torch.randn(n, model.config.style_dim, generator=generator).to(device, dtype)
    w = model.decoder.style(z)
    return float(((w - w.mean(0)).pow(2).sum() / n).sqrt())


@contextlib.contextmanager
def _frozen(*modules):
    """Parameters of ``modules`` without gradients inside the block; flags restored afterwards."""
    saved = [(p, p.requires_grad) for m in modules if m is not None for p in m.parameters()]
    try:
        for p, _ in saved:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in saved:
            p.requires_grad_(flag)


def box_average(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Average ``factor x factor`` blocks so that ``image`` gets ``size`` (the official reshape-mean)."""
    h, w = image.shape[-2:]
    if (h, w) == tuple(size):
        return image
    fh, fw = h // size[0], w // size[1]
    if fh != fw or fh * size[0] != h or fw * size[1] != w:
        raise InputError(f"the output {h}x{w} is not a whole multiple of the frame {size[0]}x{size[1]}")
    return F.avg_pool2d(image, fh)


def _perceptual(lpips):
    from .lpips import Perceptual, load_lpips

    if lpips is None:
        lpips = load_lpips()
    if isinstance(lpips, Perceptual):
        lpips = lpips.net
    return Perceptual(lpips)


def _check_options(steps, lr, lpips_weight, mse_weight, id_weight, id_loss, noise_reg_weight,
                   latent_noise, early_stop_patience):
    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
        raise InputError(f"steps must be a positive whole number, got {steps!r}")
    for name, v in (("lr", lr), ("lpips_weight", lpips_weight), ("mse_weight", mse_weight),
                    ("id_weight", id_weight), ("noise_reg_weight", noise_reg_weight),
                    ("latent_noise", latent_noise)):
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise InputError(f"{name} must be a finite number >= 0, got {v!r}")
    if lr <= 0:
        raise InputError(f"lr must be > 0, got {lr!r}")
    if id_weight > 0 and not callable(id_loss):
        raise InputError("id_weight > 0 needs id_loss: a callable (output, target) -> loss per image, "
                         "both [B, 3, H, W] in [-1, 1]")
    if lpips_weight == 0 and mse_weight == 0 and id_weight == 0:
        raise InputError("all image losses have weight 0: set lpips_weight, mse_weight or id_weight")
    if early_stop_patience is not None and (isinstance(early_stop_patience, bool)
                                            or not isinstance(early_stop_patience, int)
                                            or early_stop_patience < 1):
        raise InputError(f"early_stop_patience must be None or a whole number >= 1, got {early_stop_patience!r}")


def _start_noise(model, start: Latent, sizes, generator, device, dtype):
    batch = start.batch
    if start.noise is not None:
        if len(start.noise) != len(sizes):
            raise InputError(f"the latent carries {len(start.noise)} noise maps, this model has "
                             f"{len(sizes)} layers")
        maps = []
        for i, (n, s) in enumerate(zip(start.noise, sizes)):
            if n.ndim != 4 or n.shape[1] != 1 or tuple(n.shape[2:]) != s or n.shape[0] not in (1, batch):
                raise InputError(f"noise map {i} is {tuple(n.shape)}, expected [{batch}, 1, {s[0]}, {s[1]}]")
            maps.append(n.detach().to(device, dtype).expand(batch, -1, -1, -1).clone())
        return maps
    return [torch.randn(batch, 1, h, w, generator=generator).to(device, dtype) for h, w in sizes]


def _per_frame(noises, batch):
    return [n[b:b + 1] for b in range(batch) for n in noises]


def optimize(model: StyleGANEX, frame: torch.Tensor, aligned: torch.Tensor | None = None, latent: Latent | None = None,
             steps: int = STEPS, lr: float = LR, lpips_weight: float = LPIPS_WEIGHT, mse_weight: float = 0.0,
             id_weight: float = 0.0, id_loss=None, noise_reg_weight: float = NOISE_REG_WEIGHT,
             latent_noise: float = LATENT_NOISE, early_stop_patience: int | None = None,
             seed: int | None = None, progress=None, cancel=None, lpips=None,
             autocast: bool = False) -> InversionResult:
    """Step II inversion of ``frame`` [B, 3, H, W] in [-1, 1] (H, W multiples of 8).

    aligned: the FFHQ-aligned faces [B, 3, h, w] giving the starting w+ (Step I); ignored when
        ``latent`` (a starting ``Latent``, e.g. from ``model.encode`` or an earlier inversion whose
        noise maps are then reused) is given.
    steps, lr: Adam steps and peak learning rate (``lr_schedule``).
    lpips_weight, mse_weight, id_weight/id_loss: image losses against the frame; ``id_loss`` is a
        callable (output, frame) -> [B] or scalar, both in [-1, 1].
    noise_reg_weight: weight of ``noise_regularize``; latent_noise: latent noise strength / std(w).
    early_stop_patience: stop when the loss has not improved for this many steps (None: never).
    seed: seeds the one ``torch.Generator`` used for all randomness (same seed, same CPU result).
    progress(done, total, info) after each step; cancel() -> True stops before the next step with
        :class:`Cancelled` (nothing is returned; the model is never changed).
    lpips: an ``lpips.LPIPS`` module or ``Perceptual`` (default: ``load_lpips()``, real VGG weights).
    autocast: run the generator and LPIPS forward in bfloat16 autocast (for CUDA; the optimised
        latents, the optimiser and the losses stay float32). Off by default: fp32 as released.

    Returns an :class:`InversionResult`; decode its latent with ``model.decode(latent, noise=None)``.
    Works inside ``torch.no_grad()`` / ``torch.inference_mode()`` too (e.g. in ComfyUI nodes).
    """
    with torch.inference_mode(False), torch.enable_grad():
        return _optimize(model, frame, aligned, latent, steps, lr, lpips_weight, mse_weight, id_weight,
                         id_loss, noise_reg_weight, latent_noise, early_stop_patience, seed, progress,
                         cancel, lpips, autocast)


def _optimize(model, frame, aligned, latent, steps, lr, lpips_weight, mse_weight, id_weight, id_loss,
              noise_reg_weight, latent_noise, early_stop_patience, seed, progress, cancel, lpips,
              autocast):
    _check_options(steps, lr, lpips_weight, mse_weight, id_weight, id_loss, noise_reg_weight,
                   latent_noise, early_stop_patience)
    if model.is_label_model:
        raise InputError(f"this is a {model.variant} model (sketch/mask input): Step II inversion "
                         "needs an RGB model, e.g. styleganex_inversion.pt")
    frame = model.check_frame(frame)
    device, dtype = model.device, model.dtype
    frame = frame.detach().to(device, dtype).clone()  # clone: a normal tensor even from inference mode
    batch, _, height, width = frame.shape
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(check_seed(seed))

    perceptual = _perceptual(lpips) if lpips_weight > 0 else None
    lp_module = perceptual.net if perceptual is not None else None
    id_module = id_loss if isinstance(id_loss, torch.nn.Module) else None
    amp = (torch.autocast(device.type, dtype=torch.bfloat16) if autocast
           else contextlib.nullcontext())
    with _frozen(model, lp_module, id_module):
        # ---- constants, computed once -------------------------------------------------------
        with torch.no_grad():
            if latent is None:
                start = model.encode(frame, aligned)
            else:
                if not isinstance(latent, Latent):
                    raise TypeError(f"latent must be a styleganex.Latent, got {type(latent).__name__}")
                latent.check_compatible(model)
                if latent.batch != batch:
                    raise InputError(f"batch mismatch: the frame has {batch} images, the latent {latent.batch}")
                start = latent
            if tuple(start.f.shape[2:]) != (height // 8, width // 8):
                raise InputError(f"the latent's f is {tuple(start.f.shape[2:])}, which does not fit a "
                                 f"{height}x{width} frame (expected {height // 8}x{width // 8})")
            std = latent_std(model, generator=generator)
            if perceptual is not None:
                perceptual = perceptual.to(device)
                perceptual.set_target(frame)
        sizes = noise_sizes(model, start.f.shape[2:])
        noises = _start_noise(model, start, sizes, generator, device, dtype)
        wplus = start.wplus.detach().to(device, dtype).clone().requires_grad_(True)
        f = start.f.detach().to(device, dtype).clone().requires_grad_(True)
        for n in noises:
            n.requires_grad_(True)
        skips = None if start.skips is None else [s.detach().to(device, dtype).clone() for s in start.skips]
        optimizer = torch.optim.Adam([wplus, f, *noises], lr=lr)

        history: list[float] = []
        best, since_best, stopped_early = math.inf, 0, False
        for i in range(steps):
            check_cancel(cancel)
            t = i / steps
            step_lr = lr_schedule(t, lr)
            for group in optimizer.param_groups:
                group["lr"] = step_lr
            strength = std * latent_noise * max(0.0, 1.0 - t / NOISE_RAMP) ** 2
            w_in = wplus
            if strength > 0:
                w_in = wplus + torch.randn(wplus.shape, generator=generator).to(device, dtype) * strength

            parts = {}  # detached loss terms, read back in one host sync after the step
            with amp:
                out = model.synthesize(Latent(w_in, f, skips=skips, noise=noises), noise=None)
                out = box_average(out, (height, width)).float()
                per_image = torch.zeros(batch, device=device, dtype=out.dtype)
                if perceptual is not None:
                    p_loss = perceptual(out).float()
                    per_image = per_image + lpips_weight * p_loss
                    parts["lpips"] = p_loss.detach().sum()
            if mse_weight > 0:
                mse = (out - frame.float()).pow(2).mean(dim=(1, 2, 3))
                per_image = per_image + mse_weight * mse
                parts["mse"] = mse.detach().sum()
            if id_weight > 0:
                i_loss = id_loss(out, frame)
                per_image = per_image + id_weight * i_loss
                parts["id"] = i_loss.detach().sum()
            loss = per_image.sum()
            if noise_reg_weight > 0:
                n_loss = noise_reg_weight * noise_regularize(_per_frame(noises, batch))
                loss = loss + n_loss
                parts["noise_reg"] = n_loss.detach()

            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            noise_normalize_(_per_frame(noises, batch))

            values = torch.stack([loss.detach(), *parts.values()]).tolist()
            value = values[0]
            info = {"lr": step_lr, **dict(zip(parts, values[1:]))}
            if not math.isfinite(value):
                raise FloatingPointError(f"the inversion loss became {value} at step {i + 1}; "
                                         "try a smaller lr")
            history.append(value)
            info["loss"] = value
            if progress is not None:
                progress(i + 1, steps, info)
            if early_stop_patience is not None:
                if value < best * (1 - 1e-4):
                    best, since_best = value, 0
                else:
                    since_best += 1
                    if since_best >= early_stop_patience:
                        stopped_early = True
                        break

    meta = dict(start.meta)
    meta["inversion"] = {"steps": len(history), "steps_requested": steps, "seed": seed, "lr": lr,
                         "final_loss": history[-1], "stopped_early": stopped_early}
    result = Latent(wplus=wplus.detach(), f=f.detach(), skips=skips,
                    noise=[n.detach() for n in noises], crop=start.crop, meta=meta)
    return InversionResult(result, history, len(history))
