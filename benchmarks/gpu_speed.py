"""The fast paths on a GPU: checked against the reference path, then timed beside the official code.

    python -m benchmarks.gpu_speed --device cuda --reference /path/to/StyleGANEX   # the full run (< 8 min, H200)
    python -m benchmarks.gpu_speed --device cpu --tiny                             # smoke run (in the tests)

1. Checks (strict fp32: TF32 off): every fast path (``STYLEGANEX_FAST=1``: compiled encoder features and
   decoder, the eager decoder with the fused Triton kernels, the static inversion loop with its compiled
   step) against the reference path (``STYLEGANEX_FAST=0``) on the same random full-size weights:
   max |fast - reference| <= 1e-4 in fp32, decoded PSNR >= 40 dB for bf16 autocast against fp32, and
   the inversion's final loss within 2 % of the reference loop's.
2. The table of issue 25: encode + decode of a 512 crop (fp32, bf16), a video-edit frame of a 512 crop
   (fp32 at batch 1; bf16 at batch 1 and 8), an inversion step of a 256 crop, a 500-step inversion;
   ours (reference and fast) beside the official code (``--reference``, a checkout of
   williamyang1991/StyleGANEX, loaded by ``benchmarks.reference``) in the same run, with peak memory.
3. ``torch.profiler`` summaries of the fast decoder and the fast inversion step.

Times are medians of ``--reps`` runs after warm-up (compiles happen in the warm-up; each model is loaded
once, so each shape compiles once per run); peak memory is ``max_memory_allocated`` during the row above
what was allocated before it, plus the weights of our model (resident between rows), so that both
columns count their weights as ``benchmarks.run`` does. ``--tiny`` uses the
reduced-width test models, small frames and a few steps, and on the CPU the ``aot_eager`` compile
backend (the same fullgraph capture, no code generation) so that the whole script runs in a minute or
two; the official code is then not run (it has fixed widths). Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.run import inputs, make_lpips, official_opt_step, theirs_step
from styleganex.dev.testing import random_model, save_official_pt
from styleganex.model import fast, kernels, load_model
from styleganex.model.fast import bf16_autocast, fast_mode
from styleganex.pipelines.inversion import optimize

FP32_TOL = 1e-4
PSNR_MIN = 40.0
LOSS_REL = 0.02
FULL = dict(crop512=512, crop256=256, steps=500, check_steps=30, batch8=8, step_runs=(5, 25))
TINY = dict(crop512=96, crop256=64, steps=6, check_steps=3, batch8=2, step_runs=(2, 4))


# ---- measuring ------------------------------------------------------------------------------------
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def allocated(device: torch.device) -> int:
    return torch.cuda.memory_allocated(device) if device.type == "cuda" else 0


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_mb(device: torch.device, base: int) -> float:
    if device.type != "cuda":
        return float("nan")
    return (torch.cuda.max_memory_allocated(device) - base) / 2 ** 20


def timed(fn, device, reps: int, warmup: int):
    """Median seconds of ``reps`` calls after ``warmup`` calls, and the last output."""
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(reps):
        sync(device)
        t0 = time.perf_counter()
        out = fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in [-1, 1], on 0..1 (peak 1)."""
    a, b = (a.float().clamp(-1, 1) + 1) / 2, (b.float().clamp(-1, 1) + 1) / 2
    mse = float((a - b).pow(2).mean())
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().max())


def weight_bytes(model) -> int:
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


