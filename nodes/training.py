"""Training nodes: train a StyleGANEX encoder inside a graph, following ComfyUI's own training nodes
(``comfy_extras/nodes_train.py``): progress every step, Cancel honoured at the next step (the run is
saved first), gradients on (``torch.inference_mode(False)``), a loss graph output (ComfyUI's ``LOSS_MAP``
for its "Plot Loss Graph" node, and a picture), and the trained model ready for every StyleGANEX node.

Runs are saved in the models folder, ``models/styleganex/<save_name>/`` (``last.pt`` in the released
layout, which "Load StyleGANEX" lists as ``<save_name>/last.pt``, ``resume.pt`` and ``train_log.jsonl``);
``resume`` continues the run saved under that name up to ``steps``.

Three recipes: a video edit from a direction and toonify from a fine-tuned generator (no dataset), and
inversion / super-resolution on a folder of photos in ComfyUI's input folder. All the work is the core's
(:mod:`styleganex.training`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re

import torch

from ..styleganex import InputError
from .compat import free_memory_for, io
from .edit import (
    DIRECTIONS_TIP,
    INDEX_TIP,
    MODEL_VECTOR,
    DirectionsType,
    _check_choice,
    direction_options,
    pick_direction,
)
from .folders import checkpoint_files, find_model_file, first_folder, folder_roots, name_problem
from .loaders import check_model_file, require_model_file
from .progress import Progress, cancellable
from .sockets import CATEGORY, ModelType, StyleGANEXModel
from .tensors import core_to_image

LossMapType = io.Custom("LOSS_MAP")  # ComfyUI's own type: its "Plot Loss Graph" node reads {"loss": [...]}
LPIPS_CHOICES = ["alex", "vgg", "off"]
PHOTO_RECIPES = ["inversion", "sr", "sr32"]
_SAVE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

STEPS_TIP = ("total training steps of the run (with resume: the run continues until it has this many). The release "
             "trains video edits for 10000+ steps on a GPU; a few hundred already show the edit")
SAVE_TIP = ("the run is saved in models/styleganex/<save_name>/ (last.pt in the released layout, listed by Load "
            "StyleGANEX as <save_name>/last.pt; resume.pt; train_log.jsonl)")
RESUME_TIP = ("continue the run saved under save_name (same recipe) until it has 'steps' steps; off: start a new run "
              "(refused when save_name already holds one)")
LPIPS_TIP = ("the LPIPS backbone: alex (the release; needs alexnet-owt-7be5be79.pth), vgg (vgg16-397923af.pth), "
             "both from download.pytorch.org into models/styleganex; off: no LPIPS term")
OPTIONS_TIP = ('any other training option by its release name, as JSON: {"adv_lambda": 0, "tmp_lambda": 30, '
               '"save_interval": 500}')


# ---- shared --------------------------------------------------------------------------------------------
def _options(recipe: str, model, steps: int, batch_size: int, learning_rate: float, seed: int, lpips: str,
             options: str, **fixed):
    """The checked TrainOptions of the node's widgets (the options JSON last, fixed keys first)."""
    from ..styleganex import recipe_options

    try:
        extra = json.loads(options) if options and options.strip() else {}
    except json.JSONDecodeError as e:
        raise InputError(f"options: not valid JSON ({e.msg} at character {e.pos}); write e.g. "
                         '{"adv_lambda": 0}') from None
    if not isinstance(extra, dict):
        raise InputError('options: write a JSON object, e.g. {"adv_lambda": 0}')
    values = dict(max_steps=int(steps), batch_size=int(batch_size), learning_rate=float(learning_rate), seed=int(seed),
                  output_size=int(model.config.size), **fixed)
    if lpips == "off":
        values.update(lpips_lambda=0.0, lpips_lambda_crop=0.0)
    else:
        values["lpips_net"] = lpips
    values.update(extra)
    return recipe_options(recipe, **values)


