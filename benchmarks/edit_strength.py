"""The time of a strength change after one inversion: ApplyEdit + Decode only (what ComfyUI re-runs
when a strength widget changes), and the per-image time of an Edit Sweep.

    python -m benchmarks.edit_strength                     # CPU, full-size random weights, 512x512 crop
    python -m benchmarks.edit_strength --device cuda --reps 10
    python -m benchmarks.edit_strength --tiny --reps 1     # smoke run (reduced widths, 64x64 crop)

The latent is encoded once (not timed) from a random 512x512 crop; each timed run applies a direction of
the official layout (``[1, 18, 512]``, rows: all) at a new strength and decodes the result
(``styleganex.pipelines.encode_decode.decode_latent``, zero noise, padding removed, 2048x2048 out). Reported: the median
and the minimum of ``--reps`` runs after ``--warmup`` runs (on a shared machine the minimum is the better
estimate) and the median CPU time of the process (all threads: contention from other processes does not
inflate it), split into the edit itself and the decode; and one 3-strength sweep per image. Results print
as a table and are written as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(device: str = "cpu", tiny: bool = False, crop: int = 512, reps: int = 3, warmup: int = 1,
            seed: int = 0) -> dict:
    """Time ApplyEdit + Decode at ``reps`` different strengths; returns the figures (seconds)."""
    from styleganex.dev.testing import random_model
    from styleganex.io.directions import Direction
    from styleganex.pipelines.editing import apply_direction, sweep
    from styleganex.pipelines.encode_decode import decode_latent

    size = 64 if tiny else crop
    t0 = time.perf_counter()
    model = random_model("inversion", reduced=tiny, seed=seed).to(device)
    build_s = time.perf_counter() - t0
    g = torch.Generator().manual_seed(seed)
    frame = torch.rand(1, 3, size, size, generator=g).to(device) * 2 - 1
    aligned = torch.rand(1, 3, 256, 256, generator=g).to(device) * 2 - 1
    with torch.no_grad():
        latent = model.encode(frame, aligned)
    s = model.config.style_dim
    direction = Direction.of(torch.randn(1, model.n_latent, s, generator=g), "smile", "official")
    strengths = [0.25 + 1.5 * i / max(1, reps + warmup - 1) for i in range(reps + warmup)]
    edit_s, decode_s, total_s, cpu_s = [], [], [], []
    out_shape = None
    with torch.no_grad():
        for i, strength in enumerate(strengths):
            _sync(device)
            c0, t0 = time.process_time(), time.perf_counter()
            edited = apply_direction(latent, direction, strength)
            _sync(device)
            t1 = time.perf_counter()
            image = decode_latent(model, edited, "zero")
            _sync(device)
            t2, c2 = time.perf_counter(), time.process_time()
            out_shape = list(image.shape)
            if i >= warmup:
                edit_s.append(t1 - t0)
                decode_s.append(t2 - t1)
                total_s.append(t2 - t0)
                cpu_s.append(c2 - c0)
        t0 = time.perf_counter()
        strip = sweep(model, latent, direction, [-2.0, 0.0, 2.0], noise="zero")
        sweep_s = (time.perf_counter() - t0) / strip.shape[0]
    return {
        "device": device, "tiny": tiny, "crop": size, "output": out_shape, "reps": reps, "warmup": warmup,
        "threads": torch.get_num_threads(), "torch": torch.__version__, "build_s": build_s,
        "strength_change_s": statistics.median(total_s), "strength_change_min_s": min(total_s),
        "edit_s": statistics.median(edit_s),
        "decode_s": statistics.median(decode_s), "all_s": total_s, "sweep_per_image_s": sweep_s,
        "cpu_s": statistics.median(cpu_s),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.edit_strength", description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--tiny", action="store_true", help="reduced widths and a 64x64 crop (smoke run)")
    p.add_argument("--crop", type=int, default=512, help="crop side (default 512; output 4x)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--json", default="benchmarks/results/edit_strength.json")
    args = p.parse_args(argv)
    r = measure(args.device, args.tiny, args.crop, args.reps, args.warmup)
    print(f"strength change (ApplyEdit + Decode), {r['crop']}x{r['crop']} crop -> {r['output'][-1]}x"
          f"{r['output'][-2]}, {r['device']}, {r['threads']} threads{' (tiny)' if r['tiny'] else ''}:")
    print(f"  total  {r['strength_change_s']:.3f} s median, {r['strength_change_min_s']:.3f} s min "
          f"({r['reps']} runs: {', '.join(f'{t:.3f}' for t in r['all_s'])})")
    print(f"  CPU    {r['cpu_s']:.3f} CPU-seconds (all threads; / threads = the wall time on idle cores)")
    print(f"  edit   {r['edit_s'] * 1e3:.3f} ms")
    print(f"  decode {r['decode_s']:.3f} s")
    print(f"  sweep  {r['sweep_per_image_s']:.3f} s per image")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**r, "cpu_count": os.cpu_count()}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
