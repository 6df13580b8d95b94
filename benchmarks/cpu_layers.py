"""Where encode + decode spends its time on this CPU, layer by layer, ours beside the official code.

    python -m benchmarks.cpu_layers --reference /path/to/StyleGANEX --crop 256    # one run, both codes
    python -m benchmarks.cpu_layers --reference /path/to/StyleGANEX --crop 512 --compiled
    python -m benchmarks.cpu_layers --tiny                                       # smoke run (ours only)

Both implementations load the same random full-size weights (the official ``.pt`` layout) and run
``encode(frame, aligned 256)`` + ``decode`` (official: ``pSp(x1=frame, x2=aligned, resize=False,
zero_noise=True)``) in this process. Forward hooks time every top-level block by its checkpoint name,
which both codes share (``encoder.body.N``, ``decoder.convs.N``, ...); blocks are grouped into the
encoder's stem, its four IR-SE stages and style heads, and the generator's levels. Each group prints
ours, official and the ratio official / ours; the totals are the un-hooked medians. ``--compiled`` adds
our encode + decode with ``STYLEGANEX_FAST=1`` (torch.compile's CPU code), total only.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

from benchmarks.run import inputs, theirs_step
from styleganex.dev.testing import random_model, save_official_pt
from styleganex.model import load_model
from styleganex.model.fast import fast_mode


def groups(model) -> dict[str, str]:
    """Checkpoint name of each timed block -> its group's label (same names in both codes)."""
    c = model.config
    out = {"encoder.input_layer": "encoder stem"}
    unit = 0
    for stage, n in enumerate(c.enc_units_per_stage):
        for _ in range(n):
            out[f"encoder.body.{unit}"] = f"encoder stage {stage + 1} ({n} units)"
            unit += 1
    for j in range(c.n_latent):
        out[f"encoder.styles.{j}"] = "encoder style heads"
    for name in ("latlayer1", "latlayer2", "featlayer", "skiplayer"):
        out[f"encoder.{name}"] = "encoder f / FPN 1x1 convs"
    out["decoder.conv1"] = out["decoder.to_rgb1"] = "generator level 4 (dilated, at f's size)"
    for k in range(len(model.decoder.to_rgbs)):
        r = 2 ** (k + 3)
        label = f"generator level {r}" + (" (dilated)" if r <= 32 else "")
        out[f"decoder.convs.{2 * k}"] = out[f"decoder.convs.{2 * k + 1}"] = out[f"decoder.to_rgbs.{k}"] = label
    return out


def hooked_times(net, names: dict[str, str], fn, device) -> dict[str, float]:
    """Seconds per group of one call of ``fn`` with timing hooks on the named blocks."""
    modules = dict(net.named_modules())
    acc: dict[str, float] = defaultdict(float)
    start: dict[str, float] = {}
    handles = []
    for name, label in names.items():
        m = modules.get(name)
        if m is None:
            continue

        def pre(mod, args, name=name):
            start[name] = time.perf_counter()

        def post(mod, args, out, name=name, label=label):
            acc[label] += time.perf_counter() - start[name]
        handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    try:
        with torch.no_grad():
            fn()
    finally:
        for h in handles:
            h.remove()
    return dict(acc)


def median_time(fn, reps: int) -> float:
    times = []
    with torch.no_grad():
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cpu_layers", description=__doc__.split("\n")[0])
    p.add_argument("--reference", help="checkout of the official StyleGANEX code")
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--compiled", action="store_true", help="also our encode + decode with STYLEGANEX_FAST=1")
    p.add_argument("--tiny", action="store_true", help="reduced widths, a 64 crop, ours only (smoke run)")
    a = p.parse_args(argv)
    crop = 64 if a.tiny else a.crop
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, crop {crop}", flush=True)
    with tempfile.TemporaryDirectory() as td:
        path = save_official_pt(random_model("inversion", reduced=a.tiny, seed=7), Path(td) / "inv.pt")
        ours = load_model(path)
        frame, aligned = inputs(crop, 1)
        names = groups(ours)

        def our_call():
            return ours.decode(ours.encode(frame, aligned))
        with fast_mode("0"):
            our_call()  # warm-up
            ours_layers = hooked_times(ours, names, our_call, "cpu")
            ours_total = median_time(our_call, a.reps)
        theirs_layers, theirs_total = {}, None
        if a.reference and not a.tiny:
            from contextlib import redirect_stdout
            from io import StringIO

            from benchmarks.reference import load_official_psp
            ck = torch.load(path, map_location="cpu", weights_only=True)
            with redirect_stdout(StringIO()):
                net = load_official_psp(a.reference, ck)
            their_call = theirs_step(net, "encdec", frame, aligned, "cpu")
            with torch.no_grad():
                their_call()
            theirs_layers = hooked_times(net, names, their_call, "cpu")
            theirs_total = median_time(their_call, a.reps)
            del net
        compiled_total = None
        if a.compiled:
            with fast_mode("1"):
                our_call()  # compiles
                compiled_total = median_time(our_call, a.reps)

    print(f"\n{'block group':44s} {'ours ms':>10s} {'official ms':>12s} {'official/ours':>14s}")
    for label in dict.fromkeys(names.values()):
        o, t = ours_layers.get(label), theirs_layers.get(label)
        if o is None and t is None:
            continue
        ratio = f"{t / o:14.2f}" if o and t else f"{'':14s}"
        print(f"{label:44s} {o * 1e3 if o else float('nan'):10.1f} "
              f"{t * 1e3 if t else float('nan'):12.1f} {ratio}")
    line = f"\n{'total (un-hooked median)':44s} {ours_total * 1e3:10.1f}"
    if theirs_total:
        line += f" {theirs_total * 1e3:12.1f} {theirs_total / ours_total:14.2f}"
    print(line)
    if compiled_total:
        print(f"{'ours compiled (STYLEGANEX_FAST=1)':44s} {compiled_total * 1e3:10.1f}"
              + (f" {theirs_total * 1e3:12.1f} {theirs_total / compiled_total:14.2f}" if theirs_total else "")
              + f"   (compiled / reference path: x{ours_total / compiled_total:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
