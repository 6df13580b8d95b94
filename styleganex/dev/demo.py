"""The end-to-end demo behind ``make demo``: a real photo in, its StyleGANEX reconstruction out.

Steps: scikit-image's astronaut photo -> dlib face detection -> StyleGANEX crop + FFHQ alignment ->
encode (w+ from the aligned face, f from the crop) -> decode (4x the crop) -> paste back into the
photo. Outputs go to ``out_dir``: crop.png, aligned.png, decoded.png, pasted.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from ..io.images import write_images
from ..io.paths import fetch_official, find_model_file, models_dir
from ..model.checkpoints import load_model, missing_weights_message
from ..model.network import StyleGANEX


def astronaut() -> torch.Tensor:
    """The astronaut photo that ships with scikit-image, [3, 512, 512] in 0..1."""
    from skimage import data
    return torch.from_numpy(data.astronaut()).permute(2, 0, 1).float() / 255.0


def reconstruct(model: StyleGANEX, photo: torch.Tensor) -> dict:
    """Crop, align, encode, decode and paste back one photo [3, H, W] in 0..1 with the same steps as the
    CLI and the nodes (``faces.prepare_face``, ``pipeline.encode_images`` / ``decode_latent``); all
    outputs in 0..1."""
    from ..faces import CropInfo, prepare_face
    from ..pipelines.encode_decode import decode_latent, encode_images

    face = prepare_face(photo)
    crop = CropInfo.from_prepared([face], frames=photo[None])
    latent = encode_images(model, face.crop[None], face.aligned[None], crop=crop)
    decoded = decode_latent(model, latent)
    pasted = crop.paste(decoded)
    return {"crop": face.crop, "aligned": face.aligned, "decoded": decoded[0], "pasted": pasted[0]}


def run_demo(model_name: str, out_dir: Path, download: bool = False, random_weights: bool = False,
             progress=None) -> int:
    """The demo: ``model_name`` from the models folder (fetched from the hub with ``download``, reporting
    ``progress(done_bytes, total_bytes)``), or small random weights; writes the pictures to ``out_dir``."""
    path = None if random_weights else find_model_file(model_name)
    if path is None and download and not random_weights:
        path = fetch_official(Path(model_name).name, models_dir(), progress=progress)
    if path is None and not random_weights:
        print(missing_weights_message(models_dir() / Path(model_name).name), file=sys.stderr)
        print("\nRunning the same pipeline with small random weights instead (the result is not a face).",
              file=sys.stderr)
        random_weights = True
    if random_weights:
        from .testing import random_model
        model = random_model("inversion")
        label = "random-weights"
    else:
        model = load_model(path)
        label = Path(path).stem
    outputs = reconstruct(model, astronaut())
    write_images([(out_dir / f"{name}.png", image) for name, image in outputs.items()])
    print(f"{label}: wrote {', '.join(f'{n}.png' for n in outputs)} to {out_dir}")
    return 0