def run_folder(save_name: str):
    """models/styleganex/<save_name> (the first models folder); InputError for a name that is not one
    plain folder name."""
    from pathlib import Path

    if not isinstance(save_name, str) or not _SAVE_NAME.match(save_name) or name_problem(save_name):
        raise InputError(f"save_name {str(save_name)[:100]!r}: use one folder name of letters, digits, '_', '-' "
                         "and '.' (it becomes models/styleganex/<save_name>/)")
    return Path(first_folder()) / save_name


def _check_save(save_name: str):
    try:
        run_folder(save_name)
    except InputError as e:
        return str(e)
    return True


def _lpips_module(opts):
    """The LPIPS network of a run, its trunk's weights found in ComfyUI's model folders first (then where the
    core looks: $STYLEGANEX_MODELS, torch's hub cache); None when the run has no LPIPS term."""
    from ..styleganex import ALEX_FILE, VGG_FILE, load_lpips

    if opts.lpips_lambda <= 0 and opts.lpips_lambda_crop <= 0:
        return None
    return load_lpips(weights=find_model_file(VGG_FILE if opts.lpips_net == "vgg" else ALEX_FILE), net=opts.lpips_net)


def _train(node: str, opts, handle: StyleGANEXModel, save_name: str, resume: bool, new: dict,
           resumed: dict | None = None) -> io.NodeOutput:
    """Prepare (everything checked before the first step), run with progress and Cancel, and wrap the
    outputs. ``new``: what a new run is prepared from (direction, generator, data); ``resumed``: what a
    resumed one still needs (data). Runs under ``torch.inference_mode(False)``."""
    from ..styleganex import RESUME_FILE as RESUME
    from ..styleganex import loss_curves, plot_losses, prepare_training, read_resume, resume_options

    folder = run_folder(save_name)
    device = handle.device
    if resume:
        if not (folder / RESUME).is_file():
            raise InputError(f"{node}: resume is on, but there is no saved run in {folder} (no {RESUME}); "
                             "turn resume off to start one")
        state = read_resume(folder)
        opts = resume_options(state, opts.recipe, max_steps=opts.max_steps)
        trainer = prepare_training(opts, folder, resume=folder, device=str(device), lpips=_lpips_module(opts),
                                   **(resumed or {}))
    else:
        if (folder / RESUME).is_file():
            raise InputError(f"{node}: {folder} already holds a training run; turn resume on to continue it, or "
                             "choose another save_name")
        trainer = prepare_training(opts, folder, init=handle.model, device=str(device), lpips=_lpips_module(opts),
                                   **new)
    free_memory_for(device)
    steps_log: list[dict] = []
    bar = Progress(opts.max_steps, estimate=node, device=str(device))
    bar(trainer.step, opts.max_steps)

    def progress(done, total, logs):
        steps_log.append({"step": done, **logs})
        bar(done, total)

    with cancellable():
        result = trainer.run(progress=progress, cancel=Progress.cancel)
    model = StyleGANEXModel(result.model, f"{save_name}/last.pt", device, torch.float32)
    model.managed  # noqa: B018 - registered with ComfyUI's memory manager now, like a loaded model
    history = [h for h in trainer.history if "val" not in h and "loss" in h]
    curves = loss_curves(steps_log or history)
    loss_map = {"loss": curves.get("loss", []), **{k: v for k, v in curves.items() if k != "loss"}}
    graph = core_to_image(plot_losses(curves)[None])
    return io.NodeOutput(model, loss_map, graph, int(result.steps))


