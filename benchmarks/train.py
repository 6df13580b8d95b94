"""One training step of each recipe at full width, ours beside the release's own (seconds, peak memory).

    python -m benchmarks.train --batch-size 1 --release /path/to/StyleGANEX      # CPU table, both sides
    python -m benchmarks.train --device cuda --bf16 --recipes video_edit --release /path/to/StyleGANEX
    python -m benchmarks.train --tiny --steps 2 --same-process   # smoke run (reduced widths, ours only)

Each measurement runs in a fresh subprocess (so that its peak memory is its own) with the release's options
for the recipe (``styleganex.training.recipe_options``), random official-width weights
(``styleganex.dev.testing.random_model``), random stand-ins for the LPIPS-AlexNet and ArcFace networks (same
widths, no files) and, for the recipes that train on photos, a folder of generated 320 px images (taken as
aligned crops). The figure is the median of ``--steps`` timed steps after one warm-up step (which, on both
sides, is the step with the discriminator's lazy R1); memory is the peak resident memory above the prepared
trainer (CPU: the kernel's high-water mark, reset before the first step) or ``max_memory_allocated`` (CUDA).

The release column (``--release``: a checkout of williamyang1991/StyleGANEX) drives the release's own
``Coach.train`` (``training/coach.py``, loaded by :func:`benchmarks.reference.load_release_training`) on the
same device, from the same weights (our prepared run's file in the released layout, discriminator included)
and, where the release reads pairs from a DataLoader (every recipe but video_edit), the same batch. Its
``__init__`` is replaced by the same construction on the chosen device (it hard-codes ``cuda:0``, downloads
LPIPS-AlexNet and reads ArcFace from disk: both become random networks of the release's own classes); image
logging, validation and checkpoints are switched off on both sides. Data preparation is left out of both
columns for those recipes (the release prepares batches in DataLoader workers, off the step); video_edit
generates its pairs inside the step on both sides, as the release does. The release's ``pretrain`` is a
separate script (``scripts/pretrain.py``) whose loop is not a function, so that row has no release column.
Record results in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

RECIPES = ("pretrain", "inversion", "sketch2face", "mask2face", "sr", "sr32", "video_edit", "toonify")
# the release reads these recipes' pairs from a DataLoader (prepared off the step, in worker processes)
DATASET_RECIPES = ("inversion", "sketch2face", "mask2face", "sr", "sr32", "toonify")
# --tiny: reduced widths at 256 px (1024 where the task upsamples; the discriminator too), batch 2, small images,
# generated pairs from 8 px, no identity term
TINY = dict(image_size=64, aligned_size=32, crop_min=48, crop_max=64, pair_pool=2, pair_feature=8)


# ---- peak memory ------------------------------------------------------------------------------------
def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        return int(re.search(rf"^{field}:\s+(\d+) kB", fh.read(), re.M).group(1))


class PeakMemory:
    """Peak memory above the current use, from :meth:`start` to :meth:`peak_bytes`.

    CUDA: ``max_memory_allocated`` after a reset, less what was allocated at the start. CPU: the kernel's
    resident high-water mark (``VmHWM``) after a reset (``/proc/self/clear_refs``), less the resident size
    at the start; where the reset is refused the process's lifetime peak is used (an upper bound).
    """

    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")
        self.base = 0
        self.exact = True

    def start(self) -> None:
        gc.collect()
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            self.exact = False
        self.base = _status_kb("VmRSS") * 1024

    def peak_bytes(self) -> int:
        if self.cuda:
            torch.cuda.synchronize()
            return max(0, torch.cuda.max_memory_allocated() - self.base)
        return max(0, _status_kb("VmHWM") * 1024 - self.base)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _result(side: str, recipe: str, batch_size: int, times: list, memory: PeakMemory, loss: float) -> dict:
    return {"side": side, "recipe": recipe, "batch_size": batch_size, "step_s": statistics.median(times[1:]),
            "warmup_s": times[0], "all_s": times[1:], "peak_mem_mb": memory.peak_bytes() / 2 ** 20,
            "peak_exact": memory.exact, "loss": loss, "finite": math.isfinite(loss)}


# ---- our side -----------------------------------------------------------------------------------------
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


def build_trainer(recipe: str, tiny: bool, device: str, batch_size: int | None, work: Path, bf16: bool = False):
    """A prepared :class:`~styleganex.training.trainer.Trainer` of ``recipe`` with random weights (``bf16``:
    the trainer's ``precision="bf16"``, its forward passes and losses under bf16 autocast)."""
    from styleganex.dev.testing import random_model
    from styleganex.pipelines.lpips import load_lpips
    from styleganex.training import prepare_training, recipe_options
    from styleganex.training.identity import IdentityLoss, IRSEBackbone

    size = (1024 if recipe in ("sr", "sr32", "pretrain") else 256) if tiny else 1024
    family = {"sketch2face": "sketch2face", "mask2face": "mask2face"}.get(recipe, "inversion")
    init = random_model(family, reduced=tiny, size=size, seed=0)
    n_latent = init.config.n_latent
    overrides = dict(output_size=size, max_steps=10 ** 6, val_interval=10 ** 6, log_interval=10 ** 6,
                     precision="bf16" if bf16 else "fp32")
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


def fixed_batch(trainer):
    """The trainer's first batch, served for every step from now on (data preparation left out of the
    timing); returns the :class:`~styleganex.training.data.Pair`."""
    first = trainer._pair(trainer.step)
    trainer._pair = lambda step: first
    return first[0]


def measure(recipe: str, tiny: bool, device: str, steps: int, batch_size: int | None, bf16: bool,
            start_step: int = 0) -> dict:
    """Our step: seconds (median of ``steps`` after one warm-up) and peak memory of one recipe."""
    with tempfile.TemporaryDirectory(prefix="sgx-bench-train-") as tmp:
        trainer = build_trainer(recipe, tiny, device, batch_size, Path(tmp), bf16)
        trainer.step = start_step
        if recipe in DATASET_RECIPES:
            fixed_batch(trainer)
        memory = PeakMemory(device)
        memory.start()
        times = []
        for _ in range(steps + 1):
            t0 = time.perf_counter()
            logs = trainer.train_step()
            _sync(device)
            times.append(time.perf_counter() - t0)
        return _result("ours", recipe, trainer.opts.batch_size, times, memory, float(logs.get("loss", math.nan)))


# ---- the release's side -----------------------------------------------------------------------------
class _Done(Exception):
    pass


class _Batches:
    """A stand-in for the release's DataLoader: the same ``(x, y)`` batch ``n`` times, the time noted at each
    request (step ``k`` is the time between requests ``k`` and ``k + 1``); the request after the last ends
    the run by raising :class:`_Done` out of ``Coach.train``."""

    def __init__(self, x, y, n: int, device: str):
        self.x, self.y, self.n, self.device, self.times = x, y, n, device, []

    def __iter__(self):
        for r in range(self.n + 1):
            _sync(self.device)
            self.times.append(time.perf_counter())
            if r == self.n:
                raise _Done
            yield self.x, self.y


def _release_lpips(rel):
    """The release's LPIPS (AlexNet) with random weights: its own classes, without its downloads."""
    import torchvision

    real = rel.networks.models
    rel.networks.models = argparse.Namespace(alexnet=lambda *a, **k: torchvision.models.alexnet(weights=None))
    try:
        net = rel.networks.get_network("alex")
    finally:
        rel.networks.models = real
    lpips = rel.lpips.LPIPS.__new__(rel.lpips.LPIPS)
    torch.nn.Module.__init__(lpips)
    lpips.net, lpips.lin = net, rel.networks.LinLayers(net.n_channels_list)
    return lpips


def _release_id_loss(rel):
    """The release's IDLoss with a random ArcFace IR-SE50 (its own Backbone class, no weight file)."""
    loss = rel.id_loss.IDLoss.__new__(rel.id_loss.IDLoss)
    torch.nn.Module.__init__(loss)
    loss.facenet = rel.model_irse.Backbone(input_size=112, num_layers=50, drop_ratio=0.6, mode="ir_se").eval()
    loss.face_pool = torch.nn.AdaptiveAvgPool2d((112, 112))
    return loss


def release_coach(rel, opts: dict, ckpt: dict, device: str, start_step: int = 0):
    """The release's ``Coach`` built as its ``__init__`` builds it, on ``device`` and from an in-memory file
    in the released layout; image logging, metrics, validation and checkpoints switched off. Returns the coach
    and a dict that holds the last step's loss terms."""
    Coach = rel.coach.Coach
    o = argparse.Namespace(**{**opts, "device": device, "checkpoint_path": "<in memory>", "toonify_weights": None,
                              "editing_w_path": None, "direction_path": None, "use_wandb": False})
    c = Coach.__new__(Coach)
    c.opts, c.global_step, c.device, c.best_val_loss = o, start_step, device, None
    c.net = rel.psp.pSp(o, ckpt=ckpt).to(device)
    c.net.latent_avg = c.net.latent_avg.to(device)
    if o.adv_lambda > 0:
        c.discriminator = rel.model.Discriminator(1024, channel_multiplier=2, img_channel=3)
        result = c.discriminator.load_state_dict(ckpt["discriminator"], strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise RuntimeError(f"the release's discriminator does not take ours: {result}")
        c.discriminator = c.discriminator.to(device)
        c.discriminator_optimizer = torch.optim.Adam(list(c.discriminator.parameters()), lr=o.learning_rate)
    c.mse_loss = torch.nn.MSELoss().to(device).eval()
    if o.lpips_lambda > 0:
        c.lpips_loss = _release_lpips(rel).to(device).eval()
    if o.id_lambda > 0:
        c.id_loss = _release_id_loss(rel).to(device).eval()
    if o.w_norm_lambda > 0:
        c.w_norm_loss = rel.w_norm.WNormLoss(start_from_latent_avg=o.start_from_latent_avg)
    c.optimizer = c.configure_optimizers()
    if o.use_latent_mask:
        c.latent_mask = [int(i) for i in o.latent_mask.split(",")]
    c.editing_w, c.directions = None, None
    if ckpt.get("editing_w") is not None:
        c.editing_w = ckpt["editing_w"].to(device)
        # the release needs augmenting directions (it crashes without them): one zero direction adds nothing
        c.directions = torch.zeros(1, *c.editing_w.shape[1:], device=device)
    last = {}
    calc_loss = c.calc_loss

    def noted(*args, **kwargs):
        out = calc_loss(*args, **kwargs)
        last.update(out[1])
        return out

    c.calc_loss = noted
    quiet = lambda *a, **k: None  # noqa: E731
    c.parse_and_log_images = c.print_metrics = c.log_metrics = c.checkpoint_me = quiet
    c.validate = lambda: None
    return c, last


def measure_release(recipe: str, release: str, device: str, steps: int, batch_size: int | None,
                    start_step: int = 0) -> dict:
    """The release's step on the same weights (and batch) as :func:`measure`: seconds and peak memory."""
    from benchmarks.reference import load_release_training
    from styleganex.training.checkpoint import released_dict

    if recipe == "pretrain":
        raise ValueError("the release pretrains in scripts/pretrain.py, a script whose loop is not a function")
    rel = load_release_training(release)
    with tempfile.TemporaryDirectory(prefix="sgx-bench-train-") as tmp:
        trainer = build_trainer(recipe, False, device, batch_size, Path(tmp))
        trainer.step = start_step
        pair = fixed_batch(trainer) if recipe in DATASET_RECIPES else None
        opts = trainer.opts.to_opts()
        ckpt = released_dict(trainer.model, opts, trainer.discriminator)
        ckpt = {k: v.to(device) if torch.is_tensor(v) else v for k, v in ckpt.items()}
        b = trainer.opts.batch_size
        del trainer
    coach, last = release_coach(rel, opts, ckpt, device, start_step)
    del ckpt
    if pair is None:  # video_edit: only the batch size is read; the coach generates x and y
        x = y = torch.zeros(b, 3, 8, 8)
    else:
        x, y = pair.x, pair.y
    coach.train_dataloader = _Batches(x.to(device), y.to(device), steps + 1, device)
    memory = PeakMemory(device)
    memory.start()
    try:
        coach.train()
    except _Done:
        pass
    t = coach.train_dataloader.times
    times = [t1 - t0 for t0, t1 in zip(t, t[1:])]
    return _result("release", recipe, b, times, memory, float(last.get("loss", math.nan)))


# ---- the table ---------------------------------------------------------------------------------------------
def _in_subprocess(args, recipe: str, side: str) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.train", "--one", recipe, "--side", side, "--device", args.device,
           "--steps", str(args.steps), "--start-step", str(args.start_step)] \
        + (["--tiny"] if args.tiny else []) + (["--bf16"] if args.bf16 else []) \
        + (["--batch-size", str(args.batch_size)] if args.batch_size else []) \
        + (["--release", args.release] if side == "release" else [])
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if out.returncode != 0:
        lines = out.stderr.strip().splitlines()
        return {"side": side, "recipe": recipe, "error": lines[-1] if lines else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cell(row: dict | None) -> str:
    if row is None:
        return "not measured"
    if "error" in row:
        return f"error: {row['error']}"
    return f"{row['step_s']:8.2f} s/step {row['peak_mem_mb']:8.0f} MB"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--recipes", nargs="+", choices=RECIPES, default=list(RECIPES))
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=2, help="timed steps per recipe (after one warm-up step)")
    p.add_argument("--batch-size", type=int, default=None, help="instead of each recipe's release batch size")
    p.add_argument("--bf16", action="store_true", help="our side in bf16 autocast (precision='bf16'; GPU runs); "
                                                       "the release has fp32 only")
    p.add_argument("--start-step", type=int, default=0,
                   help="the step both sides start from (of 10^6: from 500000 on, video_edit and toonify add "
                        "the temporal term's second forward pass)")
    p.add_argument("--release", default=None, help="a checkout of williamyang1991/StyleGANEX: its own step beside "
                                                   "ours")
    p.add_argument("--tiny", action="store_true", help="reduced widths and small images (smoke run, ours only)")
    p.add_argument("--same-process", action="store_true", help="no subprocess per measurement (peak memory then "
                                                                  "includes the earlier recipes)")
    p.add_argument("--json", default=None, help="write the rows here")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: one measurement, JSON on stdout
    p.add_argument("--side", default="ours", choices=["ours", "release"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error("--steps must be at least 1 (timed steps after the warm-up step)")
    if args.tiny and args.release:
        p.error("--tiny has reduced widths, which the release's code cannot build; drop --release")
    if args.one:
        row = measure_release(args.one, args.release, args.device, args.steps, args.batch_size, args.start_step) \
            if args.side == "release" else \
            measure(args.one, args.tiny, args.device, args.steps, args.batch_size, args.bf16, args.start_step)
        print(json.dumps(row))
        return 0
    rows = []
    for recipe in args.recipes:
        if args.same_process:
            ours = measure(recipe, args.tiny, args.device, args.steps, args.batch_size, args.bf16, args.start_step)
        else:
            ours = _in_subprocess(args, recipe, "ours")
        release = None
        if args.release and recipe != "pretrain":
            release = _in_subprocess(args, recipe, "release")
        rows += [ours] + ([release] if release else [])
        line = f"{recipe:12s} ours {_cell(ours)}   release {_cell(release)}"
        if release and "error" not in release and "error" not in ours:
            line += (f"   speed {release['step_s'] / ours['step_s']:.2f}x, "
                     f"memory {ours['peak_mem_mb'] / max(release['peak_mem_mb'], 1e-9):.2f} of the release's")
        print(line, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": {"device": args.device, "tiny": args.tiny, "bf16": args.bf16,
                                                        "steps": args.steps, "start_step": args.start_step,
                                                        "batch_size": args.batch_size, "threads":
                                                        torch.get_num_threads(), "cpus": os.cpu_count(),
                                                        "torch": torch.__version__}, "rows": rows}, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
