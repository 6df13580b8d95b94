"""A trained checkpoint in the release's own code: written by the training loop, loaded by the release's pSp.

    python -m benchmarks.train_release_load --release /path/to/StyleGANEX [--recipe video_edit] [--steps 0]

Prepares a full-width run of ``--recipe`` (random official-width weights, no files needed), trains
``--steps`` steps (0: none; a full-width step takes minutes on a CPU), writes ``last.pt`` with the training
loop's saver, then loads that file exactly as the release's inference scripts do (``torch.load``,
``opts['checkpoint_path']``, ``pSp(Namespace(**opts))``) from a checkout of the release (``--release``: the
folder holding ``models/psp.py``) and compares its ``pSp.forward`` with ours on a random frame (zero noise;
the edit vector at 0.5 for video_edit). Prints the largest difference; exit 1 above ``--atol``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from argparse import Namespace
from pathlib import Path

import torch


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--release", required=True, help="a checkout of williamyang1991/StyleGANEX")
    p.add_argument("--recipe", default="video_edit", choices=["video_edit", "toonify", "inversion", "sr32"])
    p.add_argument("--steps", type=int, default=0)
    p.add_argument("--atol", type=float, default=1e-4)
    args = p.parse_args(argv)

    from styleganex.dev.testing import random_model
    from styleganex.model import load_model
    from styleganex.pipelines.lpips import load_lpips
    from styleganex.training import prepare_training, recipe_options

    init = random_model("inversion", reduced=False, seed=0)
    opts = recipe_options(args.recipe, max_steps=max(1, args.steps), batch_size=1, adv_lambda=0.0, id_lambda=0.0)
    extra = {}
    if args.recipe == "video_edit":
        extra["direction"] = torch.randn(init.config.style_dim, generator=torch.Generator().manual_seed(1)) * 0.3
    elif args.recipe == "toonify":
        extra["generator"] = random_model("inversion", reduced=False, seed=3).decoder
    else:
        out = Path(tempfile.mkdtemp())
        from styleganex.io.images import write_images
        write_images([(out / "photos" / f"{i}.png", torch.rand(3, 320, 320)) for i in range(2)])
        extra.update(data=out / "photos", prepare_faces=False)
    folder = Path(tempfile.mkdtemp())
    trainer = prepare_training(opts, folder, init=init, lpips=load_lpips(random_backbone=True, net="alex"),
                               device="cpu", **extra)
    if args.steps:
        trainer.run(steps=args.steps)
    trainer.save()
    ours = load_model(folder / "last.pt")

    sys.path.insert(0, str(Path(args.release).resolve()))
    from models.psp import pSp  # the release's class

    ckpt = torch.load(folder / "last.pt", map_location="cpu", weights_only=True)
    o = dict(ckpt["opts"], checkpoint_path=str(folder / "last.pt"), device="cpu")
    net = pSp(Namespace(**o)).eval()
    frame = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2)) * 2 - 1
    ew = None if ours.editing_w is None else ours.editing_w[0:1] * 0.5
    with torch.no_grad():
        a = net(frame, resize=False, use_skip=o["use_skip"], zero_noise=True, editing_w=ew)
        b = ours(frame, resize=False, use_skip=o["use_skip"], zero_noise=True, editing_w=ew)
    diff = float((a - b).abs().max())
    print(f"{args.recipe}: release pSp vs ours on the trained file ({ours.variant}): max |diff| {diff:.3g} "
          f"(outputs up to {float(a.abs().max()):.3g})")
    return 0 if diff <= args.atol else 1


if __name__ == "__main__":
    raise SystemExit(main())
