"""One training step of each recipe at full width: seconds per step and peak memory (ours).

    python -m benchmarks.train                            # every recipe, CPU, full-width random weights
    python -m benchmarks.train --device cuda --recipes video_edit toonify --bf16
    python -m benchmarks.train --tiny --steps 2 --same-process   # smoke run (reduced widths, small images)

Each recipe runs in a fresh subprocess (so that its peak memory is its own) with the release's options for it
(``styleganex.training.recipe_options``), random official-width weights (``styleganex.dev.testing.random_model``),
random stand-ins for the LPIPS-AlexNet and ArcFace networks (same widths, no files) and, for the recipes that
train on photos, a folder of generated 320 px images (taken as aligned crops). The figure is the median of
``--steps`` timed steps after one warm-up step; memory is the peak RSS growth over the prepared trainer (CPU)
or ``max_memory_allocated`` (CUDA).

Skeleton: the release's own step (its ``training/coach.py``, its device set to the CPU for the CPU column) is
not driven yet, so the "release" column reads "not measured"; the speed targets of issue 22 (no slower on the
CPU, >= 1.5x on a GPU with bf16 autocast) need it. Record results in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

RECIPES = ("pretrain", "inversion", "sketch2face", "mask2face", "sr", "sr32", "video_edit", "toonify")
# --tiny: reduced widths at 256 px (1024 where the task upsamples; the discriminator too), batch 2, small images,
# generated pairs from 8 px, no identity term
TINY = dict(image_size=64, aligned_size=32, crop_min=48, crop_max=64, pair_pool=2, pair_feature=8)


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        import os
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _photos(folder: Path, n: int, side: int, seed: int = 0) -> Path:
    """``n`` smooth random RGB images (``side`` px) as PNG files: stand-ins for aligned face crops."""
    from styleganex.io.images import write_images

    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, max(2, side // 16), max(2, side // 16), generator=g)
    images = torch.nn.functional.interpolate(low, size=(side, side), mode="bilinear", align_corners=False)
    write_images([(folder / f"{i}.png", im) for i, im in enumerate(images)])
    return folder


def _labels(folder: Path, photos: Path, kind: str) -> Path:
    """Sketch (grey) or label-map (class ids 0..18 as grey values) images named as the photos."""
    from styleganex.io.images import load_image, write_images

    items = []
    for p in sorted(photos.glob("*.png")):
        grey = load_image(p).mean(0, keepdim=True)
        value = grey if kind == "sketch" else (grey * 18).round() / 255
        items.append((folder / p.name, value.expand(3, -1, -1)))
    write_images(items)
    return folder


def build_trainer(recipe: str, tiny: bool, device: str, batch_size: int | None, work: Path):
    """A prepared :class:`~styleganex.training.trainer.Trainer` of ``recipe`` with random weights."""
    from styleganex.dev.testing import random_model
    from styleganex.pipelines.lpips import load_lpips
    from styleganex.training import prepare_training, recipe_options
    from styleganex.training.identity import IdentityLoss, IRSEBackbone

    size = (1024 if recipe in ("sr", "sr32", "pretrain") else 256) if tiny else 1024
    family = {"sketch2face": "sketch2face", "mask2face": "mask2face"}.get(recipe, "inversion")
    init = random_model(family, reduced=tiny, size=size, seed=0)
    n_latent = init.config.n_latent
    overrides = dict(output_size=size, max_steps=10 ** 6, val_interval=10 ** 6, log_interval=10 ** 6)
    if tiny:
        # (no identity term: its face crop needs 256 px scale images)
        overrides.update(TINY, id_lambda=0.0, latent_mask=",".join(str(i) for i in range(8, n_latent)))
    if batch_size or tiny:
        overrides["batch_size"] = batch_size or 2
    opts = recipe_options(recipe, **overrides)
    extra = {}
    if tiny and opts.adv_lambda > 0:  # a reduced StyleGAN2 discriminator too
        from styleganex.training.discriminator import Discriminator
        from styleganex.training.prepare import discriminator_size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1)
            extra["discriminator"] = Discriminator(discriminator_size(opts, size), widths=8)
    if opts.id_lambda > 0:  # ArcFace IR-SE50 at full width (random weights), reduced for --tiny
        depths = [8, 8, 16, 24, 32] if tiny else [64] * 3 + [128] * 4 + [256] * 14 + [512] * 3
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            extra["identity"] = IdentityLoss(IRSEBackbone(depths, 16 if tiny else 512, 8 if tiny else 64).eval())
    if recipe == "video_edit":
        extra["direction"] = torch.randn(init.config.style_dim, generator=torch.Generator().manual_seed(5)) * 0.5
    if recipe == "toonify":
        extra["generator"] = random_model("inversion", reduced=tiny, size=size, seed=7).decoder
    if recipe in ("inversion", "sr", "sr32", "sketch2face", "mask2face"):
        photos = _photos(work / "photos", max(2, opts.batch_size), opts.image_size)
        extra.update(data=photos, prepare_faces=False)
        if recipe in ("sketch2face", "mask2face"):
            extra["labels"] = _labels(work / "labels", photos, "sketch" if recipe == "sketch2face" else "mask")
    lpips = None
    if opts.lpips_lambda > 0 or opts.lpips_lambda_crop > 0:
        lpips = load_lpips(random_backbone=True, net=opts.lpips_net)
    return prepare_training(opts, None, init=init, lpips=lpips, device=device, **extra)


def measure(recipe: str, tiny: bool, device: str, steps: int, batch_size: int | None, bf16: bool) -> dict:
    """Seconds per step (median of ``steps`` after one warm-up) and peak memory of one recipe."""
    with tempfile.TemporaryDirectory(prefix="sgx-bench-train-") as tmp:
        trainer = build_trainer(recipe, tiny, device, batch_size, Path(tmp))
        cuda = device.startswith("cuda")
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        base = _rss()
        times = []
        ctx = torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=bf16)
        for i in range(steps + 1):
            t0 = time.perf_counter()
            with ctx:
                logs = trainer.train_step()
            if cuda:
                torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - t0)
        peak = torch.cuda.max_memory_allocated() if cuda else max(0, _peak_rss() - base)
        loss = float(logs.get("loss", math.nan))
    return {"recipe": recipe, "batch_size": trainer.opts.batch_size, "step_s": statistics.median(times),
            "all_s": times, "peak_mem_mb": peak / 2 ** 20, "loss": loss, "finite": math.isfinite(loss)}


def _in_subprocess(args, recipe: str) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.train", "--one", recipe, "--device", args.device,
           "--steps", str(args.steps)] + (["--tiny"] if args.tiny else []) + (["--bf16"] if args.bf16 else []) \
        + (["--batch-size", str(args.batch_size)] if args.batch_size else [])
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if out.returncode != 0:
        return {"recipe": recipe, "error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--recipes", nargs="+", choices=RECIPES, default=list(RECIPES))
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=3, help="timed steps per recipe (after one warm-up step)")
    p.add_argument("--batch-size", type=int, default=None, help="instead of each recipe's release batch size")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (GPU runs)")
    p.add_argument("--tiny", action="store_true", help="reduced widths and small images (smoke run)")
    p.add_argument("--same-process", action="store_true", help="no subprocess per recipe (peak memory then "
                                                                  "includes the earlier recipes)")
    p.add_argument("--json", default=None, help="write the rows here")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: one recipe, JSON on stdout
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.tiny, args.device, args.steps, args.batch_size, args.bf16)))
        return 0
    rows = []
    for recipe in args.recipes:
        row = measure(recipe, args.tiny, args.device, args.steps, args.batch_size, args.bf16) \
            if args.same_process else _in_subprocess(args, recipe)
        rows.append(row)
        if "error" in row:
            print(f"{recipe:12s} error: {row['error']}")
        else:
            print(f"{recipe:12s} batch {row['batch_size']:2d}  {row['step_s']:8.3f} s/step  "
                  f"{row['peak_mem_mb']:9.1f} MB peak  loss {row['loss']:.4g}  release: not measured")
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": {"device": args.device, "tiny": args.tiny, "bf16": args.bf16,
                                                        "steps": args.steps, "torch": torch.__version__},
                                               "rows": rows}, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
