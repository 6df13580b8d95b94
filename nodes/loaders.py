"""Loading StyleGANEX checkpoints and the face parser from the ``models/styleganex`` folders."""

from __future__ import annotations

import os

import torch

from ..styleganex import FAST_ENV, FAST_SETTINGS, OFFICIAL_FILES, check_fast, load_model
from .compat import ProgressBar, auto_dtype, compute_device, interrupted, io
from .folders import (
    DOWNLOAD_OPTION,
    MODELS_FOLDER,
    check_file,
    checkpoint_files,
    download_folder,
    find_model_file,
    missing_file_message,
    parser_files,
    resolve_file,
)
from .sockets import CATEGORY, FaceParserHandle, ModelType, ParserType, StyleGANEXModel

DEVICES = ["auto", "cpu"]
PRECISION_CHOICES = ["auto", "fp32", "fp16", "bf16"]
DEVICE_TOOLTIP = ("auto: ComfyUI's compute device (the CPU under --cpu); ComfyUI's memory manager keeps the model "
                  "loaded between runs while memory allows and frees it for other models")


# ---- the opt-in download of official files, device and precision ----------------------------------


def fetch_model_file(name: str) -> str:
    """Download an official file into :func:`download_folder` with ComfyUI's progress bar (stops on Cancel)."""
    from ..styleganex import fetch_official

    bar = ProgressBar(1)
    path = fetch_official(os.path.basename(name), download_folder(),
                          progress=lambda done, total: bar.update_absolute(done, max(total, done, 1)),
                          cancel=interrupted)
    return str(path)


def check_model_file(name: str, what: str = "model file"):
    """For ``validate_inputs``: True when the file is there, else the message saying where to get it (or why
    the name is refused)."""
    return check_file(MODELS_FOLDER, name, what, lambda n: missing_file_message(n, what))


def require_model_file(name: str, what: str = "model file") -> str:
    path = resolve_file(MODELS_FOLDER, name, what)
    if path is None:
        raise FileNotFoundError(missing_file_message(name, what))
    return path


PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def device_choice(choice: str) -> torch.device:
    if choice == "cpu":
        return torch.device("cpu")
    return torch.device(compute_device())


def dtype_choice(choice: str, device: torch.device) -> torch.dtype:
    """auto: ComfyUI's choice for an image model on ``device`` (:func:`.compat.auto_dtype`: fp32 unless
    ComfyUI runs with --bf16-vae / --fp16-vae)."""
    if choice == "auto":
        return auto_dtype(device)
    return PRECISIONS[choice]


def download_input():
    return io.Boolean.Input(DOWNLOAD_OPTION, default=False, optional=True,
                            tooltip="when the file is missing and is one of the official StyleGANEX files, fetch "
                                    "it from the hub (huggingface.co/PKUWilliamYang/StyleGANEX) into "
                                    "models/styleganex, with a progress bar. Off by default. Official weights: "
                                    "S-Lab License 1.0, non-commercial use only")


def _check(name: str, what: str, download: bool):
    if name in OFFICIAL_FILES and download and find_model_file(name) is None:
        return True  # fetched when the node runs
    return check_model_file(name, what)


def _path(name: str, what: str, download: bool) -> str:
    if name in OFFICIAL_FILES and download and find_model_file(name) is None:
        return fetch_model_file(name)
    return require_model_file(name, what)


class LoadStyleGANEX(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXLoader",
            display_name="Load StyleGANEX",
            category=f"{CATEGORY}/loaders",
            description="Load a StyleGANEX checkpoint (official styleganex_*.pt or .safetensors) from "
                        "models/styleganex. Official weights: S-Lab License 1.0, non-commercial use only.",
            inputs=[
                io.Combo.Input("ckpt_name", options=checkpoint_files(),
                               tooltip="styleganex_inversion.pt, _sr.pt, _sr32.pt, _sketch2face.pt, "
                                       "_mask2face.pt, _edit_age.pt, _edit_hair.pt, _toonify_*.pt"),
                io.Combo.Input("device", options=DEVICES, default="auto", tooltip=DEVICE_TOOLTIP),
                io.Combo.Input("precision", options=PRECISION_CHOICES, default="auto",
                               tooltip="auto: ComfyUI's choice (fp32, or bf16/fp16 when ComfyUI runs with "
                                       "--bf16-vae/--fp16-vae); fp16/bf16 halve memory on a GPU (the inversion "
                                       "still optimises in fp32)"),
                download_input(),
                io.Combo.Input("fast", options=list(FAST_SETTINGS), default="auto", optional=True,
                               tooltip="fast paths (compiled decoder, encoder and inversion step; the inversion "
                                       "without per-step waits): auto on a GPU only, 1 everywhere, 0 the reference "
                                       f"path only. The first run of each image size compiles (slow once). "
                                       f"${FAST_ENV} sets the default"),
            ],
            outputs=[ModelType.Output(display_name="model",
                                      tooltip="the loaded StyleGANEX model, for every StyleGANEX node")],
        )

    @classmethod
    def validate_inputs(cls, ckpt_name, download_if_missing=False):
        return _check(ckpt_name, "checkpoint", download_if_missing)

    @classmethod
    def execute(cls, ckpt_name, device="auto", precision="auto", download_if_missing=False,
                fast="auto") -> io.NodeOutput:
        path = _path(ckpt_name, "checkpoint", download_if_missing)
        dev = device_choice(device)
        dtype = dtype_choice(precision, dev)
        with torch.inference_mode(False):  # normal tensors: the inversion differentiates through the model
            model = load_model(path, device="cpu", dtype=dtype)
        model.fast = check_fast(fast, "fast")
        return io.NodeOutput(StyleGANEXModel(model, ckpt_name, dev, dtype))


class LoadFaceParser(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXFaceParserLoader",
            display_name="Load Face Parser (StyleGANEX)",
            category=f"{CATEGORY}/loaders",
            description="Load the BiSeNet face parser of the StyleGANEX release (faceparsing.pth, 19 classes) "
                        "from models/styleganex.",
            inputs=[
                io.Combo.Input("parser_name", options=parser_files(),
                               tooltip="faceparsing.pth of the StyleGANEX release (BiSeNet, 19 classes) in "
                                       "models/styleganex"),
                io.Combo.Input("device", options=DEVICES, default="auto", tooltip=DEVICE_TOOLTIP),
                download_input(),
            ],
            outputs=[ParserType.Output(display_name="parser", tooltip="the face parser, for Face Parse")],
        )

    @classmethod
    def validate_inputs(cls, parser_name, download_if_missing=False):
        return _check(parser_name, "face parser", download_if_missing)

    @classmethod
    def execute(cls, parser_name, device="auto", download_if_missing=False) -> io.NodeOutput:
        from ..styleganex import FaceParser

        path = _path(parser_name, "face parser", download_if_missing)
        with torch.inference_mode(False):
            parser = FaceParser.load(path, device="cpu")
        return io.NodeOutput(FaceParserHandle(parser, parser_name, device_choice(device)))


NODES = [LoadStyleGANEX, LoadFaceParser]
