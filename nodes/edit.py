"""Latent editing nodes: attribute directions (files of every public source, or SeFa directions of the
model itself), strength sweeps, style mixing, and domain transfer (another generator)."""

from __future__ import annotations

import os
import re

import torch

from ..styleganex import MIX_FROM, MIX_SCALE, OWN_ROWS, InputError, StyleGANEXError, rows_between
from .compat import io
from .folders import (
    DIRECTIONS_FOLDER,
    MODELS_FOLDER,
    check_file,
    checkpoint_files,
    direction_files,
    find_model_file,
    first_folder,
    missing_file_message,
    resolve_file,
)
from .progress import Progress, cancellable
from .sockets import CATEGORY, LatentType, ModelType, StyleGANEXModel
from .tensors import core_to_image

# a list of the core's Direction objects, strongest / first first
DirectionsType = io.Custom("STYLEGANEX_DIRECTIONS")

NONE = "none"
MODEL_VECTOR = "model editing vector (edit_age / edit_hair)"
MIX_MODES = {"off": "off", "random style": "random", "from style_latent": "latent"}
"""The node's style-mix choices and the core's names for them."""
ROW_INPUTS = ("layer_start", "layer_end")
_NAMED = re.compile(r"^(?P<file>.+) \[(?P<name>[^\]]+)\]$")
_cache: dict[str, tuple[tuple[float, int], object]] = {}

DIRECTION_TIP = ("a direction file in models/styleganex/directions (e.g. the official direction_dics.pt: smile, "
                 "open_eye, open_mouth, pose, reduce_age, glasses, light_hair_color, slender), or the editing vector "
                 "of an edit_age/edit_hair model. Ignored when 'directions' is connected")
STRENGTH_TIP = ("w+ += strength x direction. Usual ranges: official -2..2, InterFaceGAN -3..3, LowRankGAN -4..4, "
                "GANSpace -10..10 (sigma), SeFa -15..15")
ROWS_TIP = ("-1 (with layer_end -1): the direction's own rows (official/InterFaceGAN: all, LowRankGAN: 4-7, "
            "SeFa: the rows it was computed from); else the first w+ row edited (0 = coarse)")
ROWS_END_TIP = "last w+ row edited (inclusive); -1: the direction's own rows"
DIRECTIONS_TIP = "directions from 'SeFa Directions'; when connected, direction_index picks one of them"
INDEX_TIP = "which of the connected directions (0 = the strongest SeFa direction)"


# ---- choosing a direction ----------------------------------------------------------------------------
def _read(path: str):
    """The file's directions (cached by modification time and size), or the error reading them."""
    from ..styleganex import read_directions

    st = os.stat(path)
    key = (st.st_mtime, st.st_size)
    hit = _cache.get(path)
    if hit and hit[0] == key:
        return hit[1]
    try:
        value = read_directions(path)
    except (StyleGANEXError, OSError) as e:  # DirectionError and unreadable files: shown when the node runs
        value = e
    _cache[path] = (key, value)
    return value


def direction_options() -> list[str]:
    """'none', the model vector, then every file: 'file' for one direction, 'file [name]' for each of several."""
    from ..styleganex import has_control

    options = [NONE, MODEL_VECTOR]
    for f in direction_files():
        if has_control(f):  # a file name that would act on the list it is shown in: not offered
            continue
        try:
            path = resolve_file(DIRECTIONS_FOLDER, f, "direction file")
        except InputError:  # a link that leads outside the folders: not offered
            continue
        found = _read(path) if path else None
        names = list(found) if isinstance(found, dict) else []
        options.extend([f"{f} [{n}]" for n in names] if len(names) > 1 else [f])
    return options


def _missing_direction(file: str) -> str:
    from ..styleganex import DIRECTIONS_FILE as OFFICIAL_FILE
    from ..styleganex import DIRECTIONS_LICENSE as OFFICIAL_LICENSE
    from ..styleganex import DIRECTIONS_URL as OFFICIAL_URL

    where = first_folder(DIRECTIONS_FOLDER)
    official = os.path.basename(file) == OFFICIAL_FILE
    get = (f"Download it from {OFFICIAL_URL} ({OFFICIAL_LICENSE})" if official else
           f"Put direction files there (.pt/.npy/.npz/.safetensors: the official {OFFICIAL_FILE} from "
           f"{OFFICIAL_URL}, InterFaceGAN, LowRankGAN, GANSpace, or 'python -m styleganex sefa')")
    return f"direction file '{file}' not found. {get} into {where}, then press R to refresh."


