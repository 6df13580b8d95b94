"""Speed and memory of the three things users wait on, ours vs the official code.

    python -m benchmarks.run                              # our figures, CPU, full-size random weights
    python -m benchmarks.run --reference ~/StyleGANEX     # side by side with the official code
    python -m benchmarks.run --device cuda --dtype fp32 bf16 fp16
    python -m benchmarks.run --tiny --reps 1              # smoke run (reduced widths, small frames)

Workloads (each run in a fresh subprocess so that peak memory belongs to it alone):
  encdec256 / encdec512  encode (frame + 256x256 aligned face) and decode, inversion model
  opt256 / opt512        one inversion step: decode, LPIPS(VGG) + noise regulariser, backward, Adam
  video512               one video-editing frame with the fusion + attention (edit) model
  inversion256           a whole 500-step Step II inversion of a 256x256 crop (ours only)
Each figure is the median of ``--reps`` timed runs after ``--warmup`` runs; memory is the peak RSS
growth over the loaded model (CPU) or ``max_memory_allocated`` (CUDA). Results print as a table and
are written as JSON. Random weights are generated once, saved in the official layout and loaded by
both implementations, and their outputs are compared (fp32, rtol 1e-4 as the parity fixtures).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

WORKLOADS = {
    "encdec256": dict(family="inversion", size=256),
    "encdec512": dict(family="inversion", size=512),
    "opt256": dict(family="inversion", size=256),
    "opt512": dict(family="inversion", size=512),
    "video512": dict(family="edit_age", size=512),
    "inversion256": dict(family="inversion", size=256),  # a whole 500-step inversion, ours only
}
INVERSION_STEPS = 500
TINY_SIZE = {256: 64, 512: 96}  # frame sides of --tiny runs
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


# ---- measurement helpers --------------------------------------------------------------------
def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def inputs(size: int, batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    frame = torch.rand(batch, 3, size, size, generator=g) * 2 - 1
    aligned = torch.rand(batch, 3, 256, 256, generator=g) * 2 - 1
    return frame, aligned


def make_lpips(device):
    from contextlib import redirect_stdout
    from io import StringIO

    import lpips
    torch.manual_seed(0)
    with redirect_stdout(StringIO()):
        net = lpips.LPIPS(net="vgg", pnet_rand=True, verbose=False)
    return net.to(device).eval().requires_grad_(False)


# ---- the work, ours and theirs -------------------------------------------------------------
def ours_step(model, workload, frame, aligned, device, dtype):
    """A callable doing one unit of ``workload`` with our code; returns the output tensor."""
    if workload.startswith("encdec"):
        return lambda: model.decode(model.encode(frame, aligned))
    if workload.startswith("video"):
        latent = model.encode(frame, aligned)  # once per video: the aligned face's w+
        def frame_step():
            feats = model.encode_features(frame)
            latent.f, latent.skips = feats.f, feats.skips
            return model.decode(latent, editing_w=1.0)
        return frame_step
    return None  # inversion steps are timed inside optimize() (see timed_optimize)


def timed_optimize(model, frame, aligned, device, n_steps, autocast=False):
    """Run our optimize() for n_steps; per-step wall times from its progress callback."""
    from styleganex.pipelines.inversion import optimize
    stamps = [time.perf_counter()]

    def progress(done, total, info):
        sync(device)
        stamps.append(time.perf_counter())
    result = optimize(model, frame, aligned, steps=n_steps, lpips=make_lpips(device), seed=0,
                      progress=progress, autocast=autocast)
    steps = [b - a for a, b in zip(stamps[1:], stamps[2:])]  # the first step also encodes: dropped
    out = model.decode(result.latent, noise=None)
    return steps, out


def theirs_step(net, workload, frame, aligned, device, editing_w=None):
    if workload.startswith("encdec"):
        return lambda: net(x1=frame, x2=aligned, resize=False, zero_noise=True, randomize_noise=False)
    if workload.startswith("video"):
        return lambda: net(x1=frame, x2=aligned, use_skip=True, zero_noise=True, resize=False,
                           editing_w=editing_w)
    return official_opt_step(net, frame, aligned, make_lpips(device))


def official_opt_step(net, y, aligned, percept):
    """The loop body of the official latent_optimization.py, with the same LPIPS network as ours."""
    from styleganex.pipelines.inversion import lr_schedule, noise_normalize_, noise_regularize
    with torch.no_grad():
        wplus = net.encoder(aligned) + net.latent_avg.unsqueeze(0)
        _, f = net.encoder(y, return_feat=True)
    latent_in = wplus.detach().clone().requires_grad_(True)
    feat = [f[0].detach().clone().requires_grad_(True), f[1].detach().clone().requires_grad_(True)]
    bh, bw = int(y.shape[2] * 32 / 256), int(y.shape[3] * 32 / 256)
    noises = [torch.randn(y.shape[0], 1, max(bh, int(y.shape[2] * n.shape[2] / 256)),
                          max(bw, int(y.shape[3] * n.shape[2] / 256))).to(y).requires_grad_(True)
              for n in net.decoder.make_noise()]
    opt = torch.optim.Adam(feat + noises, lr=0.05)
    opt2 = torch.optim.Adam([latent_in], lr=0.05)
    state = {"i": 0}

    def step():
        t = state["i"] / 500
        for o in (opt, opt2):
            o.param_groups[0]["lr"] = lr_schedule(t, 0.05)
        latent_n = latent_in + torch.randn_like(latent_in) * 0.01 * max(0, 1 - t / 0.75) ** 2
        y_hat, _ = net.decoder([latent_n], input_is_latent=True, randomize_noise=False,
                               first_layer_feature=feat, noise=noises)
        b, c, h, w = y_hat.shape
        if h > y.shape[2]:
            k = h // y.shape[2]
            y_hat = y_hat.reshape(b, c, h // k, k, w // k, k).mean([3, 5])
        loss = percept(y_hat, y).sum() + noise_regularize(noises) * 1e3
        opt.zero_grad()
        opt2.zero_grad()
        loss.backward()
        opt.step()
        opt2.step()
        noise_normalize_(noises)
        state["i"] += 1
        return y_hat.detach()
    return step


# ---- one measurement (runs in a subprocess) ------------------------------------------------
def worker(job: dict) -> dict:
    torch.set_num_threads(job["threads"]) if job.get("threads") else None
    device, dtype = job["device"], DTYPES[job["dtype"]]
    if device.startswith("cuda"):  # fp32 means fp32 unless --tf32 is given (both implementations)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = bool(job.get("tf32"))
    ckpt_path, workload = job["ckpt"], job["workload"]
    size = job["size"]
    frame, aligned = inputs(size, job["batch"])
    frame, aligned = frame.to(device, dtype), aligned.to(device, dtype)
    if job["impl"] == "ours":
        from styleganex import load_model
        model = load_model(ckpt_path, device=device, dtype=dtype)
        fn = ours_step(model, workload, frame, aligned, device, dtype)
    else:
        from contextlib import redirect_stdout
        from io import StringIO

        from benchmarks.reference import load_official_psp
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        with redirect_stdout(StringIO()):
            net = load_official_psp(job["reference"], ck).to(device)
        net.latent_avg = net.latent_avg.to(device)
        ew = ck["editing_w"][0:1].to(device) if "editing_w" in ck else None
        fn = theirs_step(net, workload, frame, aligned, device, ew)
    grad = workload.startswith("opt")
    ctx = torch.enable_grad() if grad else torch.no_grad()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    base = rss_bytes()
    times = []
    if fn is None and workload == "inversion256":  # the whole inversion, timed once
        sync(device)
        t0 = time.perf_counter()
        _, out = timed_optimize(model, frame, aligned, device, job.get("steps", INVERSION_STEPS),
                                job.get("autocast", False))
        times = [time.perf_counter() - t0]
    elif fn is None:  # our inversion step
        times, out = timed_optimize(model, frame, aligned, device, 1 + job["warmup"] + job["reps"],
                                    job.get("autocast", False))
        times = times[job["warmup"]:]
    with ctx:
        for i in range(job["warmup"] + job["reps"] if fn is not None else 0):
            sync(device)
            t0 = time.perf_counter()
            out = fn()
            sync(device)
            if i >= job["warmup"]:
                times.append(time.perf_counter() - t0)
    mem = (torch.cuda.max_memory_allocated() if device.startswith("cuda")
           else max(0, peak_rss_bytes() - base))
    if job.get("save_output"):
        torch.save(out.detach().float().cpu(), job["save_output"])
    med = statistics.median(times)
    return {"median_s": med, "min_s": min(times), "per_item_ms": med / job["batch"] * 1e3,
            "peak_mem_mb": mem / 2 ** 20}


# ---- orchestration ---------------------------------------------------------------------------
def run_job(job: dict) -> dict:
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--worker", json.dumps(job)],
                          capture_output=True, text=True, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        if proc.returncode < 0:  # killed by a signal: SIGKILL is the kernel's out-of-memory killer
            return {"error": [f"killed by signal {-proc.returncode}"
                              + (" (out of memory)" if proc.returncode == -9 else "")]}
        errors = [ln for ln in (proc.stderr or proc.stdout).splitlines() if "Error" in ln]
        return {"error": errors[-1:] or (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["failed"]}
    return json.loads(lines[-1][len("RESULT "):])


def make_checkpoints(tmp: Path, tiny: bool) -> dict:
    from styleganex.dev.testing import random_model, save_official_pt
    paths = {}
    for family in sorted({w["family"] for w in WORKLOADS.values()}):
        model = random_model(family, reduced=tiny, seed=7)
        paths[family] = str(save_official_pt(model, tmp / f"styleganex_{family}.pt"))
        del model
    return paths


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description="StyleGANEX benchmarks")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", nargs="+", default=["fp32"], choices=sorted(DTYPES))
    p.add_argument("--batch", nargs="+", type=int, default=[1])
    p.add_argument("--workloads", nargs="+", default=[w for w in WORKLOADS if w != "inversion256"],
                   choices=list(WORKLOADS))
    p.add_argument("--reference", help="checkout of the official StyleGANEX code to compare with")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--tiny", action="store_true", help="reduced widths and small frames (smoke run)")
    p.add_argument("--tf32", action="store_true", help="allow TF32 for fp32 work on CUDA")
    p.add_argument("--autocast", action="store_true",
                   help="our inversion steps with bf16 autocast (optimize(autocast=True))")
    p.add_argument("--inversion-steps", type=int, default=INVERSION_STEPS,
                   help="steps of the inversion256 workload")
    p.add_argument("--json", default="benchmarks/results/latest.json")
    a = p.parse_args(argv)
    if a.worker:
        print("RESULT " + json.dumps(worker(json.loads(a.worker))), flush=True)
        return 0

    rows = []
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        ckpts = make_checkpoints(tmp, a.tiny)
        for wl in a.workloads:
            spec = WORKLOADS[wl]
            size = TINY_SIZE[spec["size"]] if a.tiny else spec["size"]
            for batch in a.batch:
                for dt in a.dtype:
                    job = dict(workload=wl, size=size, batch=batch, dtype=dt, device=a.device,
                               ckpt=ckpts[spec["family"]], reps=a.reps, warmup=a.warmup,
                               threads=a.threads, impl="ours", tf32=a.tf32, autocast=a.autocast,
                               steps=a.inversion_steps)
                    compare = bool(a.reference) and dt == "fp32" and not a.tiny and wl != "inversion256"
                    if compare:
                        job["save_output"] = str(tmp / f"ours_{wl}_{batch}.pt")
                    ours = run_job(job)
                    row = dict(workload=wl, size=size, batch=batch, dtype=dt, device=a.device,
                               autocast=a.autocast, tf32=a.tf32, ours=ours)
                    if compare:
                        theirs = run_job(dict(job, impl="theirs", reference=a.reference,
                                              save_output=str(tmp / f"theirs_{wl}_{batch}.pt")))
                        row["official"] = theirs
                        if "error" not in ours and "error" not in theirs:
                            row["speedup"] = theirs["median_s"] / ours["median_s"]
                            row["mem_ratio"] = (ours["peak_mem_mb"] / theirs["peak_mem_mb"]
                                                if theirs["peak_mem_mb"] else None)
                            row["agreement"] = agreement(tmp / f"ours_{wl}_{batch}.pt",
                                                         tmp / f"theirs_{wl}_{batch}.pt", wl)
                    rows.append(row)
                    print_row(row)
    out = Path(a.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "device": a.device if a.device == "cpu" else torch.cuda.get_device_name(0), "tiny": a.tiny,
            "command": " ".join(sys.argv)}
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {out}")
    return 0 if all("error" not in r["ours"] for r in rows) else 1


def agreement(ours_path, theirs_path, workload) -> dict:
    a, b = torch.load(ours_path), torch.load(theirs_path)
    if workload.startswith("opt"):  # steps draw their own noise: nothing to compare value for value
        return {"max_abs": float("nan"), "pass": None}
    err = (a - b).abs()
    return {"max_abs": float(err.max()), "pass": bool((err <= 5e-4 + 1e-4 * b.abs()).all())}


def print_row(r: dict):
    o = r["ours"]
    if "error" in o:
        print(f"{r['workload']:10s} b{r['batch']} {r['dtype']:4s}  ours FAILED: {o['error']}")
        return
    s = (f"{r['workload']:12s} b{r['batch']} {r['dtype']:4s}  ours {o['median_s'] * 1e3:9.1f} ms "
         f"{o['peak_mem_mb']:8.0f} MB")
    if "official" in r:
        t = r["official"]
        if "error" in t:
            s += f" | official FAILED: {t['error']}"
        else:
            agree = r.get("agreement", {})
            s += (f" | official {t['median_s'] * 1e3:9.1f} ms {t['peak_mem_mb']:8.0f} MB"
                  f" | speedup x{r.get('speedup', float('nan')):.2f} mem x{r.get('mem_ratio') or float('nan'):.2f}"
                  f" | agree {agree.get('pass')} ({agree.get('max_abs', float('nan')):.1e})")
    print(s, flush=True)


if __name__ == "__main__":
    sys.exit(main())
