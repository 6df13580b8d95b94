"""What a batch job costs next to the library call, and what a second rank buys (issue 23).

    python -m benchmarks.batch                         # CPU, full-size random SR weights, 50 + 24 photos
    python -m benchmarks.batch --device cuda --batch 1 8   # on a GPU: photos/s at each batch size
    python -m benchmarks.batch --tiny --photos 4 --scale-photos 4   # smoke run (reduced widths)

Two ratios, printed:

1. **batch / library** (wall time, and CPU time: on a shared machine the CPU time of the one-thread
   process is the steadier figure): ``--photos`` photos through the batch runner (``jobs.run_batch`` with
   ``SRTask``, the work of ``batch sr``: listing, skip checks, the log, the PNG writes) against the same
   number of library calls alone (``super_resolve(model, load_image(photo))``, nothing written), the
   model loaded once for both. Target: at most 1.15.
2. **2 ranks / 1 rank**: ``--scale-photos`` photos through ``python -m styleganex batch sr`` as one
   process with one thread, and as a ``torchrun --nproc_per_node 2`` job with one thread per rank (wall
   time of the whole command: start-up and model loading included). Target on 2 cores: at most 0.65.

With ``--device cuda`` the figure is photos/s of the batch runner at each ``--batch`` size (crops of one
size are encoded and decoded together). The photos are head shots cut from scikit-image's astronaut
at a few sizes and offsets, so that the face step (dlib) and the crops vary as in a real folder.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def make_photos(folder: Path, count: int) -> list[Path]:
    """``count`` head shots cut from the astronaut at a few sizes and offsets: the release's SR crop of each
    is about 256 x 256 (eyes 64 px apart), so the output is about 1024 x 1024, as for a portrait."""
    import numpy as np
    from PIL import Image
    from skimage import data

    from styleganex.faces import detect_face
    from styleganex.faces.face import LEFT_EYE, RIGHT_EYE

    folder.mkdir(parents=True, exist_ok=True)
    pixels = data.astronaut()
    face = detect_face(torch.from_numpy(pixels).permute(2, 0, 1).float() / 255)
    left, right = face.landmarks[LEFT_EYE].mean(axis=0), face.landmarks[RIGHT_EYE].mean(axis=0)
    centre, eyes = (left + right) / 2, float(np.hypot(*(right - left)))
    astro = Image.fromarray(pixels)
    paths = []
    for i in range(count):
        half = 2 * eyes * (1.0 + 0.02 * (i % 5))  # the crop's 256 px around 64 px eyes
        dx = eyes * 0.1 * ((i % 3) - 1)
        box = tuple(int(round(v)) for v in (centre[0] - half + dx, centre[1] - half, centre[0] + half + dx,
                                             centre[1] + half))
        side = 224 + 16 * (i % 4)
        paths.append(folder / f"photo_{i:03d}.png")
        astro.crop(box).resize((side, side), Image.BICUBIC).save(paths[-1])
    return paths


def _model(tiny: bool, device: str):
    from styleganex.dev.testing import random_model

    return random_model("sr", reduced=tiny, size=256 if tiny else 1024, seed=0).to(device)


def batch_vs_library(model, photos: list[Path], out: Path, batch_size: int = 1) -> dict:
    """Seconds of ``len(photos)`` library calls and of the batch runner over the same photos."""
    from styleganex.io.images import load_image
    from styleganex.jobs import list_inputs, run_batch
    from styleganex.jobs.translate import SRTask
    from styleganex.pipelines.translation import super_resolve

    def sync():
        if model.device.type == "cuda":
            torch.cuda.synchronize()

    super_resolve(model, load_image(photos[0])[None], 4)  # warm-up (first-call costs)
    sync()
    start, cpu = time.perf_counter(), time.process_time()
    for path in photos:
        super_resolve(model, load_image(path)[None], 4, seed=0)
    sync()
    library, library_cpu = time.perf_counter() - start, time.process_time() - cpu

    task = SRTask(model, factor=4, seed=0, batch_size=batch_size)
    inputs = list_inputs(photos[0].parent)
    start, cpu = time.perf_counter(), time.process_time()
    summary = run_batch(task, inputs, out, batch_size=batch_size)
    sync()
    batch, batch_cpu = time.perf_counter() - start, time.process_time() - cpu
    if summary.done != len(photos):
        raise RuntimeError(f"the batch did {summary.line()} for {len(photos)} photos: {summary.failures}")
    return {"photos": len(photos), "library_s": library, "batch_s": batch, "ratio": batch / library,
            "library_cpu_s": library_cpu, "batch_cpu_s": batch_cpu, "cpu_ratio": batch_cpu / library_cpu,
            "photos_per_s": len(photos) / batch}


def ranks(model_file: Path, photos: Path, work: Path, nproc: int) -> tuple[float, float]:
    """``batch sr`` over ``photos`` as ``nproc`` one-thread processes (torchrun when > 1): the wall seconds of
    the whole command, and the item seconds of its busiest process (from its log: the work without start-up)."""
    from styleganex.jobs import read_log

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "MASTER_ADDR": "127.0.0.1",
           "GLOO_SOCKET_IFNAME": "lo"}
    out = work / f"ranks{nproc}"
    args = ["-m", "styleganex", "batch", "sr", "--inputs", str(photos), "--out", str(out),
            "--model", str(model_file), "--factor", "4", "--device", "cpu", "--no-progress"]
    if nproc > 1:
        args = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
    start = time.perf_counter()
    run = subprocess.run([sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        raise RuntimeError(f"batch sr with {nproc} process(es) failed:\n{run.stdout}\n{run.stderr[-3000:]}")
    per_shard: dict[str, float] = {}
    for entry in read_log(out / "batch_log.jsonl"):
        per_shard[entry["shard"]] = per_shard.get(entry["shard"], 0.0) + entry["seconds"]
    return seconds, max(per_shard.values())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--photos", type=int, default=50, help="photos of the batch / library comparison")
    p.add_argument("--scale-photos", type=int, default=24, help="photos of the 1 rank / 2 ranks comparison (0: skip)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, nargs="+", default=[1], help="batch sizes (GPU figures)")
    p.add_argument("--tiny", action="store_true", help="reduced widths (smoke run)")
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args(argv)
    if args.device == "cpu":
        torch.set_num_threads(1)  # the figures: one thread per process
    results: dict = {"device": args.device, "tiny": args.tiny, "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        photos = make_photos(work / "photos", args.photos)
        model = _model(args.tiny, args.device)
        results["batch"] = {}
        for size in args.batch:
            row = batch_vs_library(model, photos, work / f"out{size}", size)
            results["batch"][size] = row
            print(f"batch sr, {row['photos']} photos, batch {size}: library {row['library_s']:.2f} s, batch "
                  f"{row['batch_s']:.2f} s -> ratio {row['ratio']:.3f} (target <= 1.15), "
                  f"{row['photos_per_s']:.2f} photos/s; CPU time {row['library_cpu_s']:.2f} s vs "
                  f"{row['batch_cpu_s']:.2f} s -> {row['cpu_ratio']:.3f}")
        if args.scale_photos and args.device == "cpu":
            from styleganex.dev.testing import save_official_pt

            model_file = save_official_pt(model, work / "sr.pt")
            scale = make_photos(work / "scale", args.scale_photos)
            del model  # the processes load their own
            (one, one_items), (two, two_items) = (ranks(model_file, scale[0].parent, work, n) for n in (1, 2))
            results["ranks"] = {"photos": len(scale), "one_rank_s": one, "two_ranks_s": two, "ratio": two / one,
                                "one_rank_items_s": one_items, "two_ranks_items_s": two_items,
                                "items_ratio": two_items / one_items}
            print(f"batch sr, {len(scale)} photos, one thread per process: 1 rank {one:.1f} s, 2 ranks {two:.1f} s "
                  f"-> ratio {two / one:.3f} (target <= 0.65 on 2 cores); the work alone (busiest rank's items): "
                  f"{one_items:.1f} s vs {two_items:.1f} s -> {two_items / one_items:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