def _resolve(choice: str) -> tuple[str, str | None]:
    """(path, name or None) of a direction choice; FileNotFoundError saying where to get it."""
    m = _NAMED.match(choice)
    file, name = (m.group("file"), m.group("name")) if m else (choice, None)
    path = resolve_file(DIRECTIONS_FOLDER, file, "Apply Edit: direction file")
    if path is None:
        raise FileNotFoundError(_missing_direction(file))
    return path, name


def _check_choice(direction: str):
    """For validate_inputs: True, or the message of a missing direction file."""
    if direction in (NONE, MODEL_VECTOR):
        return True
    try:
        _resolve(direction)
    except (FileNotFoundError, InputError) as e:
        return str(e)
    return True


def pick_direction(node: str, choice: str, model=None, directions=None, index: int = 0):
    """The core Direction a node was given (None for 'none'): from the 'directions' socket, the model's
    editing vector, or a file."""
    from ..styleganex import model_direction, select_direction

    if directions is not None:
        if not 0 <= int(index) < len(directions):
            raise InputError(f"{node}: direction_index {index} is out of range: {len(directions)} directions "
                             f"are connected (0..{len(directions) - 1})")
        return directions[int(index)]
    if choice == NONE:
        return None
    if choice == MODEL_VECTOR:
        if model is None:
            raise InputError(f"{node}: '{MODEL_VECTOR}' needs styleganex_edit_age.pt or styleganex_edit_hair.pt "
                             "connected to 'model'; no model is connected")
        try:
            return model_direction(model.model)
        except InputError as e:
            raise InputError(f"{node}: '{MODEL_VECTOR}': {e}") from None
    path, name = _resolve(choice)
    found = _read(path)
    if isinstance(found, Exception):
        raise found
    return select_direction(found, name, f"{node}: {os.path.basename(path)}")


def _direction_inputs():
    return [DirectionsType.Input("directions", optional=True, tooltip=DIRECTIONS_TIP),
            io.Int.Input("direction_index", default=0, min=0, max=4095, optional=True, tooltip=INDEX_TIP)]


# ---- nodes -------------------------------------------------------------------------------------------
class ApplyEdit(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXApplyEdit",
            display_name="Apply Edit (StyleGANEX)",
            category=f"{CATEGORY}/edit",
            description="Edit a latent: w+ += strength x direction on the direction's own rows (or layer_start.."
                        "layer_end). Directions: files in models/styleganex/directions of every public source "
                        "(official direction_dics.pt, InterFaceGAN, LowRankGAN, GANSpace, ours), 'SeFa Directions' "
                        "of the model itself, or an edit_age/edit_hair model's vector. Then optional style mixing of "
                        "the rows from mix_layer_start on. Chain nodes for several edits (the same as applying them "
                        "one after the other).",
            inputs=[
                LatentType.Input("latent",
                                 tooltip="the latent to edit (from Encode, Optimize Inversion or Load Latent)"),
                io.Combo.Input("direction", options=direction_options(), default=NONE, tooltip=DIRECTION_TIP),
                io.Float.Input("strength", default=1.0, min=-50.0, max=50.0, step=0.05, tooltip=STRENGTH_TIP),
                io.Int.Input("layer_start", default=OWN_ROWS, min=OWN_ROWS, max=17, tooltip=ROWS_TIP),
                io.Int.Input("layer_end", default=OWN_ROWS, min=OWN_ROWS, max=17, tooltip=ROWS_END_TIP),
                io.Combo.Input("style_mix", options=list(MIX_MODES), default="off",
                               tooltip="replace the fine rows with a random style or another latent's rows"),
                io.Int.Input("mix_seed", default=0, min=0, max=0xFFFFFFFF, control_after_generate=True,
                             tooltip="seed of the random style ('random style')"),
                io.Int.Input("mix_layer_start", default=MIX_FROM, min=0, max=17,
                             tooltip=f"style mixing replaces the rows from here on (official: {MIX_FROM})"),
                io.Float.Input("mix_scale", default=MIX_SCALE, min=0.0, max=2.0, step=0.05,
                               tooltip=f"factor of the random style (official: {MIX_SCALE})"),
                ModelType.Input("model", optional=True,
                                tooltip="needed for 'random style' and for the model's editing vector"),
                LatentType.Input("style_latent", optional=True, tooltip="rows to mix in ('from style_latent')"),
                *_direction_inputs(),
            ],
            outputs=[LatentType.Output(display_name="latent", tooltip="the edited latent (decode it to see it)")],
        )

    @classmethod
    def validate_inputs(cls, direction):
        return _check_choice(direction)

    @classmethod
    def execute(cls, latent, direction=NONE, strength=1.0, layer_start=OWN_ROWS, layer_end=OWN_ROWS,
                style_mix="off", mix_seed=0, mix_layer_start=MIX_FROM, mix_scale=MIX_SCALE, model=None,
                style_latent=None,
                directions=None, direction_index=0) -> io.NodeOutput:
        from ..styleganex import edit_latent

        n = latent.wplus.shape[1]
        chosen = pick_direction("Apply Edit", direction, model, directions, direction_index)
        try:
            rows = rows_between(layer_start, layer_end, n, ROW_INPUTS) if chosen is not None else None
            return io.NodeOutput(edit_latent(latent, chosen, float(strength), rows,
                                             model=None if model is None else model.model, mix=MIX_MODES[style_mix],
                                             mix_rows=f"{min(mix_layer_start, n - 1)}-{n - 1}", mix_seed=int(mix_seed),
                                             mix_scale=float(mix_scale), mix_source=style_latent))
        except InputError as e:
            raise type(e)(f"Apply Edit: {e}") from None


