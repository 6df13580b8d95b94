"""Encode an image into the W+-F latent, refine it by optimisation, and decode it (optionally pasting
the result back into the original photo)."""

from __future__ import annotations

import dataclasses

import torch

from .common import (
    CATEGORY,
    VGG_FILE,
    CropType,
    LatentType,
    ModelType,
    Progress,
    cancellable,
    core_to_image,
    find_model_file,
    image_to_core,
    model_folders,
    signed,
    vgg_files,
)
from .compat import io

RANDOM_BACKBONE = "random (tests only)"
NOISE_MODES = ["auto", "zero", "random", "stored"]


def _pad8(x01: torch.Tensor):
    """Pad [B,3,H,W] to multiples of 8 (edges replicated); returns (padded, record dict or None)."""
    if x01.shape[-2] % 8 == 0 and x01.shape[-1] % 8 == 0:
        return x01, None
    from ..styleganex.faces import make_size_valid
    padded, record = make_size_valid(x01, 8, "pad")
    return padded, record.to_dict()


def _unpad(out: torch.Tensor, latent, frame_hw: tuple[int, int]) -> torch.Tensor:
    rec = (latent.meta or {}).get("size_record")
    if not rec:
        return out
    from ..styleganex.faces import SizeRecord, undo_size_valid
    record = SizeRecord.from_dict(rec)
    scale = out.shape[-1] // frame_hw[1]
    return undo_size_valid(out, record, scale)


def _aligned(aligned, batch: int):
    if aligned is None:
        return None
    al = image_to_core(aligned, "aligned")
    if al.shape[0] == 1 and batch > 1:
        al = al.expand(batch, -1, -1, -1)
    if al.shape[0] != batch:
        raise ValueError(f"the aligned batch has {al.shape[0]} faces but the image batch has {batch} images; "
                         "connect the aligned output of the same Face Crop node")
    return signed(al)


def _with_crop(latent, crop):
    if crop is None:
        return latent
    if crop.batch != latent.batch:
        raise ValueError(f"the crop info is for {crop.batch} images but the latent holds {latent.batch}")
    return dataclasses.replace(latent, crop=crop.to_dict())


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
                ModelType.Input("model"),
                io.Image.Input("image", tooltip="the crop (Face Crop's crop output); padded to multiples of 8"),
                io.Image.Input("aligned", optional=True,
                               tooltip="the 256x256 FFHQ-aligned face (Face Crop's aligned output)"),
                CropType.Input("crop_info", optional=True, tooltip="kept in the latent (Save Latent stores it)"),
            ],
            outputs=[LatentType.Output(display_name="latent")],
        )

    @classmethod
    def execute(cls, model, image, aligned=None, crop_info=None) -> io.NodeOutput:
        model.require("Encode", ("other", "sr"))
        x01, size_record = _pad8(image_to_core(image))
        al = _aligned(aligned, x01.shape[0])
        progress = Progress(x01.shape[0])
        parts = []
        with model.on_device() as m:
            for b in range(x01.shape[0]):
                progress.step(b)
                parts.append(m.encode(signed(x01[b:b + 1]), None if al is None else al[b:b + 1]).to("cpu"))
                progress(b + 1)
        latent = _cat(parts)
        meta = {"source": model.name, "variant": model.variant, "frame_size": list(x01.shape[-2:])}
        if size_record:
            meta["size_record"] = size_record
        latent = dataclasses.replace(latent, meta=meta)
        return io.NodeOutput(_with_crop(latent, crop_info))


def _cat(parts):
    from ..styleganex.latent import Latent

    if len(parts) == 1:
        return parts[0]
    cat = lambda xs: None if xs[0] is None else [torch.cat(t) for t in zip(*xs)]  # noqa: E731
    return Latent(wplus=torch.cat([p.wplus for p in parts]), f=torch.cat([p.f for p in parts]),
                  skips=cat([p.skips for p in parts]), noise=cat([p.noise for p in parts]),
                  crop=parts[0].crop, meta=dict(parts[0].meta))


