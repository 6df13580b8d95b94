"""``python -m styleganex train``: one machine, resume, errors; and the same run under torchrun (gloo, 2 processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from styleganex.cli import main
from styleganex.dev.testing import random_model, save_official_pt
from styleganex.model import load_model
from styleganex.training.checkpoint import read_resume

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import training_ddp_worker  # noqa: E402

SMALL = ["--set", "output_size=256", "--set", "pair_pool=2", "--set", "pair_feature=8", "--set", "val_interval=2",
         "--set", "log_interval=1", "--set", "optim_name=adam", "--lr", "1e-3", "--quiet"]


@pytest.fixture
def models(tmp_path, monkeypatch):
    """A models folder with random AlexNet weights (LPIPS offline), an init checkpoint and a direction file."""
    import torchvision

    from styleganex.pipelines.lpips import ALEX_FILE
    d = tmp_path / "models"
    d.mkdir()
    with torch.device("meta"):
        shapes = {f"features.{k}": v.shape for k, v in torchvision.models.alexnet().features.state_dict().items()}
    g = torch.Generator().manual_seed(3)
    torch.save({k: torch.randn(s, generator=g) * 0.05 for k, s in shapes.items()}, d / ALEX_FILE)
    monkeypatch.setenv("STYLEGANEX_MODELS", str(d))
    save_official_pt(random_model("inversion", size=256), d / "init.pt")
    np.save(d / "smile.npy", np.random.default_rng(0).normal(size=(1, 16)).astype(np.float32) * 0.5)
    return d


def test_train_resume_and_reload_from_the_cli(models, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "video_edit", "--out", str(out), "--init", str(models / "init.pt"), "--direction",
            str(models / "smile.npy"), "--batch-size", "2", "--steps", "3", "--set", "adv_lambda=0.1", "--set",
            "d_width=8", *SMALL]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 3 and summary["variant"] == "edit"
    assert {p.name for p in out.iterdir()} >= {"last.pt", "best.pt", "resume.pt", "train_log.jsonl"}
    model = load_model(out / "last.pt")
    assert model.variant == "edit" and model.editing_w.shape == (1, 14, 16)
    raw = torch.load(out / "last.pt", map_location="cpu", weights_only=True)
    assert "discriminator" in raw and raw["opts"]["recipe"] == "video_edit"
    assert raw["discriminator"]["final_linear.1.weight"].shape == (1, 8)  # d_width 8, judging 64 px
    # continue the run to 5 steps
    assert main(["train", "video_edit", "--resume", str(out), "--steps", "5", "--quiet",
                 "--safetensors"]) == 0
    assert read_resume(out)["step"] == 5
    steps = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps == [1, 2, 3, 4, 5]
    assert load_model(out / "last.safetensors").variant == "edit"


@pytest.mark.parametrize("extra, message", [
    (["--init", "missing.pt"], "not found: missing.pt"),
    (["--direction", "nothing.npy"], "direction file not found"),
    (["--set", "l2_lambda=-1"], "l2_lambda"),
    (["--set", "no_option=1"], "no such training option"),
])
def test_cli_errors_are_one_line_before_training(models, tmp_path, capsys, extra, message):
    base = {"--init": str(models / "init.pt"), "--direction": str(models / "smile.npy")}
    for i in range(0, len(extra) - 1, 2):
        if extra[i] in base:
            base[extra[i]] = extra[i + 1]
    rest = [a for i, a in enumerate(extra) if extra[i - (i % 2)] not in ("--init", "--direction")]
    argv = ["train", "video_edit", "--out", str(tmp_path / "run"), "--steps", "2"]
    for k, v in base.items():
        argv += [k, v]
    assert main(argv + rest + SMALL) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]
    assert not (tmp_path / "run" / "last.pt").exists()


def test_cli_refuses_to_mix_runs(models, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "video_edit", "--out", str(out), "--init", str(models / "init.pt"), "--direction",
            str(models / "smile.npy"), "--steps", "1", "--set", "adv_lambda=0", *SMALL]
    assert main(argv) == 0
    assert main(argv) == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert main(["train", "toonify", "--resume", str(out), "--quiet"]) == 2
    assert "'video_edit' run, not 'toonify'" in capsys.readouterr().err


def _torchrun(args, tmp_path):
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_torchrun_two_processes_equal_one_process_with_the_global_batch(models, tmp_path):
    """2 gloo processes x batch 1 end with the same weights on both ranks, equal (1e-5) to one process with
    batch 2 (frozen BatchNorm: see styleganex.training.distributed); the CLI runs unchanged under torchrun."""
    ddp = tmp_path / "ddp"
    _torchrun([str(Path(training_ddp_worker.__file__)), str(ddp), "1"], tmp_path)
    rank0 = torch.load(ddp / "rank0.pt", weights_only=True)
    rank1 = torch.load(ddp / "rank1.pt", weights_only=True)
    single = training_ddp_worker.run(tmp_path / "single", 2).model.encoder.state_dict()
    moved = 0
    initial = random_model("inversion", size=256, seed=0).encoder.state_dict()
    for k, v in single.items():
        assert torch.equal(rank0[k], rank1[k]), k
        assert torch.allclose(rank0[k], v, atol=1e-5, rtol=0), (k, (rank0[k] - v).abs().max())
        if k in initial and v.is_floating_point() and not torch.equal(v, initial[k]):
            moved += 1
    assert moved > 50  # the encoder did train
    assert load_model(ddp / "last.pt").variant == "edit"
    assert not (ddp / "rank1_last.pt").exists()
    # the CLI itself under torchrun: rank 0 writes the run, the result equals the one-process CLI run
    cli = ["--init", str(models / "init.pt"), "--direction", str(models / "smile.npy"), "--steps", "2", "--bn",
           "frozen", "--set", "adv_lambda=0", *SMALL]
    _torchrun(["-m", "styleganex", "train", "video_edit", "--out", str(tmp_path / "cli2"), "--batch-size", "1", *cli],
              tmp_path)
    assert main(["train", "video_edit", "--out", str(tmp_path / "cli1"), "--batch-size", "2", *cli]) == 0
    a = torch.load(tmp_path / "cli2" / "last.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "cli1" / "last.pt", weights_only=True)["state_dict"]
    for k in b:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-5, rtol=0), k
