"""Image translation nodes: face super-resolution and sketch / parsing-mask to face."""

from __future__ import annotations

import torch

from ..styleganex import InputError, NoFaceError
from .compat import io
from .progress import Progress, cancellable
from .sockets import CATEGORY, CropType, ModelType
from .tensors import core_to_image, image_to_core, mask_to_core


class SuperResolve(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXSuperResolve",
            display_name="Super-Resolve Face (StyleGANEX)",
            category=f"{CATEGORY}/translation",
            description="Face super-resolution with styleganex_sr.pt (factors 4-48) or styleganex_sr32.pt (32 only): "
                        "the low-resolution face is upsampled by factor/4, aligned, encoded and decoded 4x larger, "
                        "so the output is factor times the input.",
            inputs=[
                ModelType.Input("model", tooltip="styleganex_sr.pt (4-48x) or styleganex_sr32.pt (32x only)"),
                io.Image.Input("image", tooltip="low-resolution face crop(s)"),
                io.Int.Input("factor", default=32, min=4, max=48, step=1,
                             tooltip="output size / input size (styleganex_sr32.pt: 32 only)"),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFF, control_after_generate=True,
                             tooltip="the decoder's noise maps (fine detail)"),
                CropType.Input("crop_info", optional=True,
                               tooltip="Face Crop's crop info of the (high-resolution) crop this image was made "
                                       "from: its landmarks are used instead of detecting the face again"),
            ],
            outputs=[io.Image.Output(display_name="image", tooltip="the face, factor times the input size")],
        )

    @classmethod
    def execute(cls, model, image, factor=32, seed=0, crop_info=None) -> io.NodeOutput:
        from ..styleganex import super_resolve

        model.require("Super-Resolve", ("sr",))
        x01 = image_to_core(image)
        h, w = x01.shape[-2:]
        if min(h, w) < 8:
            raise InputError(f"Super-Resolve: the image is {w}x{h} px; it needs at least 8 px per side")
        faces = None
        if crop_info is not None:
            if crop_info.batch not in (1, x01.shape[0]):
                raise InputError(f"Super-Resolve: the crop info is for {crop_info.batch} images, the batch has "
                                 f"{x01.shape[0]}")
            faces = [crop_info.face_in(b if crop_info.batch > 1 else 0, (h, w)) for b in range(x01.shape[0])]
        progress = Progress(x01.shape[0])
        with model.on_device() as m, cancellable():
            try:
                out = super_resolve(m, x01, factor=int(factor), face=faces, seed=int(seed), crop=False,
                                    progress=progress, cancel=progress.cancel)
            except NoFaceError as e:
                raise NoFaceError(f"Super-Resolve: {e}. Connect the crop_info of the Face Crop that made this "
                                  "image, so its landmarks are used.") from None
        return io.NodeOutput(core_to_image(out))


class TranslateSketch(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXTranslateSketch",
            display_name="Sketch/Mask to Face (StyleGANEX)",
            category=f"{CATEGORY}/translation",
            description="Faces from a sketch (styleganex_sketch2face.pt) or a face-parsing mask "
                        "(styleganex_mask2face.pt): `number` samples per input, each with its own random style "
                        "for the upper layers. Sketch: IMAGE (grey, white background) or MASK in 0..1. Parsing "
                        "mask: Face Parse's labels MASK, a label image (pixel = class id) or a CelebAMask-HQ colour "
                        "mask IMAGE. Output: number x batch images, 4x the input size.",
            inputs=[
                ModelType.Input("model", tooltip="styleganex_sketch2face.pt or styleganex_mask2face.pt"),
                io.Image.Input("image", optional=True, tooltip="sketch, label image or colour parsing mask"),
                io.Mask.Input("mask", optional=True, tooltip="sketch in 0..1, or parsing labels (class id / 255)"),
                io.Int.Input("number", default=1, min=1, max=64, tooltip="samples per input"),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFF, control_after_generate=True,
                             tooltip="the random styles of the samples (and their noise)"),
            ],
            outputs=[io.Image.Output(display_name="images",
                                     tooltip="number faces per input, input by input, 4x the input size")],
        )

    @classmethod
    def execute(cls, model, image=None, mask=None, number=1, seed=0) -> io.NodeOutput:
        from ..styleganex import mask_to_face, sketch_to_face

        model.require("Sketch/Mask to Face", ("sketch", "mask"))
        if image is None and mask is None:
            raise InputError("Sketch/Mask to Face: connect a sketch or a parsing mask to 'image' or 'mask'")
        if image is not None and mask is not None:
            raise InputError("Sketch/Mask to Face: connect either 'image' or 'mask', not both")
        x = _sketch(image, mask) if model.kind == "sketch" else _labels(image, mask)
        progress = Progress(x.shape[0] * int(number))
        run = sketch_to_face if model.kind == "sketch" else mask_to_face
        with model.on_device() as m, cancellable():
            out = run(m, x, number=int(number), seed=int(seed), progress=progress, cancel=progress.cancel)
        return io.NodeOutput(core_to_image(out))


def _sketch(image, mask) -> torch.Tensor:
    from ..styleganex import prepare_sketch

    return prepare_sketch(mask_to_core(mask).clamp(0.0, 1.0) if mask is not None else image_to_core(image))


def _labels(image, mask) -> torch.Tensor:
    """Class ids [B, H, W] from Face Parse's labels MASK (class id / 255), a label image or a colour mask."""
    from ..styleganex import label_image_to_labels

    try:
        return label_image_to_labels(mask_to_core(mask) if mask is not None else image_to_core(image))
    except InputError as e:
        what = "this MASK is not a parsing label mask (class id / 255)" if mask is not None else \
            "the image is not a parsing mask"
        raise InputError(f"Sketch/Mask to Face: {what}: {e}. Connect Face Parse's labels or mask_image output, a "
                         "label PNG (pixel = class id) or a CelebAMask-HQ colour mask.") from None


NODES = [SuperResolve, TranslateSketch]