def _lpips(backbone: str, weight: float):
    if weight <= 0:
        return None
    from ..styleganex.lpips_loss import find_vgg_weights, load_lpips

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
    from ..styleganex.lpips_loss import VGG_URL

    folders = model_folders()
    return (f"Optimize Inversion: the LPIPS loss needs the VGG16 ImageNet weights '{name}', which were not found. "
            f"Download {VGG_URL} and put it in {folders[0] if folders else 'ComfyUI/models/styleganex'}; or set "
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
                        "with noise 'auto' to use the optimised noise. Cancel stops within one step.",
            inputs=[
                ModelType.Input("model"),
                io.Image.Input("image", tooltip="the crop to reconstruct (Face Crop's crop output)"),
                LatentType.Input("latent", optional=True, tooltip="starting latent (Encode's output)"),
                io.Image.Input("aligned", optional=True, tooltip="aligned face for the start when no latent is given"),
                io.Int.Input("steps", default=500, min=1, max=10000),
                io.Float.Input("lr", default=0.05, min=0.0001, max=1.0, step=0.001),
                io.Float.Input("lpips_weight", default=1.0, min=0.0, max=100.0, step=0.01),
                io.Float.Input("mse_weight", default=0.0, min=0.0, max=1000.0, step=0.01),
                io.Float.Input("noise_reg_weight", default=1000.0, min=0.0, max=1e6, step=1.0),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFF, control_after_generate=True),
                io.Combo.Input("lpips_backbone", options=vgg_files() + [RANDOM_BACKBONE], default=VGG_FILE,
                               tooltip=f"VGG16 ImageNet weights for LPIPS ({VGG_FILE} in models/styleganex or "
                                       f"torch's hub cache). '{RANDOM_BACKBONE}': a random network, not a "
                                       "perceptual metric"),
            ],
            outputs=[LatentType.Output(display_name="latent")],
        )

    @classmethod
    def validate_inputs(cls, lpips_backbone, lpips_weight):
        if lpips_weight > 0 and lpips_backbone != RANDOM_BACKBONE and find_model_file(lpips_backbone) is None:
            try:
                from ..styleganex.lpips_loss import find_vgg_weights
                find_vgg_weights()
            except (FileNotFoundError, ImportError):
                return _vgg_missing(lpips_backbone)
        return True

    @classmethod
    def execute(cls, model, image, latent=None, aligned=None, steps=500, lr=0.05, lpips_weight=1.0,
                mse_weight=0.0, noise_reg_weight=1000.0, seed=0, lpips_backbone=VGG_FILE) -> io.NodeOutput:
        from ..styleganex.inversion import optimize

        model.require("Optimize Inversion", ("other", "sr"))
        if lpips_weight <= 0 and mse_weight <= 0:
            raise ValueError("Optimize Inversion: lpips_weight and mse_weight are both 0, so there is nothing to "
                             "optimise; set one of them above 0")
        x01, size_record = _pad8(image_to_core(image))
        if latent is not None:
            if latent.batch != x01.shape[0]:
                raise ValueError(f"Optimize Inversion: the latent holds {latent.batch} images but the image batch "
                                 f"has {x01.shape[0]}; connect the Encode node of the same image")
            if tuple(latent.f.shape[-2:]) != (x01.shape[-2] // 8, x01.shape[-1] // 8):
                raise ValueError("Optimize Inversion: the latent was encoded from an image of another size; connect "
                                 "the Encode node of the same image")
        al = _aligned(aligned, x01.shape[0]) if latent is None else None
        progress = Progress(steps)
        # ComfyUI runs nodes in torch.inference_mode(); the optimisation needs autograd, and tensors made
        # in inference mode cannot be saved for backward: leave it and use normal copies of the inputs
        with torch.inference_mode(False), torch.enable_grad():
            lp = _lpips(lpips_backbone, lpips_weight)
            frame = signed(x01).clone()
            al = None if al is None else al.clone()
            start = None if latent is None else _clone(latent)
            try:
                with model.on_device(dtype=torch.float32) as m, cancellable():
                    result = optimize(m, frame, al, latent=start, steps=int(steps), lr=float(lr),
                                      lpips_weight=float(lpips_weight), mse_weight=float(mse_weight),
                                      noise_reg_weight=float(noise_reg_weight), seed=int(seed),
                                      progress=progress, cancel=progress.cancel, lpips=lp)
            finally:
                if lp is not None:  # the cached LPIPS network waits on the CPU too
                    lp.to("cpu")
        out = result.latent.to("cpu", torch.float32)
        meta = dict(latent.meta) if latent is not None else {"source": model.name, "variant": model.variant,
                                                              "frame_size": list(x01.shape[-2:])}
        meta.update(out.meta)
        if size_record:
            meta["size_record"] = size_record
        crop = latent.crop if latent is not None else out.crop
        return io.NodeOutput(dataclasses.replace(out, meta=meta, crop=crop))


class Decode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="StyleGANEXDecode",
            display_name="Decode (StyleGANEX)",
            category=f"{CATEGORY}/latent",
            description="Render a latent (4x the crop at 1024). With crop_info connected the result is pasted back "
                        "into the original photo with a feathered edge.",
            inputs=[
                ModelType.Input("model"),
                LatentType.Input("latent"),
                io.Combo.Input("noise", options=NOISE_MODES, default="auto",
                               tooltip="auto: the optimised noise of an inverted latent, else zero; random: from seed"),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFF, control_after_generate=True),
                io.Boolean.Input("paste_back", default=True,
                                 tooltip="with crop_info: composite into the original photo (frame size)"),
                io.Float.Input("feather", default=0.1, min=0.0, max=0.5, step=0.01,
                               tooltip="paste-back fade width, as a fraction of the crop's shorter side"),
                CropType.Input("crop_info", optional=True),
            ],
            outputs=[io.Image.Output(display_name="image")],
        )

    @classmethod
    def execute(cls, model, latent, noise="auto", seed=0, paste_back=True, feather=0.1,
                crop_info=None) -> io.NodeOutput:
        if crop_info is not None and paste_back and crop_info.batch != latent.batch:
            raise ValueError(f"Decode: the crop info is for {crop_info.batch} images but the latent holds "
                             f"{latent.batch}; connect the Face Crop node the latent came from")
        progress = Progress(latent.batch)
        mode = None if noise == "auto" else noise
        generator = torch.Generator(device=model.device).manual_seed(int(seed)) if noise == "random" else None
        frame_hw = tuple(latent.meta.get("frame_size") or (latent.f.shape[-2] * 8, latent.f.shape[-1] * 8))
        outs = []
        with model.on_device() as m:
            for b in range(latent.batch):
                progress.step(b)
                one = _slice(latent, b)
                y = m.decode(one, noise=mode, generator=generator).float().clamp(-1, 1).cpu()
                y = _unpad(y, latent, frame_hw)
                outs.append((y + 1) / 2)
                progress(b + 1)
        out = torch.cat(outs)
        if crop_info is not None and paste_back:
            from ..styleganex.faces import paste_back as paste
            out = torch.stack([paste(crop_info.frames[b], out[b], crop_info.records[b], feather)
                               for b in range(out.shape[0])])
        return io.NodeOutput(core_to_image(out, signed=False))


def _clone(latent):
    c = lambda xs: None if xs is None else [x.clone() for x in xs]  # noqa: E731
    return dataclasses.replace(latent, wplus=latent.wplus.clone(), f=latent.f.clone(), skips=c(latent.skips),
                               noise=c(latent.noise))


def _slice(latent, b: int):
    s = lambda xs: None if xs is None else [x[b:b + 1] if x.shape[0] > 1 else x for x in xs]  # noqa: E731
    return dataclasses.replace(latent, wplus=latent.wplus[b:b + 1], f=latent.f[b:b + 1],
                               skips=s(latent.skips), noise=s(latent.noise))


NODES = [Encode, OptimizeInversion, Decode]
