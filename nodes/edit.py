"""Latent editing nodes: attribute directions, style mixing, and domain transfer (another generator)."""

from __future__ import annotations

import os
import re

import torch

from ..styleganex.errors import InputError
from .common import (
    CATEGORY,
    DIRECTIONS_FOLDER,
    LatentType,
    ModelType,
    StyleGANEXModel,
    check_model_file,
    checkpoint_files,
    direction_files,
    folder_paths,
    require_model_file,
    resolve_file,
)
from .compat import io

NONE = "none"
MODEL_VECTOR = "model editing vector (edit_age / edit_hair)"
MIX_MODES = ["off", "random style", "from style_latent"]
_NAMED = re.compile(r"^(?P<file>.+) \[(?P<name>[^\]]+)\]$")
_names_cache: dict[str, tuple[float, list[str]]] = {}


def _names_in(path: str) -> list[str]:
    """Direction names in a file (cached by modification time); [] when unreadable."""
    try:
        mtime = os.path.getmtime(path)
    except OSError:
        return []
    hit = _names_cache.get(path)
    if hit and hit[0] == mtime:
        return hit[1]
    try:
        from ..styleganex.editing import load_directions
        names = sorted(load_directions(path))
    except Exception:  # noqa: BLE001 - listed as the bare file; execute reports the real error
        names = []
    _names_cache[path] = (mtime, names)
    return names


def direction_options() -> list[str]:
    options = [NONE, MODEL_VECTOR]
    for f in direction_files():
        path = folder_paths.get_full_path(DIRECTIONS_FOLDER, f)
        names = _names_in(path) if path else []
        options.extend([f"{f} [{n}]" for n in names] if len(names) > 1 else [f])
    return options


def _resolve(choice: str):
    """(path, name or None) of a direction choice; FileNotFoundError with the folder when absent."""
    m = _NAMED.match(choice)
    file, name = (m.group("file"), m.group("name")) if m else (choice, None)
    path = resolve_file(DIRECTIONS_FOLDER, file, "Apply Edit: direction file")
    if path is None:
        folders = folder_paths.get_folder_paths(DIRECTIONS_FOLDER)
        where = folders[0] if folders else "models/styleganex/directions"
        raise FileNotFoundError(
            f"Apply Edit: direction file '{file}' not found. Put editing directions (.npy/.npz/.pt/.safetensors "
            f"holding a [512] or [18, 512] vector, or a dict of them) in {where}, then press R to refresh.")
    return path, name


def _load_direction(choice: str) -> torch.Tensor:
    from ..styleganex.editing import load_directions, select_direction

    path, name = _resolve(choice)
    return select_direction(load_directions(path), name, f"Apply Edit: {os.path.basename(path)}")