class SeFaDirections(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXSeFaDirections",
            display_name="SeFa Directions (StyleGANEX)",
            category=f"{CATEGORY}/edit",
            description="Editing directions with no download: SeFa (closed-form factorisation, Shen and Zhou, "
                        "CVPR 2021) of the model's own style-modulation weights for the chosen rows; the top_k "
                        "strongest, cached per model. Connect to Apply Edit / Edit Sweep 'directions' and pick one "
                        "with direction_index; they edit the rows they were computed from (strength about -15..15).",
            inputs=[
                ModelType.Input("model", tooltip="the model whose generator is factorised"),
                io.String.Input("layers", default="all",
                                tooltip="w+ rows to factorise and edit: all, 0-1 (pose), 2-5 (features), 0-7, "
                                        "8-17 (colour), or a list such as 0,2,4-6"),
                io.Int.Input("top_k", default=5, min=1, max=512, tooltip="how many directions, strongest first"),
            ],
            outputs=[DirectionsType.Output(display_name="directions",
                                           tooltip="the top_k directions (index 0 = the strongest)")],
        )

    @classmethod
    def execute(cls, model, layers="all", top_k=5) -> io.NodeOutput:
        from ..styleganex import sefa_directions

        return io.NodeOutput(list(sefa_directions(model.model, layers, int(top_k)).values()))


