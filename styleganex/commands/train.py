"""``train``: train a StyleGANEX encoder for one of the release's tasks (``python -m styleganex train``).

    python -m styleganex train video_edit --out runs/age --init styleganex_inversion.pt \\
        --direction directions/direction_dics.pt:reduce_age --steps 20000
    torchrun --nproc_per_node 2 -m styleganex train toonify --out runs/pixar \\
        --init styleganex_inversion.pt --generator pixar.pt

Writes ``OUT/last.pt`` (the release's checkpoint layout: loads in every front door and in the release's
scripts), ``OUT/best.pt`` (lowest validation loss), ``OUT/resume.pt`` and ``OUT/train_log.jsonl``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from .common import ProgressBar, device_arg, float_range, int_range, seed


def _setting(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r}: use NAME=VALUE, e.g. l2_lambda=1.0")
    name, value = text.split("=", 1)
    return name.strip(), value.strip()


def register(sub) -> None:
    from ..training.options import BN_MODES, RECIPE_NAMES

    p = sub.add_parser("train", help="train an encoder: pretrain, inversion, sketch2face, mask2face, sr, sr32, "
                                     "video_edit, toonify (also under torchrun)",
                       description="Train the StyleGANEX encoder (the generator stays frozen) with the release's "
                                   "recipe for RECIPE. Runs unchanged under torchrun --nproc_per_node N.")
    p.add_argument("recipe", choices=RECIPE_NAMES)
    p.add_argument("--out", default=None, help="output folder (default: the --resume folder)")
    p.add_argument("--init", default=None, help="initial StyleGANEX checkpoint (e.g. styleganex_inversion.pt)")
    p.add_argument("--generator", default=None,
                   help="toonify: the fine-tuned StyleGAN2 generator (g_ema file); without --init: the StyleGAN2 "
                        "generator to build around")
    p.add_argument("--direction", default=None,
                   help="video_edit: FILE[:NAME] (any direction file the project reads, or the release's editing "
                        "vectors) or sefa:K")
    p.add_argument("--augment-directions", default=None,
                   help="video_edit: file of directions added to the generated w (the release's --direction_path)")
    p.add_argument("--data", default=None, help="folder of photos (inversion, sr, sketch2face, mask2face)")
    p.add_argument("--labels", default=None, help="sketch2face / mask2face: folder of sketches / label maps "
                                                  "named like the photos")
    p.add_argument("--val-data", default=None, help="folder of validation photos (best.pt)")
    p.add_argument("--val-labels", default=None, help="validation sketches / label maps")
    p.add_argument("--no-prepare", action="store_true",
                   help="take the photos as already aligned face crops (no face detection)")
    p.add_argument("--resume", default=None, help="continue the run in this folder (its resume.pt)")
    p.add_argument("--steps", type=int_range(1), default=None, help="total training steps (max_steps)")
    p.add_argument("--batch-size", type=int_range(1, 4096), default=None, help="batch per process")
    p.add_argument("--lr", type=float_range(0.0, 1.0, low_open=True), default=None, help="learning rate")
    p.add_argument("--seed", type=seed, default=None)
    p.add_argument("--bn", choices=BN_MODES, default=None,
                   help="encoder BatchNorm: batch (release), frozen (running statistics), sync (SyncBatchNorm, CUDA)")
    p.add_argument("--save-every", type=int_range(1), default=None, help="checkpoint interval in steps")
    p.add_argument("--val-every", type=int_range(1), default=None, help="validation interval in steps")
    p.add_argument("--log-every", type=int_range(1), default=None, help="steps between log lines")
    p.add_argument("--set", dest="settings", type=_setting, action="append", default=[], metavar="NAME=VALUE",
                   help="any training option by its release name, e.g. --set id_lambda=0 --set adv_lambda=0.05")
    p.add_argument("--safetensors", action="store_true", help="also write OUT/last.safetensors")
    p.add_argument("--overwrite", action="store_true", help="start a new run in a folder that holds one")
    p.add_argument("--device", default=None, help="cpu, cuda (default: cuda when available)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)


def _typed(opts_cls, name: str, value: str):
    """A ``--set`` value converted to the option's type."""
    from ..base.errors import InputError

    fields = {f.name: f for f in dataclasses.fields(opts_cls)}
    if name not in fields or name in ("recipe", "extra"):
        raise InputError(f"--set {name}: no such training option")
    default = getattr(opts_cls(), name)
    try:
        if isinstance(default, bool):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("true", "1")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError:
        raise InputError(f"--set {name}={value}: expected a {type(default).__name__}") from None
    return None if value.lower() == "none" else value


def _overrides(args) -> dict:
    from ..training.options import TrainOptions

    out = {name: _typed(TrainOptions, name, value) for name, value in args.settings}
    for option, arg in (("max_steps", "steps"), ("batch_size", "batch_size"), ("learning_rate", "lr"),
                        ("seed", "seed"), ("bn", "bn"), ("save_interval", "save_every"),
                        ("val_interval", "val_every"), ("log_interval", "log_every")):
        value = getattr(args, arg)
        if value is not None:
            out[option] = value
    return out


def _model_file(name):
    """A path, or a file name in the models folder (as ``--model`` of the other commands)."""
    from ..io.paths import find_model_file

    return None if name is None else (find_model_file(name) or Path(name))


def cmd_train(args) -> int:
    from ..base.errors import InputError
    from ..base.outputs import check_output_folder
    from ..model.checkpoints import save_safetensors
    from ..training import prepare_training, recipe_options, resume_options
    from ..training.checkpoint import LAST, read_resume
    from ..training.distributed import from_environment

    out = Path(args.out or args.resume or "")
    if not args.out and not args.resume:
        raise InputError("give an output folder: --out DIR")
    check_output_folder(out)
    overrides = _overrides(args)
    ctx = from_environment(device_arg(args.device))
    try:
        if args.resume:
            opts = resume_options(read_resume(args.resume), args.recipe, **overrides)
        else:
            if (out / LAST).exists() and not args.overwrite:
                raise InputError(f"{out} already holds a training run ({LAST}); continue it with --resume {out}, "
                                 "choose another --out, or pass --overwrite")
            opts = recipe_options(args.recipe, **overrides)
        trainer = prepare_training(
            opts, out, init=_model_file(args.init), generator=_model_file(args.generator), data=args.data,
            labels=args.labels,
            val_data=args.val_data, val_labels=args.val_labels, direction=args.direction,
            augment_directions=args.augment_directions, resume=args.resume, prepare_faces=not args.no_prepare,
            ctx=ctx)
        skipped = getattr(trainer.source, "skipped", [])
        if skipped and ctx.is_main:
            print(f"warning: skipped {len(skipped)} file(s) of the data folder (see {out / 'train_log.jsonl'}): "
                  + ", ".join(p.name for p, _ in skipped[:5]))
        if args.quiet or not ctx.is_main:
            result = trainer.run()
        else:
            with ProgressBar(opts.max_steps, f"train {opts.recipe}", "step") as bar:
                bar.bar.update(trainer.step)
                result = trainer.run(progress=bar)
        if ctx.is_main:
            if args.safetensors:
                save_safetensors(result.model, out / "last.safetensors")
            summary = {"steps": result.steps, "variant": result.model.variant, "last": str(result.last),
                       "best": None if result.best is None else str(result.best), "best_val": result.best_val,
                       "loss": result.logs.get("loss")}
            print(json.dumps(summary))
    finally:
        ctx.close()
    return 0