def _common_inputs(default_name: str, default_steps: int, default_batch: int) -> list:
    return [
        io.Int.Input("steps", default=default_steps, min=1, max=10_000_000, tooltip=STEPS_TIP),
        io.Int.Input("batch_size", default=default_batch, min=1, max=256,
                     tooltip="pairs per step (the release: 4 for video edits and toonify on one GPU)"),
        io.Float.Input("learning_rate", default=1e-4, min=1e-7, max=1.0, step=1e-5,
                       tooltip="Ranger's learning rate (the release: 0.0001)"),
        io.Int.Input("seed", default=0, min=0, max=2 ** 63 - 1, tooltip="seeds the pairs, the augmentation and the "
                     "new layers: the same seed and inputs train the same model"),
        io.Combo.Input("lpips", options=LPIPS_CHOICES, default="alex", tooltip=LPIPS_TIP),
        io.String.Input("save_name", default=default_name, tooltip=SAVE_TIP),
        io.Boolean.Input("resume", default=False, tooltip=RESUME_TIP),
        io.String.Input("options", default="", multiline=True, optional=True, tooltip=OPTIONS_TIP),
    ]


def _outputs() -> list:
    return [ModelType.Output(display_name="model", tooltip="the trained model, for every StyleGANEX node"),
            LossMapType.Output(display_name="loss_map", tooltip="every loss term per step (ComfyUI's Plot Loss "
                                                                "Graph reads its 'loss')"),
            io.Image.Output(display_name="loss_graph", tooltip="the loss terms per step, log scale"),
            io.Int.Output(display_name="steps", tooltip="steps the run has done")]


INIT_TIP = ("the initial weights (e.g. styleganex_inversion.pt from Load StyleGANEX): the encoder trains, the "
            "generator stays frozen")


# ---- nodes -----------------------------------------------------------------------------------------------
class TrainVideoEdit(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXTrainVideoEdit",
            display_name="Train Video Edit (StyleGANEX)",
            category=f"{CATEGORY}/training",
            description="Train a video editing model for any direction (the release's video_edit recipe): pairs "
                        "come from the frozen generator every step (x = G(w) at a quarter size, y = G(w + s v)), "
                        "no dataset. Use the result with Video Edit or Decode.",
            inputs=[
                ModelType.Input("model", tooltip=INIT_TIP),
                io.Combo.Input("direction", options=direction_options(),
                               tooltip="the edit to learn: a direction file in models/styleganex/directions, or "
                                       "the model's editing vector. Ignored when 'directions' is connected"),
                io.Float.Input("strength", default=1.0, min=-100.0, max=100.0, step=0.1,
                               tooltip="v = strength x the direction (the model then applies up to 1.25 v)"),
                *_common_inputs("styleganex_video_edit", 2000, 4),
                DirectionsType.Input("directions", optional=True, tooltip=DIRECTIONS_TIP),
                io.Int.Input("direction_index", default=0, min=0, max=4095, optional=True, tooltip=INDEX_TIP),
            ],
            outputs=_outputs(),
        )

    @classmethod
    def validate_inputs(cls, direction, save_name, **_):
        ok = _check_save(save_name)
        return _check_choice(direction) if ok is True else ok

    @classmethod
    def execute(cls, model, direction, strength, steps, batch_size, learning_rate, seed, lpips, save_name,
                resume, options="", directions=None, direction_index=0) -> io.NodeOutput:
        node = "Train Video Edit"
        with torch.inference_mode(False):
            opts = _options("video_edit", model.model, steps, batch_size, learning_rate, seed, lpips, options,
                            edit_strength=float(strength))
            new = {}
            if not resume:
                d = pick_direction(node, direction, model, directions, direction_index)
                if d is None:
                    raise InputError(f"{node}: choose a direction to learn (or '{MODEL_VECTOR}')")
                new["direction"] = dataclasses.replace(d, vector=d.vector.detach().clone())
            return _train(node, opts, model, save_name, resume, new)


