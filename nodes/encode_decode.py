"""Encode an image into the W+-F latent, refine it by optimisation, and decode it (optionally pasting
the result back into the original photo)."""

from __future__ import annotations

from contextlib import nullcontext

import torch

from ..styleganex import FACE_FEATHER, MASK_SHAPES, InputError, inversion
from ..styleganex import NOISE_MODES as CORE_NOISE_MODES
from .compat import io
from .folders import VGG_FILE, find_model_file, first_folder, vgg_files
from .progress import Progress, cancellable
from .sockets import CATEGORY, CropType, LatentType, ModelType, ParserType
from .tensors import core_to_image, image_to_core

NOISE_MODES = list(CORE_NOISE_MODES)
RANDOM_BACKBONE = "random (tests only)"


def _aligned(aligned):
    return None if aligned is None else image_to_core(aligned, "aligned")


class Encode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXEncode",
            display_name="Encode (StyleGANEX)",
            category=f"{CATEGORY}/latent",
            description="Encode face crops into StyleGANEX's joint W+-F space: w+ from the aligned face (or from "
                        "the crop itself when no aligned face is connected), f from the whole crop. Step I of "
                        "the inversion; refine with Optimize Inversion.",
            inputs=[
                ModelType.Input("model", tooltip="styleganex_inversion.pt (or another rgb/sr model)"),
                io.Image.Input("image", tooltip="the crop (Face Crop's crop output); padded to multiples of 8"),
                io.Image.Input("aligned", optional=True,
                               tooltip="the 256x256 FFHQ-aligned face (Face Crop's aligned output)"),
                CropType.Input("crop_info", optional=True, tooltip="kept in the latent (Save Latent stores it)"),
            ],
            outputs=[LatentType.Output(display_name="latent", tooltip="w+ [18, 512] and f of each crop")],
        )

    @classmethod
    def execute(cls, model, image, aligned=None, crop_info=None) -> io.NodeOutput:
        from ..styleganex import encode_images

        model.require("Encode", ("rgb", "sr"))
        images = image_to_core(image)
        progress = Progress(images.shape[0])
        with model.on_device() as m, cancellable():
            latent = encode_images(m, images, _aligned(aligned), crop=crop_info, progress=progress,
                                   cancel=progress.cancel)
        latent.meta["model"] = model.name
        return io.NodeOutput(latent.to("cpu"))


def _lpips(backbone: str, weight: float):
    if weight <= 0:
        return None
    from ..styleganex import find_vgg_weights, load_lpips

    if backbone == RANDOM_BACKBONE:
        return load_lpips(random_backbone=True)
    path = find_model_file(backbone)
    if path is None:
        try:
            path = str(find_vgg_weights())  # torch's hub cache, $STYLEGANEX_MODELS
        except FileNotFoundError:
            raise FileNotFoundError(_vgg_missing(backbone)) from None
    return load_lpips(weights=path)


def _vgg_missing(name: str) -> str:
    from ..styleganex import VGG_URL

    return (f"Optimize Inversion: the LPIPS loss needs the VGG16 ImageNet weights '{name}', which were not found. "
            f"Download {VGG_URL} and put it in {first_folder()}; or set "
            f"lpips_weight to 0 and mse_weight above 0 to optimise a pixel loss only.")


class OptimizeInversion(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXOptimizeInversion",
            display_name="Optimize Inversion (StyleGANEX)",
            category=f"{CATEGORY}/latent",
            description="Step II of the two-step inversion: optimise w+, f and the noise maps so the decoded image "
                        "matches the crop (official: 500 Adam steps, lr 0.05, LPIPS-VGG loss). Decode the result "
                        "with noise 'auto' to use the optimised noise. Cancel stops within one step. On a CPU the "
                        "official 500 steps take hours: the node shows its time estimate after the first steps.",
            inputs=[
                ModelType.Input("model", tooltip="styleganex_inversion.pt (optimised in fp32 whatever its precision)"),
                io.Image.Input("image", tooltip="the crop to reconstruct (Face Crop's crop output)"),
                LatentType.Input("latent", optional=True, tooltip="starting latent (Encode's output)"),
                io.Image.Input("aligned", optional=True, tooltip="aligned face for the start when no latent is given"),
                io.Int.Input("steps", default=inversion.STEPS, min=1, max=10000,
                             tooltip="Adam steps (official 500: about a minute on a GPU, hours on a CPU, where "
                                     "50 gives a first look; the node shows its time estimate after a few steps)"),
                io.Float.Input("lr", default=inversion.LR, min=0.0001, max=1.0, step=0.001,
                               tooltip="Adam learning rate"),
                io.Float.Input("lpips_weight", default=inversion.LPIPS_WEIGHT, min=0.0, max=100.0, step=0.01,
                               tooltip="weight of the perceptual (LPIPS-VGG) loss"),
                io.Float.Input("mse_weight", default=0.0, min=0.0, max=1000.0, step=0.01,
                               tooltip="weight of the pixel (mean squared error) loss"),
                io.Float.Input("noise_reg_weight", default=inversion.NOISE_REG_WEIGHT, min=0.0, max=1e6, step=1.0,
                               tooltip="keeps the optimised noise maps noise-like (official 1000)"),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFF, control_after_generate=True,
                             tooltip="the starting noise maps"),
                io.Combo.Input("lpips_backbone", options=vgg_files() + [RANDOM_BACKBONE], default=VGG_FILE,
                               tooltip=f"VGG16 ImageNet weights for LPIPS ({VGG_FILE} in models/styleganex or "
                                       f"torch's hub cache). '{RANDOM_BACKBONE}': a random network, not a "
                                       "perceptual metric"),
            ],
            outputs=[LatentType.Output(display_name="latent",
                                       tooltip="the optimised w+, f and noise maps (Decode with noise 'auto')")],
        )

    @classmethod
    def validate_inputs(cls, lpips_backbone, lpips_weight):
        if lpips_weight <= 0 or lpips_backbone == RANDOM_BACKBONE:
            return True
        try:
            found = find_model_file(lpips_backbone)
        except InputError as e:
            return str(e)
        if found is None:
            try:
                from ..styleganex import find_vgg_weights
                find_vgg_weights()
            except (FileNotFoundError, ImportError):
                return _vgg_missing(lpips_backbone)
        return True

    @classmethod
    def execute(cls, model, image, latent=None, aligned=None, steps=500, lr=0.05, lpips_weight=1.0,
                mse_weight=0.0, noise_reg_weight=1000.0, seed=0, lpips_backbone=VGG_FILE) -> io.NodeOutput:
        from ..styleganex import invert_images

        model.require("Optimize Inversion", ("rgb", "sr"))
        progress = Progress(steps, estimate="Optimize Inversion", device=model.device.type)
        # ComfyUI runs nodes in torch.inference_mode(); the LPIPS network must be made outside it so the
        # optimisation (which leaves inference mode itself) can differentiate through it
        with torch.inference_mode(False):
            lp = _lpips(lpips_backbone, lpips_weight)
        try:
            with model.on_device(dtype=torch.float32) as m, cancellable():
                result = invert_images(m, image_to_core(image), _aligned(aligned), latent=latent, steps=int(steps),
                                       lr=float(lr), lpips_weight=float(lpips_weight), mse_weight=float(mse_weight),
                                       noise_reg_weight=float(noise_reg_weight), seed=int(seed),
                                       progress=progress, cancel=progress.cancel, lpips=lp)
        finally:
            if lp is not None:  # the cached LPIPS network waits on the CPU too
                lp.to("cpu")
        if latent is None:
            result.latent.meta["model"] = model.name
        return io.NodeOutput(result.latent.to("cpu", torch.float32))


