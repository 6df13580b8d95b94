"""Everything a run needs, built and checked before the first step: :func:`prepare_training`.

Every input is checked here, so a bad one fails in seconds with an error naming it, never after hours:
the options (:func:`~styleganex.training.options.check_options`), the initial weights, the generator
(``toonify``: same structure as the model's), the direction (``video_edit``: its width and rows), the
data folder (at least one usable face; unreadable files are skipped and named in the log), the LPIPS
and identity weights, the resume folder (same recipe).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import torch

from ..base.errors import DirectionError, InputError
from ..io.directions import Direction, read_directions
from ..model import StyleGANEX
from ..model.checkpoints import load_generator, load_model
from .checkpoint import read_resume
from .data import EditPairs, LabelFolder, PhotoFolder, PretrainPairs, ToonifyPairs, model_upscale
from .distributed import Dist, from_environment
from .network import build_model, swap_decoder
from .options import FOLDER_RECIPES, TrainOptions, check_options
from .trainer import Trainer, model_from_resume, truncate_log


def editing_vector(direction: Direction, n_latent: int, style_dim: int, strength: float = 1.0) -> torch.Tensor:
    """The editing vector v ``[1, n_latent, S]`` of a direction: its vector on its rows (every row by
    default; others 0), times ``strength``. DirectionError when it is for another width."""
    vec = direction.vector.float()
    if vec.shape[-1] != style_dim:
        raise DirectionError(f"the direction {direction.name!r} has {vec.shape[-1]} values per row but this "
                             f"model's style width is {style_dim}: it is for another model")
    if vec.ndim == 1:
        vec = vec.expand(n_latent, style_dim)
    elif tuple(vec.shape) != (n_latent, style_dim):
        raise DirectionError(f"the direction {direction.name!r} has shape {tuple(vec.shape)}; this model needs "
                             f"[{style_dim}] or [{n_latent}, {style_dim}]")
    out = torch.zeros(n_latent, style_dim)
    rows = range(n_latent) if direction.layers is None else direction.layers
    for r in rows:
        if not 0 <= r < n_latent:
            raise DirectionError(f"the direction {direction.name!r} edits row {r}, but this model has rows "
                                 f"0..{n_latent - 1}")
        out[r] = vec[r]
    return (out * float(strength))[None]


def _raw_stack(path: Path, n_latent: int, style_dim: int) -> torch.Tensor | None:
    """A release editing / augmentation file: one tensor ``[K, n_latent, S]`` (``torch.save``)."""
    if path.suffix.lower() not in (".pt", ".pth"):
        return None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not a plain tensor file: read_directions gave the reason already
        return None
    if isinstance(obj, torch.Tensor) and obj.ndim == 3 and tuple(obj.shape[1:]) == (n_latent, style_dim) \
            and obj.is_floating_point() and bool(torch.isfinite(obj).all()):
        return obj.float()
    return None


def split_spec(spec: str) -> tuple[str, str | None]:
    """``"FILE[:NAME]"`` -> (file, name or None); a drive letter or a colon inside the file name is kept
    when the whole text names an existing file."""
    text = str(spec)
    if os.path.exists(text) or ":" not in text:
        return text, None
    head, _, name = text.rpartition(":")
    if not head or "/" in name or "\\" in name:
        return text, None
    return head, name or None


def direction_vectors(spec, model: StyleGANEX, strength: float = 1.0, name: str | None = None) -> torch.Tensor:
    """The editing vectors ``[K, n_latent, S]`` of ``spec``: a :class:`Direction`, a tensor, ``"FILE[:NAME]"``
    (any direction file the project reads: the official ``direction_dics.pt``, InterFaceGAN / LowRankGAN /
    GANSpace files; or the release's ``[K, n_latent, S]`` editing-vector file), or ``"sefa:K"`` (the K-th
    SeFa direction of the model's generator)."""
    n, s = model.config.n_latent, model.config.style_dim
    if isinstance(spec, Direction):
        return editing_vector(spec, n, s, strength)
    if isinstance(spec, torch.Tensor):
        t = spec.float()
        if t.ndim == 1 or t.ndim == 2:
            return editing_vector(Direction.of(t, "direction", "interfacegan", layers=None), n, s, strength)
        if t.ndim == 3 and tuple(t.shape[1:]) == (n, s):
            return t * float(strength)
        raise DirectionError(f"an editing tensor must be [S], [n_latent, S] or [K, n_latent, S]; got {tuple(t.shape)}")
    text = str(spec)
    if text.lower().startswith("sefa:"):
        from ..pipelines.sefa import sefa_directions
        try:
            k = int(text.split(":", 1)[1])
        except ValueError:
            raise DirectionError(f"{text!r}: use sefa:K with K a whole number (the K-th SeFa direction)") from None
        if not 0 <= k < s:
            raise DirectionError(f"{text!r}: K must be 0..{s - 1}")
        return editing_vector(sefa_directions(model.decoder, top_k=k + 1)[f"sefa{k}"], n, s, strength)
    path, picked = split_spec(text)
    name = picked or name
    p = Path(path)
    found = _directions_or_stack(p, n, s, "direction file")
    if isinstance(found, torch.Tensor):
        return found * float(strength)
    if name is not None:
        if name not in found:
            raise DirectionError(f"{p} has no direction {name!r}; it has {list(found)[:20]}")
        return editing_vector(found[name], n, s, strength)
    if len(found) > 1:
        raise DirectionError(f"{p} holds {len(found)} directions {list(found)[:20]}: choose one with {p}:NAME")
    return editing_vector(next(iter(found.values())), n, s, strength)


def all_directions(path, model: StyleGANEX) -> torch.Tensor:
    """Every direction of a file stacked ``[N, n_latent, S]`` (the release's augmenting directions)."""
    n, s = model.config.n_latent, model.config.style_dim
    found = _directions_or_stack(Path(path), n, s, "augmenting-direction file")
    if isinstance(found, torch.Tensor):
        return found
    return torch.cat([editing_vector(d, n, s) for d in found.values()])


def _directions_or_stack(p: Path, n: int, s: int, what: str):
    """The directions a file holds (``read_directions``), or, for a bare ``[N, n_latent, S]`` stack that is no
    direction format, that stack."""
    if not p.is_file():
        raise DirectionError(f"{what} not found: {p}")
    try:
        return read_directions(p)
    except DirectionError:
        raw = _raw_stack(p, n, s)
        if raw is None:
            raise
        return raw


def _generator(spec, what: str):
    """(Generator, latent_avg) from a path or a Generator / StyleGANEX."""
    from ..model import Generator

    if isinstance(spec, StyleGANEX):
        return spec.decoder, spec.latent_avg
    if isinstance(spec, Generator):
        return spec, None
    p = Path(spec)
    if not p.is_file():
        raise FileNotFoundError(f"{what} not found: {p}")
    return load_generator(p)


def _lpips(opts: TrainOptions, lpips):
    if lpips is not None or (opts.lpips_lambda <= 0 and opts.lpips_lambda_crop <= 0):
        return lpips
    from ..pipelines.lpips import load_lpips
    return load_lpips(net=opts.lpips_net)


def _identity(opts: TrainOptions, identity):
    if identity is not None or opts.id_lambda <= 0:
        return identity
    from .identity import IdentityLoss, find_identity_weights
    path = find_identity_weights()
    if path is None:
        raise InputError(f"the identity loss (id_lambda {opts.id_lambda:g}) needs the ArcFace weights "
                         "model_ir_se50.pth (pSp's) in the models folder; put it there, or set id_lambda to 0")
    return IdentityLoss.from_file(path)


def discriminator_size(opts: TrainOptions, size: int) -> int:
    """The side the discriminator judges: the generator's size (the release's ``Discriminator(1024)``), or
    the largest power of two the targets always reach when they are smaller (small generated pairs,
    small photos). Larger targets are judged on a random window (as the release)."""
    if opts.recipe in FOLDER_RECIPES:
        side = (opts.crop_min if opts.random_crop else opts.image_size) * (model_upscale(size) if opts.recipe in (
            "sr", "sr32") else 1)
    else:
        side = opts.pair_feature * size // 32
    d = 4
    while d * 2 <= min(size, side):
        d *= 2
    return d


def _discriminator(opts: TrainOptions, model: StyleGANEX, discriminator, saved: dict | None):
    if discriminator is not None or opts.adv_lambda <= 0:
        return discriminator
    from .discriminator import Discriminator
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(opts.seed + 1)
        d = Discriminator(discriminator_size(opts, model.config.size), widths=opts.d_width or None)
    if saved is not None:  # the release starts from the init checkpoint's discriminator when it has one
        try:
            d.load_state_dict(saved)
        except (RuntimeError, KeyError):
            pass  # another size or layout: start fresh, as the release's strict=False load would for most keys
    return d


def prepare_training(opts: TrainOptions, out_dir=None, *, init=None, generator=None, data=None, labels=None,
                     val_data=None, val_labels=None, direction=None, augment_directions=None, resume=None,
                     device=None, lpips=None, identity=None, discriminator=None, detector=None,
                     prepare_faces: bool = True, ctx: Dist | None = None) -> Trainer:
    """Build and check everything a training run needs; returns a :class:`Trainer` ready to ``run()``.

    Args:
        opts: the options (:func:`~styleganex.training.options.recipe_options`); for ``resume`` the
            options of the state (:func:`~styleganex.training.trainer.resume_options`).
        out_dir: where ``last.pt``, ``best.pt``, ``resume.pt`` and ``train_log.jsonl`` go (None: nowhere).
        init: initial StyleGANEX weights (path or model); the release's ``--checkpoint_path``.
        generator: ``toonify``: the fine-tuned generator (path to a ``g_ema`` file, or a Generator);
            other recipes without ``init``: the StyleGAN2 generator the model is built around.
        data, labels: folder recipes: the photos, and (sketch / mask) the inputs with the same names.
        val_data, val_labels: optional validation folders (generated recipes validate on fixed pairs).
        direction: ``video_edit``: the editing direction (see :func:`direction_vectors`); default: the
            ``init`` model's own editing vectors.
        augment_directions: ``video_edit``: optional file of directions added to w (release
            ``--direction_path``).
        resume: a training folder to continue (its ``resume.pt``).
        device: ``"cpu"``, ``"cuda"``... (default: CUDA when available; torchrun: ``cuda:LOCAL_RANK``).
        lpips, identity, discriminator: modules to use instead of loading them (tests, notebooks).
        detector: the face detector for preparing photos; prepare_faces: False takes the photos as
            already aligned crops.
        ctx: the process group (default: from the torchrun environment).
    """
    opts = check_options(opts)
    ctx = ctx or from_environment(device)
    state = None
    extra = {}
    if resume is not None:
        state = read_resume(resume)
        if state["opts"].get("recipe") != opts.recipe:
            raise InputError(f"the resume folder {resume} is a {state['opts'].get('recipe')!r} run, not "
                             f"{opts.recipe!r}")
        model = model_from_resume(state)
        extra = dict(state.get("extra") or {})
        saved_d = None
    else:
        gen = None
        if generator is not None and not (opts.recipe == "toonify" and init is not None):
            gen = _generator(generator, "generator")
        if init is not None and not isinstance(init, StyleGANEX) and not Path(init).is_file():
            raise FileNotFoundError(f"initial checkpoint (--init) not found: {init}")
        model, info = build_model(opts, init, gen, opts.seed)
        saved_d = info["discriminator"]
    model = model.to(ctx.device)
    recipe = opts.recipe
    folders = {"data": data, "labels": labels, "val_data": val_data, "val_labels": val_labels}
    for name, value in folders.items():  # a resumed run reads the folders it was started with
        if value is None and extra.get(name) is not None:
            folders[name] = extra[name]
        elif value is not None:
            extra[name] = str(value)
    data, labels, val_data, val_labels = (folders[k] for k in ("data", "labels", "val_data", "val_labels"))
    # ---- sources ----
    if recipe in FOLDER_RECIPES:
        if data is None:
            raise InputError(f"the {recipe} recipe trains on photos: give a data folder (--data)")
        if recipe in ("sketch2face", "mask2face"):
            if labels is None:
                raise InputError(f"the {recipe} recipe needs a folder of "
                                 f"{'sketches' if recipe == 'sketch2face' else 'label maps'} (--labels) beside the "
                                 "photos, with the same file names")
            kind = "sketch" if recipe == "sketch2face" else "mask"
            source = LabelFolder(data, labels, kind, opts.image_size, opts.input_nc)
            val = None if val_data is None else LabelFolder(val_data, val_labels or labels, kind, opts.image_size,
                                                            opts.input_nc)
        else:
            scale = 1 if recipe == "inversion" else model_upscale(model.config.size)
            source = PhotoFolder(data, opts.image_size, scale, prepare_faces, detector, opts.aligned_size)
            val = None if val_data is None else PhotoFolder(val_data, opts.image_size, scale, prepare_faces,
                                                            detector, opts.aligned_size)
    else:
        if data is not None:
            raise InputError(f"the {recipe} recipe draws its pairs from the generator and takes no data folder")
        truncation = opts.truncation
        if recipe == "pretrain":
            source = PretrainPairs(model.decoder, truncation, opts.seed, opts.pretrain_scale)
        elif recipe == "video_edit":
            if state is None:
                if direction is not None:
                    model.editing_w = direction_vectors(direction, model, opts.edit_strength, opts.direction_name)
                elif isinstance(init, StyleGANEX) and init.editing_w is not None:
                    model.editing_w = init.editing_w.detach().cpu().float()
                else:
                    raise InputError("the video_edit recipe needs an editing direction (--direction FILE[:NAME] "
                                     "or sefa:K)")
                if augment_directions is not None:
                    extra["augment_directions"] = all_directions(augment_directions, model)
            if model.editing_w is None:
                raise InputError("the resume state of this video_edit run has no editing vector")
            model.editing_w = model.editing_w.to(ctx.device)
            aug = extra.get("augment_directions")
            source = EditPairs(model.decoder, model.editing_w, opts.scales, None if aug is None else aug.to(ctx.device),
                               truncation, opts.seed)
        else:  # toonify
            if state is None:
                if generator is None:
                    raise InputError("the toonify recipe needs the fine-tuned generator (--generator, a g_ema file "
                                     "such as a StyleGAN-NADA or toonify model)")
                toon, _ = _generator(generator, "fine-tuned generator")
                extra["source_generator"] = {k: v.detach().cpu().clone() for k, v in model.decoder.state_dict().items()}
                swap_decoder(model, toon)
            original = copy.deepcopy(model.decoder)
            original.load_state_dict(extra["source_generator"])
            original = original.to(ctx.device).eval().requires_grad_(False)
            source = ToonifyPairs(original, model.decoder, truncation, opts.seed)
        source.feature = opts.pair_feature
        val = source
    # ---- losses ----
    lp = _lpips(opts, lpips)
    ident = _identity(opts, identity)
    d = _discriminator(opts, model, discriminator, saved_d)
    trainer = Trainer(opts, model, source, out_dir, val_source=val, lpips=lp, identity=ident, discriminator=d,
                      ctx=ctx, extra_state=extra)
    if state is not None:
        trainer.load_state(state)
        if out_dir is not None and ctx.is_main:
            truncate_log(out_dir, trainer.step)
    skipped = getattr(source, "skipped", [])
    if skipped and state is None:
        trainer.log_event({"step": 0, "event": "skipped", "count": len(skipped),
                           "files": [{"file": str(p), "why": why} for p, why in skipped]})
    return trainer


def load_trained(path, device="cpu") -> StyleGANEX:
    """A trained ``last.pt`` / ``best.pt`` loaded as every front door loads a model."""
    return load_model(path, device=device)