class TrainToonify(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXTrainToonify",
            display_name="Train Toonify (StyleGANEX)",
            category=f"{CATEGORY}/training",
            description="Train a toonify model from a fine-tuned StyleGAN2 generator (the release's toonify "
                        "recipe, e.g. a StyleGAN-NADA or toonify g_ema file): pairs are one w through the original "
                        "and the fine-tuned generator, no dataset.",
            inputs=[
                ModelType.Input("model", tooltip=INIT_TIP),
                io.Combo.Input("generator", options=checkpoint_files(),
                               tooltip="the fine-tuned generator (a file with g_ema, e.g. pixar.pt of StyleGAN-NADA) "
                                       "in models/styleganex; same size and widths as the model's generator"),
                *_common_inputs("styleganex_toonify", 2000, 4),
            ],
            outputs=_outputs(),
        )

    @classmethod
    def validate_inputs(cls, generator, save_name, **_):
        ok = _check_save(save_name)
        return check_model_file(generator, "fine-tuned generator") if ok is True else ok

    @classmethod
    def execute(cls, model, generator, steps, batch_size, learning_rate, seed, lpips, save_name, resume,
                options="") -> io.NodeOutput:
        node = "Train Toonify"
        with torch.inference_mode(False):
            opts = _options("toonify", model.model, steps, batch_size, learning_rate, seed, lpips, options)
            new = {} if resume else {"generator": require_model_file(generator, "fine-tuned generator")}
            return _train(node, opts, model, save_name, resume, new)


def input_folder(name: str) -> str:
    """The real path of the folder ``name`` inside ComfyUI's input folder; InputError otherwise."""
    problem = name_problem(name)
    roots = folder_roots("input")
    if problem or not roots:
        raise InputError(f"photo folder {str(name)[:200]!r} {problem or 'cannot be looked up'}: give a folder "
                         f"inside ComfyUI's input folder ({', '.join(roots) or 'input'})")
    root = os.path.realpath(roots[0])
    path = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([path, root]) != root:
        raise InputError(f"photo folder {name!r} leads outside ComfyUI's input folder ({root})")
    if not os.path.isdir(path):
        raise InputError(f"photo folder {name!r} is not a folder in ComfyUI's input folder ({root}); put the "
                         "photos in input/<folder>")
    return path


class TrainOnPhotos(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXTrainOnPhotos",
            display_name="Train on Photos (StyleGANEX)",
            category=f"{CATEGORY}/training",
            description="Train inversion or super-resolution (the release's recipes) on a folder of face photos "
                        "in ComfyUI's input folder; each photo is detected, aligned and cropped the release's way "
                        "(unreadable photos and photos without a face are skipped and named in train_log.jsonl).",
            inputs=[
                ModelType.Input("model", tooltip=INIT_TIP),
                io.Combo.Input("recipe", options=PHOTO_RECIPES, default="inversion",
                               tooltip="inversion; sr (4x-48x super-resolution, factors 1-16 of 320 px crops); "
                                       "sr32 (32x)"),
                io.String.Input("folder", default="faces", tooltip="a folder inside ComfyUI's input folder"),
                io.Boolean.Input("prepare_faces", default=True,
                                 tooltip="detect and align each face (dlib, as the release); off: the photos are "
                                         "already the release's aligned crops"),
                *_common_inputs("styleganex_trained", 5000, 4),
            ],
            outputs=_outputs(),
        )

    @classmethod
    def validate_inputs(cls, folder, save_name, **_):
        try:
            input_folder(folder)
        except InputError as e:
            return str(e)
        return _check_save(save_name)

    @classmethod
    def execute(cls, model, recipe, folder, prepare_faces, steps, batch_size, learning_rate, seed, lpips,
                save_name, resume, options="") -> io.NodeOutput:
        node = "Train on Photos"
        with torch.inference_mode(False):
            if recipe not in PHOTO_RECIPES:
                raise InputError(f"{node}: recipe must be one of {PHOTO_RECIPES}, got {recipe!r}")
            opts = _options(recipe, model.model, steps, batch_size, learning_rate, seed, lpips, options)
            data = {"data": input_folder(folder), "prepare_faces": bool(prepare_faces)}
            return _train(node, opts, model, save_name, resume, data, data)


NODES = [TrainVideoEdit, TrainToonify, TrainOnPhotos]
