"""User mistakes on the command line are one ``error:`` line with status 2, never a traceback: OS errors
on output paths, unusable devices, out-of-range numbers and layer ranges; seeds are also checked in the
library, and so are generator files.

Models are small random ones (``styleganex.dev.testing.random_model``, output size 256, style dim 16;
the ``user_model`` and ``user_files`` fixtures of conftest.py).
"""

from __future__ import annotations

import os
import warnings

import pytest
import torch
from helpers import error_line, run_cli

from styleganex import load_generator
from styleganex.base.errors import CheckpointError, DirectionError, InputError
from styleganex.dev.testing import save_stylegan2_pt
from styleganex.pipelines.editing import apply_direction
from styleganex.pipelines.encode_decode import decode_latent


# ---- user mistakes: one line, status 2 ---------------------------------------------------------------------
def _edit(user_files, out, *extra):
    return ["edit", user_files.latent_path, "--model", user_files.model,
            "--direction", user_files.direction, "--out", out, *extra]


def test_os_errors_on_output_paths_are_one_line(user_files, capsys, monkeypatch):
    folder = user_files.tmp / "a_folder.png"
    folder.mkdir()
    rc, err = run_cli(capsys, *_edit(user_files, folder))
    assert rc == 2 and "is a folder" in error_line(err)
    rc, err = run_cli(capsys, *_edit(user_files, user_files.photo / "x.png"))
    assert rc == 2 and "is a file" in error_line(err)
    rc, err = run_cli(capsys, "invert", user_files.photo, "--model", user_files.model,
                      "--out", user_files.photo, "--no-face")
    assert rc == 2 and "is a file" in error_line(err)
    monkeypatch.setattr(os, "access", lambda *a, **k: False)  # a read-only folder (the tests may run as root)
    rc, err = run_cli(capsys, *_edit(user_files, user_files.tmp / "ro" / "x.png"))
    assert rc == 2 and "permission denied" in error_line(err)
    monkeypatch.undo()

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", str(dst))
    monkeypatch.setattr(os, "replace", refuse)  # the folder became read-only while the work ran
    rc, err = run_cli(capsys, *_edit(user_files, user_files.tmp / "late.png"))
    assert rc == 2 and "Permission denied" in error_line(err) and not (user_files.tmp / "late.png").exists()


@pytest.mark.parametrize("device, why", [("banana", "not a device"), ("cuda:99", "GPU"), ("meta", "not supported")])
def test_unusable_devices_are_one_line(user_files, capsys, device, why):
    rc, err = run_cli(capsys, *_edit(user_files, user_files.tmp / "o.png", "--device", device))
    assert rc == 2 and why in error_line(err)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_one_line(user_files, capsys):
    rc, err = run_cli(capsys, *_edit(user_files, user_files.tmp / "o.png", "--device", "cuda"))
    assert rc == 2 and "no CUDA GPU" in error_line(err)


@pytest.mark.parametrize("argv, option", [
    (["invert", "p.png", "--model", "m.pt", "--out", "o", "--seed", "-1"], "--seed"),
    (["invert", "p.png", "--model", "m.pt", "--out", "o", "--seed", str(2 ** 64)], "--seed"),
    (["invert", "p.png", "--model", "m.pt", "--out", "o", "--steps", "-1"], "--steps"),
    (["invert", "p.png", "--model", "m.pt", "--out", "o", "--lr", "0"], "--lr"),
    (["invert", "p.png", "--model", "m.pt", "--out", "o", "--lr", "nan"], "--lr"),
    (["edit", "l.safetensors", "--model", "m.pt", "--mix-seed", "x", "--out", "o.png"], "--mix-seed"),
    (["sr", "p.png", "--model", "m.pt", "--factor", "0", "--out", "o.png"], "--factor"),
    (["sketch2face", "p.png", "--model", "m.pt", "--number", "0", "--out", "o"], "--number"),
    (["video", "v.mp4", "--model", "m.pt", "--out", "o.mp4", "--max-frames", "-1"], "--max-frames"),
    (["video", "v.mp4", "--model", "m.pt", "--out", "o.mp4", "--chunk-size", "0"], "--chunk-size"),
    (["video", "v.mp4", "--model", "m.pt", "--out", "o.mp4", "--scale", "1e9"], "--scale"),
    (["mask2face", "p.png", "--model", "m.pt", "--out", "o", "--max-pixels", "-5"], "--max-pixels"),
])
def test_out_of_range_numbers_are_one_line(capsys, argv, option):
    rc, err = run_cli(capsys, *argv)
    assert rc == 2 and option in error_line(err)


def test_layer_ranges_are_bounded_before_they_are_built(user_files, capsys):
    with pytest.raises(DirectionError, match="out of range"):
        apply_direction(user_files.latent, torch.ones(16), 1.0, "0-99999999999999")  # no list of 10**14 rows
    rc, err = run_cli(capsys, *_edit(user_files, user_files.tmp / "o.png", "--layers", "3-999999999999"))
    assert rc == 2 and "rows 0..13" in error_line(err)


def test_seeds_are_checked_in_the_library(user_model, user_files):
    with pytest.raises(InputError, match="seed"):
        decode_latent(user_model, user_files.latent, "random", seed=-1)
    assert decode_latent(user_model, user_files.latent, "random", seed=2 ** 64 - 1).shape[0] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a valid call raises nothing and warns nothing
        assert torch.isfinite(decode_latent(user_model, user_files.latent)).all()


def test_generator_files_are_checked(user_model, tmp_path):
    path = save_stylegan2_pt(user_model, tmp_path / "g.pt")
    ckpt = torch.load(path, weights_only=True)
    ckpt["latent_avg"] = torch.full((16,), float("inf"))
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="latent_avg"):
        load_generator(path)
