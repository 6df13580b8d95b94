"""Loading StyleGANEX checkpoints and the face parser from the ``models/styleganex`` folders."""

from __future__ import annotations

import torch

from ..styleganex.checkpoints import load_model
from .common import (
    CATEGORY,
    FaceParserHandle,
    ModelType,
    ParserType,
    StyleGANEXModel,
    check_model_file,
    checkpoint_files,
    device_choice,
    dtype_choice,
    parser_files,
    require_model_file,
)
from .compat import io

DEVICES = ["auto", "cpu"]
PRECISION_CHOICES = ["auto", "fp32", "fp16", "bf16"]


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
                io.Combo.Input("device", options=DEVICES, default="auto",
                               tooltip="auto: ComfyUI's compute device; the weights wait on the CPU between runs"),
                io.Combo.Input("precision", options=PRECISION_CHOICES, default="auto",
                               tooltip="auto = fp32; fp16/bf16 halve memory on a GPU (inversion still "
                                       "optimises in fp32)"),
            ],
            outputs=[ModelType.Output(display_name="model")],
        )

    @classmethod
    def validate_inputs(cls, ckpt_name):
        return check_model_file(ckpt_name, "checkpoint")

    @classmethod
    def execute(cls, ckpt_name, device="auto", precision="auto") -> io.NodeOutput:
        path = require_model_file(ckpt_name, "checkpoint")
        dev = device_choice(device)
        dtype = dtype_choice(precision, dev)
        with torch.inference_mode(False):  # normal tensors: the inversion differentiates through the model
            model = load_model(path, device="cpu", dtype=dtype)
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
                io.Combo.Input("parser_name", options=parser_files()),
                io.Combo.Input("device", options=DEVICES, default="auto"),
            ],
            outputs=[ParserType.Output(display_name="parser")],
        )

    @classmethod
    def validate_inputs(cls, parser_name):
        return check_model_file(parser_name, "face parser")

    @classmethod
    def execute(cls, parser_name, device="auto") -> io.NodeOutput:
        from ..styleganex.parsing import FaceParser

        path = require_model_file(parser_name, "face parser")
        with torch.inference_mode(False):
            parser = FaceParser.load(path, device="cpu")
        return io.NodeOutput(FaceParserHandle(parser, parser_name, device_choice(device)))


NODES = [LoadStyleGANEX, LoadFaceParser]
