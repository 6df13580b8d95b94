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

from ..base.errors import Cancelled, InputError, StyleGANEXError, check_cancel
from ..base.validation import check_seed
from ..model import fast as fastpaths
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
READBACK_STEPS = 10
"""The static loop (fast paths) reads the losses back from the device every this many steps (and at the
last); ``progress`` then reports those steps together. With early stopping it reads every step."""


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
             autocast: bool = False, fast: fastpaths.FastPlan | str | None = None) -> InversionResult:
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
    fast: the fast-path setting ("0", "1", "auto"; None: ``model.fast`` / ``$STYLEGANEX_FAST``) or a
        ``FastPlan``. Fast: the static loop (no per-step host reads, losses read back every
        ``READBACK_STEPS`` steps; the same result as the reference loop, bit for bit on the CPU) and
        the step's forward + backward compiled (not with ``id_loss``).

    Returns an :class:`InversionResult`; decode its latent with ``model.decode(latent, noise=None)``.
    Works inside ``torch.no_grad()`` / ``torch.inference_mode()`` too (e.g. in ComfyUI nodes).
    """
    with torch.inference_mode(False), torch.enable_grad():
        return _optimize(model, frame, aligned, latent, steps, lr, lpips_weight, mse_weight, id_weight,
                         id_loss, noise_reg_weight, latent_noise, early_stop_patience, seed, progress,
                         cancel, lpips, autocast, fast)


def _optimize(model, frame, aligned, latent, steps, lr, lpips_weight, mse_weight, id_weight, id_loss,
              noise_reg_weight, latent_noise, early_stop_patience, seed, progress, cancel, lpips,
              autocast, fast=None):
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
    plan = fast if isinstance(fast, fastpaths.FastPlan) else fastpaths.fast_plan(device, model, fast)
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
        losses = _Losses(model, frame, skips, perceptual, lpips_weight, mse_weight, id_weight, id_loss,
                         noise_reg_weight, autocast)
        if plan.static_loop:
            history, stopped_early = _static_loop(losses, wplus, f, noises, steps, lr, std, latent_noise,
                                                  early_stop_patience, generator, progress, cancel, plan)
        else:
            optimizer = torch.optim.Adam([wplus, f, *noises], lr=lr)
            history, stopped_early = _reference_loop(losses, optimizer, wplus, f, noises, steps, lr, std,
                                                     latent_noise, early_stop_patience, generator,
                                                     progress, cancel)

    meta = dict(start.meta)
    meta["inversion"] = {"steps": len(history), "steps_requested": steps, "seed": seed, "lr": lr,
                         "final_loss": history[-1], "stopped_early": stopped_early}
    result = Latent(wplus=wplus.detach(), f=f.detach(), skips=skips,
                    noise=[n.detach() for n in noises], crop=start.crop, meta=meta)
    return InversionResult(result, history, len(history))


# ---- the two loops ---------------------------------------------------------------------------------
class _Losses:
    """The loss of one step: ``(loss, parts)`` for the optimised w+ (noised), f and noise maps.

    ``parts`` are the detached terms ("lpips", "mse", "id", "noise_reg": those with a weight).
    ``checked=False`` calls the generator directly (no per-step checks of the latent, which read its
    values back to the host; the static loop checked it once before starting)."""

    def __init__(self, model, frame, skips, perceptual, lpips_weight, mse_weight, id_weight, id_loss,
                 noise_reg_weight, autocast: bool):
        self.model, self.frame, self.skips, self.perceptual = model, frame, skips, perceptual
        self.lpips_weight, self.mse_weight, self.id_weight = lpips_weight, mse_weight, id_weight
        self.id_loss, self.noise_reg_weight, self.autocast = id_loss, noise_reg_weight, bool(autocast)
        self.names = [name for name, on in (("lpips", perceptual is not None), ("mse", mse_weight > 0),
                                            ("id", id_weight > 0), ("noise_reg", noise_reg_weight > 0)) if on]

    def _image(self, w_in, f, noises, checked):
        model, (batch, _, height, width) = self.model, self.frame.shape
        parts = {}
        if checked:
            out = model.synthesize(Latent(w_in, f, skips=self.skips, noise=noises), noise=None)
        else:
            out = model.decoder.synthesize(w_in, f, list(noises), self.skips,
                                           model.encoder.fusion if self.skips else None)
        out = box_average(out, (height, width)).float()
        per_image = torch.zeros(batch, device=out.device, dtype=out.dtype)
        if self.perceptual is not None:
            p_loss = self.perceptual(out).float()
            per_image = per_image + self.lpips_weight * p_loss
            parts["lpips"] = p_loss.detach().sum()
        return out, per_image, parts

    def __call__(self, w_in, f, noises, checked: bool = True):
        if self.autocast:
            with torch.autocast(self.frame.device.type, dtype=torch.bfloat16):
                out, per_image, parts = self._image(w_in, f, noises, checked)
        else:
            out, per_image, parts = self._image(w_in, f, noises, checked)
        frame = self.frame
        if self.mse_weight > 0:
            mse = (out - frame.float()).pow(2).mean(dim=(1, 2, 3))
            per_image = per_image + self.mse_weight * mse
            parts["mse"] = mse.detach().sum()
        if self.id_weight > 0:
            i_loss = self.id_loss(out, frame)
            per_image = per_image + self.id_weight * i_loss
            parts["id"] = i_loss.detach().sum()
        loss = per_image.sum()
        if self.noise_reg_weight > 0:
            n_loss = self.noise_reg_weight * noise_regularize(_per_frame(noises, frame.shape[0]))
            loss = loss + n_loss
            parts["noise_reg"] = n_loss.detach()
        return loss, parts


def _reference_loop(losses, optimizer, wplus, f, noises, steps, lr, std, latent_noise, early_stop_patience,
                    generator, progress, cancel):
    """Today's loop (the reference path): torch.optim.Adam, every step's losses read back at once."""
    device, dtype, batch = wplus.device, wplus.dtype, wplus.shape[0]
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

        loss, parts = losses(w_in, f, noises)  # parts: detached terms, read back in one host sync

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
    return history, stopped_early


class StaticAdam:
    """Adam over fixed tensors, ready for CUDA-graph capture (torch.optim.Adam's defaults: betas
    (0.9, 0.999), eps 1e-8, no weight decay).

    The moments are allocated once; the step's scalars -lr_t / (1 - beta1^t) and sqrt(1 - beta2^t) are
    computed for every step of the schedule ``lrs`` up front, in double precision as torch.optim.Adam
    computes them on the host, and kept on the device, where a device step counter (``index``, [1])
    picks them: a step reads nothing back and its tensors never move. On the CPU in float32 its updates
    are bit-identical to torch.optim.Adam's (single-tensor) with ``lr = lrs[t]`` set before step t.
    ``step()`` uses and then zeroes (in place) each parameter's ``.grad``.
    """

    BETAS = (0.9, 0.999)
    EPS = 1e-8

    def __init__(self, params: list[torch.Tensor], lrs: list[float]):
        self.params = list(params)
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        b1, b2 = self.BETAS
        device, dtype = self.params[0].device, self.params[0].dtype
        neg_step = [-(lr / (1 - b1 ** float(t))) for t, lr in enumerate(lrs, start=1)]
        bc2_sqrt = [(1 - b2 ** float(t)) ** 0.5 for t in range(1, len(lrs) + 1)]
        self.neg_step_size = torch.tensor(neg_step, dtype=torch.float64).to(device, dtype)
        self.bias_correction2_sqrt = torch.tensor(bc2_sqrt, dtype=torch.float64).to(device, dtype)
        self.index = torch.zeros(1, dtype=torch.long, device=device)

    @torch.no_grad()
    def step(self) -> None:
        b1, b2 = self.BETAS
        neg_step = self.neg_step_size.index_select(0, self.index)
        bc2_sqrt = self.bias_correction2_sqrt.index_select(0, self.index)
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq):
            g = p.grad
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v.sqrt() / bc2_sqrt).add_(self.EPS)
            p.add_(m * neg_step / denom)  # = addcdiv_(m, denom, value=-step_size), same rounding
            g.zero_()
        self.index += 1


def _eager_losses(losses, w_in, f, noises):
    loss, parts = losses(w_in, f, noises, checked=False)
    return loss, torch.stack([loss.detach(), *parts.values()])


def _compiled_losses(model, losses, w_in, f, noises):
    return _eager_losses(losses, w_in, f, noises)


def _static_loop(losses, wplus, f, noises, steps, lr, std, latent_noise, early_stop_patience, generator,
                 progress, cancel, plan):
    """The loop of the fast paths: no host read inside a step.

    The lr schedule and the latent-noise strength are tables on the device, the optimiser is
    :class:`StaticAdam`, the latent noise of the next ``READBACK_STEPS`` steps is drawn (from the same
    generator, in the same order as the reference loop) at each read-back and copied to a static device
    buffer in one transfer (a per-step copy from the host would wait for the device), and each step's
    losses go to a device record that is read back every ``READBACK_STEPS`` steps (every step with early
    stopping), when progress is reported and the loss checked. Cancel is still checked before every
    step. Same result as the reference loop.
    """
    model, batch = losses.model, wplus.shape[0]
    Latent(wplus, f, skips=losses.skips, noise=noises).check_compatible(model)  # once, not per step
    params = [wplus, f, *noises]
    ts = [i / steps for i in range(steps)]
    lrs = [lr_schedule(t, lr) for t in ts]
    strengths = [std * latent_noise * max(0.0, 1.0 - t / NOISE_RAMP) ** 2 for t in ts]
    adam = StaticAdam(params, lrs)
    strength = torch.tensor(strengths, dtype=torch.float64).to(wplus.device, wplus.dtype)
    record = torch.zeros(steps, 1 + len(losses.names), device=wplus.device)
    every = 1 if early_stop_patience is not None else READBACK_STEPS
    latent_noise_buf = torch.zeros((every, *wplus.shape), device=wplus.device, dtype=wplus.dtype)
    compiled = plan.compile and losses.id_weight == 0  # a user's id_loss may not compile
    key = ("inversion step", fastpaths.shape_key(wplus, f, losses.frame, *noises, *(losses.skips or [])),
           tuple(losses.names), losses.lpips_weight, losses.mse_weight, losses.noise_reg_weight, losses.autocast,
           fastpaths.mode_key(wplus.device))

    history: list[float] = []
    best, since_best, stopped_early, read = math.inf, 0, False, 0
    for i in range(steps):
        check_cancel(cancel)
        block = range(i, min(i + every, steps))
        if i % every == 0 and any(strengths[j] > 0 for j in block):  # at a read-back: the next block's noise
            draws = [torch.randn(wplus.shape, generator=generator) if strengths[j] > 0
                     else torch.zeros(wplus.shape) for j in block]
            latent_noise_buf[:len(draws)].copy_(torch.stack(draws))
        w_noise = latent_noise_buf[i % every]
        w_in = wplus + w_noise * strength.index_select(0, adam.index)  # + 0 once the noise is gone
        if compiled:
            loss, row = fastpaths.compiled_call(model, "inversion step", _compiled_losses, key,
                                                (losses, w_in, f, noises), _eager_losses, plan.strict,
                                                plan.compile_mode)
        else:
            loss, row = _eager_losses(losses, w_in, f, noises)
        try:
            loss.backward()
        except (StyleGANEXError, torch.OutOfMemoryError):
            raise
        except Exception as e:  # noqa: BLE001 - the compiled backward failed: this step again, eagerly
            if not compiled or plan.strict:
                raise
            fastpaths.mark_failed(model, "inversion step", e, plan.compile_mode)
            compiled = False
            for p in params:
                if p.grad is not None:
                    p.grad.zero_()
            w_in = wplus + w_noise * strength.index_select(0, adam.index)  # its graph was used
            loss, row = _eager_losses(losses, w_in, f, noises)
            loss.backward()
        record.index_copy_(0, adam.index, row.detach()[None].float())
        adam.step()
        noise_normalize_(_per_frame(noises, batch))
        if (i + 1) % every and i + 1 < steps:
            continue
        for j, values in enumerate(record[read:i + 1].tolist(), start=read):  # the one host read
            value = values[0]
            if not math.isfinite(value):
                raise FloatingPointError(f"the inversion loss became {value} at step {j + 1}; "
                                         "try a smaller lr")
            history.append(value)
            if progress is not None:
                progress(j + 1, steps, {"lr": lrs[j], **dict(zip(losses.names, values[1:])), "loss": value})
            if early_stop_patience is not None:  # read every step: stops where the reference loop does
                if value < best * (1 - 1e-4):
                    best, since_best = value, 0
                else:
                    since_best += 1
                    if since_best >= early_stop_patience:
                        stopped_early = True
        read = i + 1
        if stopped_early:
            break
    return history, stopped_early