class EditSweep(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        from ..styleganex import NOISE_MODES

        return io.Schema(
            node_id="StyleGANEXEditSweep",
            display_name="Edit Sweep (StyleGANEX)",
            category=f"{CATEGORY}/edit",
            description="A filmstrip: one frame of a latent rendered at `frames` strengths of a direction, evenly "
                        "from start to end (start = end: the direction's own range). Decode only: the latent is "
                        "not encoded again, so changing the sweep re-runs this node alone.",
            inputs=[
                ModelType.Input("model", tooltip="the model that made the latent"),
                LatentType.Input("latent", tooltip="the latent to sweep (its first frame unless 'frame' is set)"),
                io.Combo.Input("direction", options=direction_options(), default=NONE, tooltip=DIRECTION_TIP),
                io.Float.Input("start", default=0.0, min=-50.0, max=50.0, step=0.05,
                               tooltip="first strength; start = end (e.g. both 0): the direction's own range "
                                       "(official -2..2, InterFaceGAN -3..3, LowRankGAN -4..4, GANSpace -10..10, "
                                       "SeFa -15..15)"),
                io.Float.Input("end", default=0.0, min=-50.0, max=50.0, step=0.05, tooltip="last strength"),
                io.Int.Input("frames", default=5, min=1, max=64, tooltip="how many images (strengths)"),
                io.Int.Input("layer_start", default=OWN_ROWS, min=OWN_ROWS, max=17, tooltip=ROWS_TIP),
                io.Int.Input("layer_end", default=OWN_ROWS, min=OWN_ROWS, max=17, tooltip=ROWS_END_TIP),
                io.Combo.Input("noise", options=list(NOISE_MODES), default="auto",
                               tooltip="auto: the optimised noise of an inverted latent, else zero; random: from seed"),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFF, control_after_generate=True,
                             tooltip="seed of noise 'random'"),
                io.Int.Input("frame", default=0, min=0, max=4095, tooltip="which frame of the latent's batch"),
                *_direction_inputs(),
            ],
            outputs=[io.Image.Output(display_name="images",
                                     tooltip="one image per strength, in order from start to end")],
        )

    @classmethod
    def validate_inputs(cls, direction):
        return _check_choice(direction)

    @classmethod
    def execute(cls, model, latent, direction=NONE, start=0.0, end=0.0, frames=5, layer_start=OWN_ROWS,
                layer_end=OWN_ROWS, noise="auto", seed=0, frame=0, directions=None,
                direction_index=0) -> io.NodeOutput:
        from ..styleganex import sweep, sweep_strengths

        chosen = pick_direction("Edit Sweep", direction, model, directions, direction_index)
        if chosen is None:
            raise InputError("Edit Sweep: choose a direction (or connect 'directions')")
        low, high = chosen.strength_range if start == end else (start, end)
        strengths = sweep_strengths(float(low), float(high), int(frames))
        try:
            rows = rows_between(layer_start, layer_end, latent.wplus.shape[1], ROW_INPUTS)
        except InputError as e:
            raise type(e)(f"Edit Sweep: {e}") from None
        progress = Progress(len(strengths))
        with model.on_device() as m, cancellable():
            images = sweep(m, latent, chosen, strengths, rows, frame=int(frame), noise=noise, seed=int(seed),
                           progress=progress, cancel=progress.cancel)
        return io.NodeOutput(core_to_image(images))


def _missing_generator(name: str) -> str:
    from ..styleganex import NADA_GENERATORS, NADA_LICENSE, NADA_REPO

    if os.path.splitext(os.path.basename(name))[0] in NADA_GENERATORS:
        where = first_folder()
        return (f"StyleGAN-NADA generator '{name}' not found. Download {os.path.basename(name)} from "
                f"{NADA_REPO} ({NADA_LICENSE}) and put it in {where}; then press R to refresh the list.")
    return missing_file_message(name, "generator checkpoint")


class SwapGenerator(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXSwapGenerator",
            display_name="Swap Generator (StyleGANEX)",
            category=f"{CATEGORY}/edit",
            description="Domain transfer: the same encoder with another generator, e.g. the StyleGAN-NADA models "
                        "of the official demo (disney_princess, vintage_comics, pixar, edvard_munch, modigliani .pt "
                        "from huggingface.co/rinong/stylegan-nada-models), a toonify fine-tune of StyleGAN2-FFHQ 1024 "
                        "(a rosinality .pt with g_ema) or another StyleGANEX checkpoint's decoder. Decode a latent "
                        "with the result to render it in that domain.",
            inputs=[
                ModelType.Input("model", tooltip="the model whose encoder (and latents) are kept"),
                io.Combo.Input("generator", options=checkpoint_files(),
                               tooltip="StyleGAN2 (g_ema, e.g. StyleGAN-NADA) or StyleGANEX checkpoint in "
                                       "models/styleganex"),
            ],
            outputs=[ModelType.Output(display_name="model",
                                      tooltip="the same encoder with the other generator: decode latents with it")],
        )

    @classmethod
    def validate_inputs(cls, generator):
        return check_file(MODELS_FOLDER, generator, "generator checkpoint", _missing_generator)

    @classmethod
    def execute(cls, model, generator) -> io.NodeOutput:
        from ..styleganex import load_generator

        path = find_model_file(generator)
        if path is None:
            raise FileNotFoundError(_missing_generator(generator))
        with torch.inference_mode(False):
            swapped = model.model.swap_generator(load_generator(path)[0])
        return io.NodeOutput(StyleGANEXModel(swapped, f"{model.name} + {generator}", model.device, model.dtype))


NODES = [ApplyEdit, SeFaDirections, EditSweep, SwapGenerator]