class Decode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXDecode",
            display_name="Decode (StyleGANEX)",
            category=f"{CATEGORY}/latent",
            description="Render a latent (4x the crop at 1024). With crop_info connected every face is pasted back "
                        "into its photo (several faces of one photo into one frame) with a mask that follows the "
                        "face (from the landmarks, or from a face parser), faded inside its border, and the colours "
                        "matched to the photo around the face; the mask output shows where the photo was changed.",
            inputs=[
                ModelType.Input("model", tooltip="the model that made the latent"),
                LatentType.Input("latent", tooltip="what to render (Encode, Optimize Inversion or an edit)"),
                io.Combo.Input("noise", options=NOISE_MODES, default="auto",
                               tooltip="auto: the optimised noise of an inverted latent, else zero; random: from seed"),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFF, control_after_generate=True,
                             tooltip="seed of noise 'random'"),
                io.Boolean.Input("paste_back", default=True,
                                 tooltip="with crop_info: composite into the original photo (frame size)"),
                io.Float.Input("feather", default=FACE_FEATHER, min=0.0, max=0.5, step=0.01,
                               tooltip="paste-back fade width, as a fraction of the crop's shorter side (the fade "
                                       "lies inside the mask)"),
                CropType.Input("crop_info", optional=True, tooltip="Face Crop's crop info: where to paste back"),
                io.Combo.Input("mask", options=list(MASK_SHAPES), default="face", optional=True,
                               tooltip="the pasted region: face = the face (landmarks, or the parser's skin/eyes/"
                                       "nose/mouth), head = with hair and ears (for hair edits), crop = the whole "
                                       "crop rectangle (toonify, the release)"),
                io.Float.Input("erode", default=0.0, min=0.0, max=0.5, step=0.005, optional=True,
                               tooltip="shrink the mask by this fraction of the crop's shorter side before fading"),
                io.Boolean.Input("colour_match", default=True, optional=True,
                                 tooltip="match the result's colours (CIELAB mean and spread) to the photo in a ring "
                                         "inside the mask, so no colour step shows at the edge"),
                ParserType.Input("parser", optional=True,
                                 tooltip="a face parser (faceparsing.pth): the mask follows the parsed face of the "
                                         "photo and of the result instead of the landmarks"),
            ],
            outputs=[
                io.Image.Output(display_name="image", tooltip="the photos with the faces pasted back (or the crops)"),
                io.Mask.Output(display_name="mask",
                               tooltip="where the photo was changed (1 = the result, 0 = untouched), for inpainting "
                                       "or blending; all ones without paste-back"),
            ],
        )

    @classmethod
    def execute(cls, model, latent, noise="auto", seed=0, paste_back=True, feather=0.05, crop_info=None,
                mask="face", erode=0.0, colour_match=True, parser=None) -> io.NodeOutput:
        from ..styleganex import PasteOptions, render_latent

        paste = PasteOptions(mask, float(feather), float(erode), bool(colour_match)) \
            if crop_info is not None and paste_back else None
        progress = Progress(latent.batch)
        with model.on_device() as m, cancellable(), \
                (parser.on_device() if parser is not None and paste is not None else nullcontext()) as p:
            result = render_latent(m, latent, noise, seed=int(seed), crop=crop_info, paste=paste, parser=p,
                                   progress=progress, cancel=progress.cancel)
        return io.NodeOutput(core_to_image(result.images), result.masks[:, 0].contiguous())


NODES = [Encode, OptimizeInversion, Decode]