class ApplyEdit(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXApplyEdit",
            display_name="Apply Edit (StyleGANEX)",
            category=f"{CATEGORY}/edit",
            description="Edit a latent: w+ += strength x direction on the rows layer_start..layer_end (InterFaceGAN-"
                        "style directions from models/styleganex/directions, or the editing vector of an edit_age/"
                        "edit_hair model), then optional style mixing of the rows from mix_layer_start on (a random "
                        "mapped style x mix_scale, or another latent's rows). Chain nodes for several edits.",
            inputs=[
                LatentType.Input("latent", tooltip="the latent to edit (Encode or Optimize Inversion)"),
                io.Combo.Input("direction", options=direction_options(), default=NONE,
                               tooltip="a direction file in models/styleganex/directions ([512] or [18, 512] "
                                       ".npy/.pt/.safetensors), or the edit model's own vector"),
                io.Float.Input("strength", default=1.0, min=-50.0, max=50.0, step=0.05,
                               tooltip="how far along the direction (negative: the opposite way)"),
                io.Int.Input("layer_start", default=0, min=0, max=17, tooltip="first w+ row edited (0 = coarse)"),
                io.Int.Input("layer_end", default=17, min=0, max=17, tooltip="last w+ row edited (inclusive)"),
                io.Combo.Input("style_mix", options=MIX_MODES, default="off",
                               tooltip="off; random style: a random mapped style (needs model); from "
                                       "style_latent: another latent's rows"),
                io.Int.Input("mix_seed", default=0, min=0, max=0xFFFFFFFF, control_after_generate=True,
                             tooltip="the random style of 'random style'"),
                io.Int.Input("mix_layer_start", default=8, min=0, max=17,
                             tooltip="style mixing replaces the rows from here on (official: 8)"),
                io.Float.Input("mix_scale", default=0.7, min=0.0, max=2.0, step=0.05,
                               tooltip="how much of the mixed-in style (0: none, 1: all of it)"),
                ModelType.Input("model", optional=True,
                                tooltip="needed for 'random style' and for the model's editing vector"),
                LatentType.Input("style_latent", optional=True, tooltip="rows to mix in ('from style_latent')"),
            ],
            outputs=[LatentType.Output(display_name="latent", tooltip="the edited latent (f unchanged)")],
        )

    @classmethod
    def validate_inputs(cls, direction):
        if direction in (NONE, MODEL_VECTOR):
            return True
        try:
            _resolve(direction)
        except (FileNotFoundError, InputError) as e:
            return str(e)
        return True

    @classmethod
    def execute(cls, latent, direction=NONE, strength=1.0, layer_start=0, layer_end=17, style_mix="off",
                mix_seed=0, mix_layer_start=8, mix_scale=0.7, model=None, style_latent=None) -> io.NodeOutput:
        from ..styleganex.editing import apply_direction
        from ..styleganex.editing import style_mix as mix

        n = latent.wplus.shape[1]
        if direction != NONE and strength != 0:
            if direction == MODEL_VECTOR:
                if model is None or getattr(model.model, "editing_w", None) is None:
                    what = "no model is connected" if model is None else f"{model.describe()} has none"
                    raise ValueError(f"Apply Edit: '{MODEL_VECTOR}' needs styleganex_edit_age.pt or "
                                     f"styleganex_edit_hair.pt connected to 'model'; {what}")
                vector = model.model.editing_w[0].detach().to("cpu", torch.float32)
            else:
                vector = _load_direction(direction)
            lo, hi = min(layer_start, n - 1), min(layer_end, n - 1)
            if hi < lo:
                raise ValueError(f"Apply Edit: layer_end ({layer_end}) is before layer_start ({layer_start})")
            latent = apply_direction(latent, vector, float(strength), list(range(lo, hi + 1)))
        if style_mix != "off":
            if model is None:
                raise ValueError("Apply Edit: style mixing needs the model connected to 'model' (the same "
                                 "checkpoint the latent was encoded with)")
            source = None
            if style_mix == "from style_latent":
                if style_latent is None:
                    raise ValueError("Apply Edit: style_mix 'from style_latent' needs a latent connected to "
                                     "'style_latent'")
                source = style_latent
            rows = list(range(min(mix_layer_start, n - 1), n))
            latent = mix(model.model, latent, layers=rows, seed=int(mix_seed), scale=float(mix_scale),
                         source=source)
        return io.NodeOutput(latent)


class SwapGenerator(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXSwapGenerator",
            display_name="Swap Generator (StyleGANEX)",
            category=f"{CATEGORY}/edit",
            description="Domain transfer: the same encoder with another generator, e.g. a toonify or StyleGAN-NADA "
                        "fine-tune of StyleGAN2-FFHQ 1024 (a rosinality .pt with g_ema, or another StyleGANEX "
                        "checkpoint's decoder). Decode a latent with the result to render it in that domain.",
            inputs=[
                ModelType.Input("model", tooltip="the model whose encoder (and latents) are kept"),
                io.Combo.Input("generator", options=checkpoint_files(),
                               tooltip="StyleGAN2 (g_ema) or StyleGANEX checkpoint in models/styleganex"),
            ],
            outputs=[ModelType.Output(display_name="model",
                                      tooltip="the same encoder with the other generator: decode latents with it")],
        )

    @classmethod
    def validate_inputs(cls, generator):
        return check_model_file(generator, "generator checkpoint")

    @classmethod
    def execute(cls, model, generator) -> io.NodeOutput:
        from ..styleganex.checkpoints import load_generator

        path = require_model_file(generator, "generator checkpoint")
        with torch.inference_mode(False):
            swapped = model.model.swap_generator(load_generator(path)[0])
        return io.NodeOutput(StyleGANEXModel(swapped, f"{model.name} + {generator}", model.device, model.dtype))


NODES = [ApplyEdit, SwapGenerator]