def free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ---- the run ----------------------------------------------------------------------------------------
class Run:
    def __init__(self, args, tmp: Path):
        self.device = torch.device(args.device)
        self.tiny, self.reps, self.warmup = args.tiny, args.reps, args.warmup
        self.sizes = TINY if args.tiny else FULL
        self.reference = None if args.tiny else args.reference
        self.tmp = tmp
        self.files: dict[str, Path] = {}
        self.models: dict = {}
        self.checks: list[dict] = []
        self.rows: list[dict] = []

    # models: ours loaded from the official-layout file that the official code loads too
    def file(self, family: str) -> Path:
        if family not in self.files:
            model = random_model(family, reduced=self.tiny, seed=7)
            self.files[family] = save_official_pt(model, self.tmp / f"styleganex_{family}.pt")
        return self.files[family]

    def ours(self, family: str):
        """Our model of ``family``, loaded once: its compiled graphs serve the checks, the table and the
        profiles (each shape compiles once per run)."""
        if family not in self.models:
            self.models[family] = load_model(self.file(family), device=self.device)
        return self.models[family]

    def official(self, family: str):
        if not self.reference:
            return None, None
        from contextlib import redirect_stdout
        from io import StringIO

        from benchmarks.reference import load_official_psp
        ck = torch.load(self.file(family), map_location="cpu", weights_only=True)
        with redirect_stdout(StringIO()):
            net = load_official_psp(self.reference, ck).to(self.device)
        net.latent_avg = net.latent_avg.to(self.device)
        ew = ck["editing_w"][0:1].to(self.device) if "editing_w" in ck else None
        return net, ew

    def inputs(self, size: int, batch: int = 1):
        frame, aligned = inputs(size, batch)
        return frame.to(self.device), aligned.to(self.device)

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(dict(name=name, ok=bool(ok), detail=detail))
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)

    # ---- 1. checks --------------------------------------------------------------------------------
    def run_checks(self) -> None:
        s = self.sizes
        m = self.ours("inversion")
        frame, aligned = self.inputs(s["crop512"])
        with fast_mode("0"):
            ref = m.decode(m.encode(frame, aligned))
        with fast_mode("1"):
            got = m.decode(m.encode(frame, aligned))
            with bf16_autocast(self.device):
                low = m.decode(m.encode(frame, aligned))
        d = max_diff(got, ref)
        self.check("encode+decode, compiled, fp32", d <= FP32_TOL, f"max |diff| {d:.2e} (<= {FP32_TOL:.0e})")
        p = psnr(low, ref)
        self.check("encode+decode, compiled, bf16 autocast", p >= PSNR_MIN, f"PSNR {p:.1f} dB (>= {PSNR_MIN:.0f})")
        if self.device.type == "cuda" and kernels.available():
            with fast_mode("0"), kernels.enabled(True):
                k = m.decode(m.encode(frame, aligned))
            d = max_diff(k, ref)
            self.check("decode, eager with the Triton kernels, fp32", d <= FP32_TOL, f"max |diff| {d:.2e}")
        else:
            print("skip decode with the Triton kernels: CUDA and Triton only (tests/test_kernels.py "
                  "checks them on the CPU under TRITON_INTERPRET=1)")

        e = self.ours("edit_age")
        with fast_mode("0"):
            latent = e.encode(frame, aligned)
            ref = e.decode(latent, editing_w=1.0)
        with fast_mode("1"):
            feats = e.encode_features(frame)
            latent.f, latent.skips = feats.f, feats.skips
            got = e.decode(latent, editing_w=1.0)
            with bf16_autocast(self.device):
                feats = e.encode_features(frame)
                latent.f, latent.skips = feats.f, feats.skips
                low = e.decode(latent, editing_w=1.0)
        d = max_diff(got, ref)
        self.check("video-edit frame, compiled, fp32", d <= FP32_TOL, f"max |diff| {d:.2e} (<= {FP32_TOL:.0e})")
        p = psnr(low, ref)
        self.check("video-edit frame, compiled, bf16 autocast", p >= PSNR_MIN, f"PSNR {p:.1f} dB")

        m = self.ours("inversion")
        frame, aligned = self.inputs(s["crop256"])
        lp = make_lpips(self.device)
        steps = s["check_steps"]
        ref = optimize(m, frame, aligned, steps=steps, seed=0, lpips=lp, fast="0")
        got = optimize(m, frame, aligned, steps=steps, seed=0, lpips=lp, fast="1")
        rel = abs(got.history[-1] - ref.history[-1]) / abs(ref.history[-1])
        d = max_diff(got.latent.wplus, ref.latent.wplus)
        self.check(f"inversion, static loop + compiled step, {steps} steps", rel <= LOSS_REL,
                   f"final loss {got.history[-1]:.5g} vs {ref.history[-1]:.5g} (rel {rel:.1e} <= {LOSS_REL}); "
                   f"w+ max |diff| {d:.1e}")

    # ---- 2. the table -----------------------------------------------------------------------------
    def row(self, name: str, cells: dict) -> None:
        self.rows.append(dict(name=name, **cells))
        parts = [f"{k} {v * 1e3:8.1f} ms" if k.endswith("_s") and v is not None else f"{k} {v}"
                 for k, v in cells.items() if v is not None and not k.endswith("_mb")]
        mem = [f"{k[:-3]} {v:.0f} MiB" for k, v in cells.items() if k.endswith("_mb") and v is not None
               and not math.isnan(v)]
        print(f"{name:44s} " + " | ".join(parts + mem), flush=True)

    def measure(self, make, setting: str | None, low: bool = False, model=None):
        """(median seconds, peak MiB) of the callable ``make()`` builds; the peak counts ``model``'s
        weights (resident between rows) as the official rows count theirs."""
        base = allocated(self.device) - (weight_bytes(model) if model is not None else 0)
        reset_peak(self.device)
        fn = make()
        ctx_fast = fast_mode(setting)
        with ctx_fast, torch.no_grad():
            if low:
                with bf16_autocast(self.device):
                    t, _ = timed(fn, self.device, self.reps, self.warmup)
            else:
                t, _ = timed(fn, self.device, self.reps, self.warmup)
        return t, peak_mb(self.device, base)

    def encdec(self, family="inversion"):
        frame, aligned = self.inputs(self.sizes["crop512"])

        def ours(setting, low=False):
            m = self.ours(family)
            t, mem = self.measure(lambda: (lambda: m.decode(m.encode(frame, aligned))), setting, low, m)
            return t, mem

        ref_s, ref_mb = ours("0")
        fast_s, fast_mb = ours("1")
        bf16_s, bf16_mb = ours("1", low=True)
        off_s = off_mb = None
        net, _ = self.official(family)
        if net is not None:
            base = allocated(self.device)
            reset_peak(self.device)
            with torch.no_grad():
                off_s, _ = timed(theirs_step(net, "encdec", frame, aligned, str(self.device)), self.device,
                                 self.reps, self.warmup)
            off_mb = peak_mb(self.device, base)
            del net
            free()
        n = self.sizes["crop512"]
        self.row(f"encode+decode {n} crop, fp32", dict(reference_s=ref_s, fast_s=fast_s, official_s=off_s,
                                                      speedup=_ratio(off_s, fast_s), fast_mb=fast_mb,
                                                      official_mb=off_mb))
        self.row(f"encode+decode {n} crop, bf16 autocast", dict(fast_s=bf16_s, fast_mb=bf16_mb))

    def video(self):
        def frame_fn(m, frame, aligned):
            latent = m.encode(frame, aligned)  # once per video: the aligned face's w+

            def step():
                feats = m.encode_features(frame)
                latent.f, latent.skips = feats.f, feats.skips
                return m.decode(latent, editing_w=1.0)
            return step

        n = self.sizes["crop512"]
        for batch, low in ((1, False), (1, True), (self.sizes["batch8"], True)):
            frame, aligned = self.inputs(n, batch)
            cells = {}
            for label, setting in (("reference", "0"), ("fast", "1")):
                if low and label == "reference":
                    continue
                m = self.ours("edit_age")
                t, mem = self.measure(lambda m=m: frame_fn(m, frame, aligned), setting, low, m)
                cells[f"{label}_s"] = t / batch
                cells[f"{label}_mb"] = mem
            if not low:
                net, ew = self.official("edit_age")
                if net is not None:
                    base = allocated(self.device)
                    reset_peak(self.device)
                    with torch.no_grad():
                        t, _ = timed(theirs_step(net, "video", frame, aligned, str(self.device), ew),
                                     self.device, self.reps, self.warmup)
                    cells.update(official_s=t / batch, official_mb=peak_mb(self.device, base))
                    cells["speedup"] = _ratio(t / batch, cells["fast_s"])
                    del net
                    free()
            self.row(f"video-edit frame {n} crop, {'bf16' if low else 'fp32'}, batch {batch} (per frame)", cells)

    def inversion(self):
        s = self.sizes
        frame, aligned = self.inputs(s["crop256"])
        short, long = s["step_runs"]
        cells = {}
        for label, setting in (("reference", "0"), ("fast", "1")):
            m = self.ours("inversion")
            lp = make_lpips(self.device)
            base = allocated(self.device) - weight_bytes(m)
            reset_peak(self.device)

            def run(steps, m=m, lp=lp, setting=setting):
                sync(self.device)
                t0 = time.perf_counter()
                optimize(m, frame, aligned, steps=steps, seed=0, lpips=lp, fast=setting)
                sync(self.device)
                return time.perf_counter() - t0
            run(2)  # warm-up: compiles the step
            # seconds per step: the difference of two run lengths (the setup, the encoder, cancels out)
            cells[f"{label}_s"] = (run(long) - run(short)) / (long - short)
            cells[f"{label}_mb"] = peak_mb(self.device, base)
        net, _ = self.official("inversion")
        if net is not None:
            base = allocated(self.device)
            reset_peak(self.device)
            with torch.enable_grad():
                t, _ = timed(official_opt_step(net, frame, aligned, make_lpips(self.device)), self.device,
                             self.reps, self.warmup)
            cells.update(official_s=t, official_mb=peak_mb(self.device, base), speedup=_ratio(t, cells["fast_s"]))
            del net
            free()
        self.row(f"inversion step, {s['crop256']} crop, fp32", cells)

        steps = s["steps"]
        results = {}
        for label, setting in (("reference", "0"), ("fast", "1")):
            m = self.ours("inversion")
            lp = make_lpips(self.device)
            sync(self.device)
            t0 = time.perf_counter()
            result = optimize(m, frame, aligned, steps=steps, seed=0, lpips=lp, fast=setting)
            sync(self.device)
            results[label] = (time.perf_counter() - t0, result.latent.meta["inversion"]["final_loss"])
        (rs, rl), (fs, fl) = results["reference"], results["fast"]
        rel = abs(fl - rl) / abs(rl)
        self.row(f"{steps}-step inversion, {s['crop256']} crop, fp32 (s)",
                 dict(reference=f"{rs:.2f} s", fast=f"{fs:.2f} s", final_loss=f"{fl:.5g} vs {rl:.5g}"))
        self.check(f"{steps}-step inversion: final loss within {LOSS_REL:.0%} of the reference", rel <= LOSS_REL,
                   f"rel {rel:.1e}")

    def cuda_graphs(self):
        """The same fast paths replayed as CUDA graphs ($STYLEGANEX_CUDAGRAPHS=1, off by default): the
        inversion step and the bf16 batch-8 video frame. Reported, not gating (a failure is printed)."""
        import os

        if self.device.type != "cuda":
            print("skip CUDA graphs: CUDA only")
            return
        os.environ[fast.CUDAGRAPHS_ENV] = "1"
        try:
            s = self.sizes
            frame, aligned = self.inputs(s["crop256"])
            m, lp = self.ours("inversion"), make_lpips(self.device)
            short, long = s["step_runs"]

            def run(steps):
                sync(self.device)
                t0 = time.perf_counter()
                r = optimize(m, frame, aligned, steps=steps, seed=0, lpips=lp, fast="1")
                sync(self.device)
                return time.perf_counter() - t0, r
            run(2)
            step_s = (run(long)[0] - run(short)[0]) / (long - short)
            ref = optimize(m, frame, aligned, steps=s["check_steps"], seed=0, lpips=lp, fast="0")
            got = run(s["check_steps"])[1]
            rel = abs(got.history[-1] - ref.history[-1]) / abs(ref.history[-1])
            self.row(f"inversion step, {s['crop256']} crop, fp32, CUDA graphs",
                     dict(fast_s=step_s, final_loss_rel=f"{rel:.1e}"))
            e = self.ours("edit_age")
            frame, aligned = self.inputs(s["crop512"], s["batch8"])
            latent = e.encode(frame, aligned)

            def step():
                feats = e.encode_features(frame)
                latent.f, latent.skips = feats.f, feats.skips
                return e.decode(latent, editing_w=1.0)
            with fast_mode("1"), torch.no_grad(), bf16_autocast(self.device):
                t, _ = timed(step, self.device, self.reps, self.warmup)
            self.row(f"video-edit frame {s['crop512']} crop, bf16, batch {s['batch8']}, CUDA graphs (per frame)",
                     dict(fast_s=t / s["batch8"]))
        except Exception as e:  # noqa: BLE001 - reported, not gating
            print(f"CUDA graphs FAILED: {type(e).__name__}: {str(e)[:300]}")
        finally:
            os.environ.pop(fast.CUDAGRAPHS_ENV, None)

    # ---- 3. profiles ------------------------------------------------------------------------------
    def profiles(self, rows: int) -> None:
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.device.type == "cuda" else [])
        sort = "cuda_time_total" if self.device.type == "cuda" else "cpu_time_total"
        m = self.ours("inversion")
        frame, aligned = self.inputs(self.sizes["crop512"])
        with fast_mode("1"), torch.no_grad():
            latent = m.encode(frame, aligned)
            m.decode(latent)  # compiled before profiling
            with profile(activities=activities) as prof:
                for _ in range(3):
                    m.decode(latent)
                sync(self.device)
        print(f"\nprofile: fast decoder, {self.sizes['crop512']} crop, 3 calls")
        print(prof.key_averages().table(sort_by=sort, row_limit=rows))
        frame, aligned = self.inputs(self.sizes["crop256"])
        lp = make_lpips(self.device)
        optimize(m, frame, aligned, steps=2, seed=0, lpips=lp, fast="1")  # compiled before profiling
        with profile(activities=activities) as prof:
            optimize(m, frame, aligned, steps=3, seed=0, lpips=lp, fast="1")
            sync(self.device)
        print(f"\nprofile: fast inversion (encode + 3 steps), {self.sizes['crop256']} crop")
        print(prof.key_averages().table(sort_by=sort, row_limit=rows))


