"""The training loop.

>>> from styleganex.training import recipe_options, prepare_training
>>> opts = recipe_options("video_edit", max_steps=100, batch_size=2)
>>> trainer = prepare_training(opts, "runs/age", init="styleganex_inversion.pt",
...                            direction="directions/age.npy")          # doctest: +SKIP
>>> result = trainer.run(progress=lambda done, total, logs: print(done, logs["loss"]))  # doctest: +SKIP
>>> result.model.variant                                                 # doctest: +SKIP
'edit'

One step (the release's ``Coach.train``): draw the step's pairs; derive the aligned face x~ (the
centre crop of x, or the aligned photo); for the temporal loss render the un-augmented input; warp
input and target with the same random affine transform and cut them with the same random crop;
render; train the discriminator on (target, output) with lazy R1; add the loss terms; one optimiser
step on the encoder. Every ``save_interval`` steps and at the end ``DIR/last.pt`` and ``DIR/resume.pt``
are written together; every ``val_interval`` steps the validation loss is measured and ``DIR/best.pt``
written when it improved. ``DIR/train_log.jsonl`` gets one JSON line per logged step with every
loss term.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ..base.errors import Cancelled, CheckpointError, InputError, NonFiniteError
from ..base.outputs import check_output_folder, write_all
from ..model import ModelConfig, StyleGANEX
from ..model.checkpoints import load_weights, variant_name
from ..model.encoder import batch_statistics
from . import augment
from .checkpoint import BEST, LAST, LOG, RESUME, RESUME_FORMAT, RESUME_VERSION, released_dict, save_outputs
from .data import POOL_STEP, FolderSchedule, FolderSource, GeneratedSource, Pair, sample_generator
from .distributed import Dist, wrap
from .losses import Losses
from .network import TrainNet, View, random_noise, set_train_mode, trainable_parameters
from .options import TrainOptions, check_options, options_from_dict

Progress = Callable[[int, int, dict], None]


@dataclasses.dataclass
class TrainResult:
    """What :meth:`Trainer.run` returns: the trained ``model`` (eval mode, ready for every pipeline),
    the ``steps`` done, the ``last`` / ``best`` checkpoint paths (None when not written), the last
    training ``logs`` and the best validation loss."""

    model: StyleGANEX
    steps: int
    last: Path | None
    best: Path | None
    logs: dict
    best_val: float | None
    history: list


class DiscriminatorPair(torch.nn.Module):
    """Scores real and fake images in one forward call (what DDP needs per backward)."""

    def __init__(self, discriminator: torch.nn.Module):
        super().__init__()
        self.discriminator = discriminator

    def forward(self, real, fake=None, generator=None):
        if fake is None:
            return self.discriminator(real, generator)
        return self.discriminator(real, generator), self.discriminator(fake, generator)


def make_optimizer(opts: TrainOptions, params):
    """Ranger at ``learning_rate`` (the release), or Adam (``optim_name="adam"``; ``pretrain``: betas
    (0.9, 0.99) as ``scripts/pretrain.py``)."""
    if opts.optim_name == "adam":
        betas = (0.9, 0.99) if opts.recipe == "pretrain" else (0.9, 0.999)
        return torch.optim.Adam(params, lr=opts.learning_rate, betas=betas)
    from .ranger import Ranger
    return Ranger(params, lr=opts.learning_rate)


def _centre(images: torch.Tensor, side: int) -> torch.Tensor:
    """The release's ``crop_face``: the centre ``side x side`` region when the image is larger."""
    h, w = images.shape[-2:]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    if top == 0 and left == 0:
        return images
    return images[:, :, top:top + min(side, h), left:left + min(side, w)]


