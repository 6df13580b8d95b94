"""Soak: many frames and many inversions in one process must not grow its memory.

One fresh interpreter (so memory freed by earlier tests cannot hide growth; glibc is told to mmap
every allocation of 64 KiB or more, so freed tensors leave the resident set at once) runs, after a
warm-up (first-call caches, allocator pools): 100 frames through ``process_video`` (tiny edit model,
40x48 frames, an explicit crop record and aligned face, so no detector; paste-back on) and then 50
inversions of 2 steps each (tiny inversion model, 32x32 frames, one shared random-backbone LPIPS).
The resident set size (``/proc/self/statm``) may grow by at most ``BOUND_MB`` over both. The
instrument is checked in the same process: keeping a tensor of the bound's size shows up.
(test_video.test_memory_is_flat checks the peak of a single long video.)
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOUND_MB = 40

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc/self/statm")

SOAK = r"""
import gc, json, os, sys, torch
torch.set_num_threads(1)
from styleganex.faces import CropRecord
from styleganex.pipelines.inversion import optimize
from styleganex.pipelines.lpips import load_lpips
from styleganex.dev.testing import random_model
from styleganex.pipelines.video import process_video

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 2 ** 20

def rss():
    gc.collect()
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE

edit = random_model("edit_age", size=256, seed=31)
inv = random_model("inversion", size=256, seed=32)
lp = load_lpips(random_backbone=True)
record = CropRecord((40, 48), 1.0, (40, 48), (8, 0, 40, 32))
aligned = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(9))
g = torch.Generator().manual_seed(3)
faces = [torch.rand(1, 3, 32, 32, generator=g) * 2 - 1 for _ in range(5)]

def video_frames(n):
    g = torch.Generator().manual_seed(0)
    for _ in range(n):
        yield torch.rand(3, 40, 48, generator=g)

def video(n):
    count = 0
    for out in process_video(edit, video_frames(n), 1.0, crop=record, aligned=aligned, chunk_size=4,
                             paste_back=True):
        out = out.frame
        assert out.shape == (3, 40, 48) and bool(torch.isfinite(out).all())
        count += 1
    return count

def inversions(n):
    losses = []
    for i in range(n):
        result = optimize(inv, faces[i % 5], steps=2, seed=i, lpips=lp)
        assert result.steps_run == 2
        losses.append(result.history[-1])
    return losses

video(8)                      # warm-up
first = inversions(3)
start = rss()
frames = video(100)
after_video = rss()
losses = inversions(50)
end = rss()
kept = torch.ones(int(sys.argv[1]) * MB // 4)   # the instrument: a "leak" of the bound's size
with_kept = rss()
print(json.dumps({"frames": frames, "inversions": len(losses), "same_first_losses": losses[:3] == first,
                  "finite": all(l == l and abs(l) != float("inf") for l in losses),
                  "start_mb": start / MB, "after_100_frames_mb": after_video / MB,
                  "after_50_inversions_mb": end / MB, "with_kept_mb": with_kept / MB}))
"""


@pytest.mark.slow
def test_soak_100_frames_and_50_inversions(record_property):
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run([sys.executable, "-c", SOAK, str(BOUND_MB)], check=False, capture_output=True, text=True,
                         env=env, timeout=600, cwd=str(ROOT))
    assert res.returncode == 0, res.stderr[-3000:]
    m = json.loads(res.stdout.strip().splitlines()[-1])
    growth = m["after_50_inversions_mb"] - m["start_mb"]
    for k in ("start_mb", "after_100_frames_mb", "after_50_inversions_mb", "with_kept_mb"):
        record_property(k, round(m[k], 2))
    record_property("growth_mb", round(growth, 2))
    print(f"soak RSS (MB): start {m['start_mb']:.1f}, after 100 frames {m['after_100_frames_mb']:.1f}, "
          f"after 50 inversions {m['after_50_inversions_mb']:.1f}, growth {growth:.2f}")
    assert m["frames"] == 100 and m["inversions"] == 50 and m["finite"]
    assert m["same_first_losses"]  # 50 runs later a run still computes the same
    assert growth < BOUND_MB, m
    assert m["after_100_frames_mb"] - m["start_mb"] < BOUND_MB, m
    assert m["with_kept_mb"] - m["after_50_inversions_mb"] > 0.9 * BOUND_MB, m  # a leak this size would show