def _ratio(official_s, ours_s):
    return None if official_s is None or not ours_s else round(official_s / ours_s, 2)


def guarded(run: Run, name: str, part) -> None:
    """Run one part of the script; an exception is a failed check (printed), and the run goes on: a
    one-shot GPU session should bring back every figure it can."""
    try:
        part()
    except Exception as e:  # noqa: BLE001 - reported as a failure, the other parts still run
        import traceback

        where = traceback.extract_tb(e.__traceback__)[-1]
        run.check(f"{name} ran", False, f"{type(e).__name__}: {str(e)[:300]} ({Path(where.filename).name}:"
                                        f"{where.lineno})")
        free()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_speed", description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--reference", help="checkout of the official StyleGANEX code (the official columns)")
    p.add_argument("--tiny", action="store_true", help="reduced widths, small frames, few steps (smoke run)")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--sections", nargs="+", default=["checks", "table", "profiles"],
                   choices=["checks", "table", "profiles"])
    p.add_argument("--profile-rows", type=int, default=15)
    p.add_argument("--backend", default=None,
                   help="torch.compile backend (default: inductor; aot_eager for --tiny on the CPU)")
    p.add_argument("--json", default=None, help="write the checks and the table here")
    p.add_argument("--budget-s", type=float, default=450.0,
                   help="start no further part after this many seconds (the device machine's 8 minutes)")
    a = p.parse_args(argv)
    device = torch.device(a.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # strict fp32
    fast.COMPILE_BACKEND = a.backend or ("aot_eager" if a.tiny and device.type == "cpu" else "inductor")
    if a.tiny:
        a.reps, a.warmup = min(a.reps, 1), min(a.warmup, 1)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, {name}, compile backend {fast.COMPILE_BACKEND}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as td:
        run = Run(a, Path(td))
        for section in a.sections:
            s0 = time.perf_counter()
            print(f"\n== {section}", flush=True)
            if section == "checks":
                parts = [run.run_checks]
            elif section == "table":
                if not run.reference:
                    print("(no --reference, or --tiny: the official columns are left out)")
                parts = [run.encdec, run.video, run.inversion, run.cuda_graphs]
            else:
                parts = [lambda: run.profiles(a.profile_rows)]
            for part in parts:
                if time.perf_counter() - t0 > a.budget_s:
                    print(f"skip {getattr(part, '__name__', section)}: past the --budget-s of {a.budget_s:.0f} s")
                    continue
                guarded(run, getattr(part, "__name__", section), part)
            print(f"({section}: {time.perf_counter() - s0:.0f} s)", flush=True)
    failed = [c for c in run.checks if not c["ok"]]
    print(f"\n{len(run.checks) - len(failed)} checks passed, {len(failed)} failed; "
          f"{time.perf_counter() - t0:.0f} s in all")
    if a.json:
        Path(a.json).write_text(json.dumps({"device": name, "tiny": a.tiny, "command": " ".join(sys.argv),
                                            "checks": run.checks, "rows": run.rows}, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