class Trainer:
    """A prepared training run (build it with :func:`styleganex.training.prepare_training`).

    Attributes:
        opts: the checked options. model: the :class:`StyleGANEX` being trained (its encoder trains).
        step: steps done. out_dir: where checkpoints and the log go (None: nothing is written).
    """

    def __init__(self, opts: TrainOptions, model: StyleGANEX, source, out_dir=None, *, val_source=None,
                 lpips=None, identity=None, discriminator=None, ctx: Dist | None = None, extra_state=None):
        self.opts = check_options(opts)
        self.ctx = ctx or Dist(device=model.device)
        self.device = self.ctx.device
        self.model = model.to(self.device)
        self.source, self.val_source = source, val_source
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.extra_state = dict(extra_state or {})
        o = self.opts
        if (o.lpips_lambda > 0 or o.lpips_lambda_crop > 0) and lpips is None:
            raise InputError("the LPIPS loss is on (lpips_lambda) but no LPIPS network was given")
        if o.id_lambda > 0 and identity is None:
            raise InputError("the identity loss is on (id_lambda) but no identity network was given")
        if o.bn == "sync" and self.device.type != "cuda":
            raise InputError("option bn 'sync' (SyncBatchNorm) needs CUDA devices (torchrun with NCCL); on the CPU "
                             "use bn 'batch' or 'frozen'")
        self.lpips = None if lpips is None else lpips.to(self.device).eval().requires_grad_(False)
        self.identity = None if identity is None else identity.to(self.device).eval().requires_grad_(False)
        self.losses = Losses(o, self.lpips, self.identity)
        set_train_mode(self.model, o.bn, o.recipe)
        self.net = wrap(TrainNet(self.model), self.ctx, sync_bn=o.bn == "sync")
        self.params = trainable_parameters(self.model, o.recipe, o.feat_ind)
        self.optimizer = make_optimizer(o, self.params)
        self.discriminator = None
        if o.adv_lambda > 0:
            if discriminator is None:
                raise InputError("the adversarial loss is on (adv_lambda) but no discriminator was given")
            self.discriminator = discriminator.to(self.device).train().requires_grad_(False)
            self.d_net = wrap(DiscriminatorPair(self.discriminator), self.ctx)
            self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=o.learning_rate)
        self.step = 0
        self.best_val: float | None = None
        self.history: list[dict] = []
        self.schedule = None
        if isinstance(source, FolderSource):
            self.schedule = FolderSchedule(len(source), o.batch_size, self.ctx.world, self.ctx.rank, o.seed)
        self._val_cache = None
        self._started = time.monotonic()

    # ---- data -----------------------------------------------------------------------------------
    def _pair(self, step: int) -> tuple[Pair, list[int]]:
        """This process's pairs of ``step`` and their global sample keys."""
        b = self.opts.batch_size
        if isinstance(self.source, GeneratedSource):
            keys = [self.ctx.rank * b + j for j in range(b)]
            pool = self.opts.pair_pool
            if pool:  # cycle over a fixed set of pairs
                total = b * self.ctx.world
                ids = [(step * total + k) % pool for k in keys]
                return self.source.batch(POOL_STEP, ids, self.device).to(self.device), keys
            return self.source.batch(step, keys, self.device).to(self.device), keys
        items = self.schedule.items(step)
        parts = [self.source.get(i, sample_generator(self.opts.seed, step, key, "item"), self.opts.flip,
                                 self.opts.factors, self.opts.blind_sr) for i, key in items]
        return _cat_pairs(parts).to(self.device), [key for _, key in items]

    def _views(self, pair: Pair, x, y, noise, photo) -> View:
        o = self.opts
        x_tilde = None
        if o.crop_face and not o.use_latent_mask:
            x_tilde = pair.x_tilde if pair.x_tilde is not None else _centre(x, o.aligned_size)
        inject, rows = None, None
        if o.use_latent_mask:
            rows = o.latent_rows
            inject = photo
        out_hw = tuple(y.shape[-2:]) if pair.x.shape[-2:] == pair.y.shape[-2:] else None
        return View(x, x_tilde, inject, rows, pair.editing_w, noise, out_hw)

    def _noise(self, x, keys, stream):
        if self.opts.zero_noise:
            return "zero"
        if self.opts.recipe == "pretrain":  # scripts/pretrain.py renders with the stored noise maps
            return "stored"
        gens = [sample_generator(self.opts.seed, self.step, k, stream) for k in keys]
        return random_noise(self.model.config, (x.shape[2] // 8, x.shape[3] // 8), gens, self.device, x.dtype)

    def _photo(self, pair: Pair, y, x):
        """The release's y~ (sketch / mask recipes): the target at the input's size, centre-cropped with
        ``crop_face``."""
        if not self.opts.use_latent_mask:
            return None
        photo = y if y.shape[-2:] == x.shape[-2:] else F.interpolate(y, size=x.shape[-2:], mode="bilinear")
        return _centre(photo, self.opts.aligned_size) if self.opts.crop_face else photo

    # ---- one step ---------------------------------------------------------------------------------
    def train_step(self) -> dict:
        """Run one training step; returns its loss terms. Raises NonFiniteError for a NaN loss."""
        o, step = self.opts, self.step
        pair, keys = self._pair(step)
        x, y = pair.x, pair.y
        scale = y.shape[2] // x.shape[2]
        photo = self._photo(pair, y, x)
        views = []
        temporal = o.tmp_lambda > 0 and 2 * step >= o.max_steps
        if temporal:
            views.append(self._views(pair, x, y, self._noise(x, keys, "noise0"), photo))
        mats = None
        if o.affine_augment:
            mats = torch.stack([augment.sample_affine(sample_generator(o.seed, step, k, "affine"), 0.2) for k in keys])
            x, y = augment.apply_affine(x, mats), augment.apply_affine(y, mats)
        box = None
        if o.random_crop:
            box = augment.sample_crop(sample_generator(o.seed, step, -1, "crop"), x.shape[2], x.shape[3],
                                      o.crop_min, o.crop_max)
            x, y = augment.crop(x, box), augment.crop(y, box, scale)
        if o.use_latent_mask and not o.crop_face:
            photo = y if scale == 1 else F.interpolate(y, size=x.shape[-2:], mode="bilinear")
        views.append(self._views(pair, x, y, self._noise(x, keys, "noise"), photo))
        with self._autocast():
            outputs = self.net(views)
            y_hat, wplus = outputs[-1]
            y0_hat = None
            if temporal:
                y0_hat = outputs[0][0]
                if mats is not None:
                    y0_hat = augment.apply_affine(y0_hat, mats)
                if box is not None:
                    y0_hat = augment.crop(y0_hat, box, scale)
        logs = {}
        judge = None
        if self.discriminator is not None:
            logs.update(self._train_discriminator(y, y_hat.detach(), step))
            windows = sample_generator(o.seed, step, -1, "g-window")
            judge = lambda images: self.discriminator(images, windows)  # noqa: E731
        with self._autocast():
            loss, terms = self.losses(x, y, y_hat, wplus, self.model.latent_avg, step, y0_hat, judge)
        logs.update(terms)
        if self.ctx.any(not bool(torch.isfinite(loss.detach()))):
            raise NonFiniteError(self._nan_message(step, logs))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        return logs

    def _autocast(self):
        """bf16 autocast of the forward passes and losses with ``precision="bf16"`` (a no-op for fp32)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.opts.precision == "bf16")

    def _train_discriminator(self, real, fake, step) -> dict:
        """The release's ``train_discriminator``: logistic loss x adv_lambda, then lazy R1 every
        ``d_reg_every`` steps. Windows of images larger than the discriminator are drawn from a generator
        keyed by the step (the same on every process)."""
        from .discriminator import d_logistic_parts, d_r1_loss

        o, D = self.opts, self.discriminator
        windows = sample_generator(o.seed, step, -1, "d-window")
        D.requires_grad_(True)
        with self._autocast():
            real_pred, fake_pred = self.d_net(real, fake, windows)
            loss_real, loss_fake = d_logistic_parts(real_pred.float(), fake_pred.float())
        logs = {"loss_d_real": float(loss_real.detach()), "loss_d_fake": float(loss_fake.detach()),
                "loss_d": float((loss_real + loss_fake).detach())}
        self.d_optimizer.zero_grad(set_to_none=True)
        ((loss_real + loss_fake) * o.adv_lambda).backward()
        self.d_optimizer.step()
        if step % o.d_reg_every == 0:
            real = real.detach().requires_grad_(True)
            with self._autocast():
                pred = self.d_net(real, None, windows).float()
            r1 = o.r1 / 2 * d_r1_loss(pred, real) * o.d_reg_every + 0 * pred[0].sum()
            self.d_optimizer.zero_grad(set_to_none=True)
            r1.backward()
            self.d_optimizer.step()
            logs["loss_r1"] = float(r1.detach())
        D.requires_grad_(False)
        return logs

    def _nan_message(self, step, logs) -> str:
        bad = [k for k, v in logs.items() if not math.isfinite(v)]
        last = self.out_dir / LAST if self.out_dir is not None and (self.out_dir / LAST).is_file() else None
        kept = f"the last good checkpoint {last} was kept" if last else "no checkpoint had been written yet"
        return (f"training stopped at step {step + 1}: the loss is not finite ({', '.join(bad) or 'loss'}); "
                f"{kept}. Lower the learning rate or the loss weights, or resume from it.")

    # ---- validation -------------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict | None:
        """Mean loss terms over the validation pairs (no augmentation, fixed noise, no adversarial or
        temporal term); None without validation data."""
        if self.val_source is None:
            return None
        if self._val_cache is None:
            self._val_cache = self._val_pairs()
        model = self.model
        was = [m.training for m in model.modules()]
        model.eval()
        net = TrainNet(model)
        totals, count = {}, 0
        for i, pair in enumerate(self._val_cache):
            pair = pair.to(self.device)
            x, y = pair.x, pair.y
            keys = list(range(x.shape[0]))
            gens = [sample_generator(self.opts.seed, -1, 1000 * i + k, "val-noise") for k in keys]
            noise = "zero" if self.opts.zero_noise else "stored" if self.opts.recipe == "pretrain" else \
                random_noise(model.config, (x.shape[2] // 8, x.shape[3] // 8), gens, self.device, x.dtype)
            view = self._views(pair, x, y, noise, self._photo(pair, y, x))
            with batch_statistics(model.is_label_model):  # sketch / mask models infer on batch statistics
                y_hat, wplus = net([view])[0]
            _, terms = self.losses(x, y, y_hat, wplus, model.latent_avg, self.step, None, None)
            for k, v in terms.items():
                totals[k] = totals.get(k, 0.0) + v * x.shape[0]
            count += x.shape[0]
        for m, t in zip(model.modules(), was):
            m.train(t)
        return {k: v / count for k, v in totals.items()}

    def _val_pairs(self) -> list[Pair]:
        src, o = self.val_source, self.opts
        b = o.test_batch_size
        if isinstance(src, GeneratedSource):
            if o.pair_pool:  # validate on the fixed pairs themselves
                ids = list(range(o.pair_pool))
                return [src.batch(POOL_STEP, ids[i:i + b], self.device) for i in range(0, len(ids), b)]
            n = o.val_size
            return [src.batch(-1 - i, list(range(i, min(n, i + b))), self.device) for i in range(0, n, b)]
        pairs = [src.get(i, sample_generator(o.seed, -1, i, "val-item"), False, o.factors, o.blind_sr)
                 for i in range(len(src))]
        return [_cat_pairs(pairs[i:i + b]) for i in range(0, len(pairs), b)]

    # ---- saving -----------------------------------------------------------------------------------
    def export_model(self) -> StyleGANEX:
        """The model as a loaded checkpoint would be: eval mode, no gradients, the variant named from
        the options (a copy; training can go on)."""
        opts = self.opts.to_opts()
        config = dataclasses.replace(self.model.config)
        with torch.device("meta"):
            out = StyleGANEX(config, opts, variant_name(opts, self.model.editing_w is not None))
        state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        out.load_state_dict(state, assign=True)
        out.editing_w = None if self.model.editing_w is None else self.model.editing_w.detach().clone()
        return out.eval().requires_grad_(False)

    def resume_state(self) -> dict:
        state = {
            "format": RESUME_FORMAT, "version": RESUME_VERSION, "step": self.step, "opts": self.opts.to_opts(),
            "config": self.model.config.to_dict(),
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "editing_w": None if self.model.editing_w is None else self.model.editing_w.detach().cpu().clone(),
            "optimizer": self.optimizer.state_dict(), "best_val": self.best_val,
            "rng": torch.get_rng_state(),
            "extra": self.extra_state,
        }
        if self.discriminator is not None:
            state["discriminator"] = {k: v.detach().cpu().clone() for k, v in self.discriminator.state_dict().items()}
            state["d_optimizer"] = self.d_optimizer.state_dict()
        return state

    def _check_finite_weights(self):
        for name, p in self.model.encoder.named_parameters():
            if not bool(torch.isfinite(p).all()):
                raise NonFiniteError(f"training stopped at step {self.step}: the encoder weight {name} is not "
                                     "finite; nothing was saved and the last good checkpoint was kept")

    def save(self, best: bool = False) -> None:
        """Write ``last.pt`` + ``resume.pt`` (and ``best.pt`` with ``best``) together (rank 0 only)."""
        if self.out_dir is None or not self.ctx.is_main:
            return
        self._check_finite_weights()
        opts = self.opts.to_opts()
        released = released_dict(self.model, opts, self.discriminator)
        files = {LAST: released, RESUME: self.resume_state()}
        if best:
            files[BEST] = released
        save_outputs(self.out_dir, files)

    def load_state(self, state: dict) -> None:
        """Continue from a :meth:`resume_state` (optimiser, discriminator, step, RNG, best loss)."""
        self.step = int(state["step"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.discriminator is not None:
            if "discriminator" not in state:
                raise CheckpointError("the resume state has no discriminator, but adv_lambda is on")
            self.discriminator.load_state_dict(state["discriminator"])
            self.d_optimizer.load_state_dict(state["d_optimizer"])
        self.best_val = state.get("best_val")
        if isinstance(state.get("rng"), torch.Tensor):
            torch.set_rng_state(state["rng"])

    def _log(self, line: dict) -> None:
        self.history.append(line)
        if self.out_dir is None or not self.ctx.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_dir / LOG, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")

    def log_event(self, line: dict) -> None:
        """Append a free-form line (e.g. the skipped files) to the log."""
        self._log(line)

    # ---- the loop -----------------------------------------------------------------------------------
    def run(self, steps: int | None = None, progress: Progress | None = None,
            cancel: Callable[[], bool] | None = None) -> TrainResult:
        """Train until ``max_steps`` (or ``steps`` more steps).

        Args:
            steps: at most this many steps now (None: up to ``opts.max_steps``).
            progress: ``progress(done, total, logs)`` after every step.
            cancel: checked before every step; when it returns True the state is saved (a valid
                ``last.pt`` / ``resume.pt`` at the steps done) and :class:`Cancelled` is raised.
        Returns:
            A :class:`TrainResult`.
        """
        o = self.opts
        end = o.max_steps if steps is None else min(o.max_steps, self.step + steps)
        save_every = o.save_interval or o.max_steps
        logs: dict = {}
        if self.out_dir is not None and self.ctx.is_main:
            check_output_folder(self.out_dir)
            self.out_dir.mkdir(parents=True, exist_ok=True)
        try:
            while self.step < end:
                if self.ctx.any(cancel is not None and bool(cancel())):
                    self.save()
                    raise Cancelled(f"training cancelled after {self.step} steps; the state was saved"
                                    + (f" in {self.out_dir}" if self.out_dir else ""))
                logs = self.train_step()
                done = self.step
                if done % o.log_interval == 0 or done == 1 or done == o.max_steps:
                    self._log({"step": done, "time": round(time.monotonic() - self._started, 3), **logs})
                best = False
                if self.ctx.is_main and (done % o.val_interval == 0 or done == o.max_steps):
                    val = self.validate()
                    if val is not None:
                        self._log({"step": done, "val": val})
                        if self.best_val is None or val["loss"] < self.best_val:
                            self.best_val, best = val["loss"], True
                if done % save_every == 0 or done == o.max_steps or best:
                    self.save(best=best)
                if progress is not None:
                    progress(done, o.max_steps, logs)
        except KeyboardInterrupt:
            self.save()
            raise
        self.ctx.barrier()
        last = self.out_dir / LAST if self.out_dir is not None and (self.out_dir / LAST).is_file() else None
        best_path = self.out_dir / BEST if self.out_dir is not None and (self.out_dir / BEST).is_file() else None
        return TrainResult(self.export_model(), self.step, last, best_path, logs, self.best_val, self.history)


def _cat_pairs(parts: list[Pair]) -> Pair:
    cat = lambda name: None if getattr(parts[0], name) is None else torch.cat([getattr(p, name) for p in parts])  # noqa: E731
    return Pair(cat("x"), cat("y"), cat("x_tilde"), cat("photo"), cat("editing_w"))


def truncate_log(folder, step: int) -> None:
    """Drop the log lines of steps after ``step`` (a resumed run rewrites what followed its checkpoint)."""
    path = Path(folder) / LOG
    if not path.is_file():
        return
    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            s = json.loads(line).get("step", 0)
        except (ValueError, AttributeError):
            continue
        if s is None or s <= step:
            keep.append(line)
    text = "".join(k + "\n" for k in keep)
    write_all([(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))])


def model_from_resume(state: dict) -> StyleGANEX:
    """The model of a resume state, every tensor checked."""
    try:
        config = ModelConfig.from_dict(state["config"], "the resume state's config")
    except (InputError, KeyError, TypeError) as e:
        raise CheckpointError(f"the resume state has no usable model config: {e}") from None
    with torch.device("meta"):
        model = StyleGANEX(config, state["opts"], "custom")
    load_weights(model, dict(state["model"]), "the resume state's model")
    if isinstance(state.get("editing_w"), torch.Tensor):
        model.editing_w = state["editing_w"].float()
    return model


def resume_options(state: dict, recipe: str | None = None, **overrides) -> TrainOptions:
    """The options of a resume state (``overrides``: e.g. a larger ``max_steps``); InputError when
    ``recipe`` is given and differs from the state's."""
    saved = dict(state["opts"])
    if recipe is not None and saved.get("recipe") != recipe:
        raise InputError(f"the resume folder is a {saved.get('recipe')!r} run, not {recipe!r}")
    saved.update({k: v for k, v in overrides.items() if v is not None})
    return options_from_dict(saved, "the resume state")
