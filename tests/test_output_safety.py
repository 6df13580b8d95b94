"""Nothing broken is written and nothing a user owns is destroyed: a NaN or infinite result is an error
naming the step (never a file), no output may replace one of its inputs unless asked (images, convert,
video), and images and videos are written in the format their extension names.

Models are small random ones (``styleganex.dev.testing.random_model``, output size 256, style dim 16;
the ``user_model`` and ``user_files`` fixtures of conftest.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import error_line, run_cli
from PIL import Image

from styleganex import load_model
from styleganex.base.errors import DirectionError, InputError, NonFiniteError, OutputPathError
from styleganex.base.validation import MAX_STRENGTH
from styleganex.dev.testing import random_model
from styleganex.io import images
from styleganex.io.images import write_images
from styleganex.io.video_files import probe_video, write_video
from styleganex.model.latent import Latent
from styleganex.pipelines.editing import apply_direction
from styleganex.pipelines.encode_decode import decode_latent
from styleganex.pipelines.latent_files import save_latent
from styleganex.pipelines.video import process_video


# ---- never a broken (NaN/inf) output -----------------------------------------------------------------------
def test_edit_strength_is_bounded(user_files):
    d = torch.from_numpy(np.load(user_files.direction))
    for strength in (1e30, -1e6, MAX_STRENGTH + 1, float("nan")):
        with pytest.raises(DirectionError, match="strength"):
            apply_direction(user_files.latent, d, strength)
    assert torch.isfinite(apply_direction(user_files.latent, d, MAX_STRENGTH).wplus).all()
    with pytest.raises(DirectionError, match="overflows"):
        apply_direction(user_files.latent, torch.full((16,), 1e37), 100.0)
    with pytest.raises(InputError, match="editing_scale"):
        process_video(random_model("edit_age", size=256), torch.rand(1, 3, 64, 64), editing_scale=1e6,
                      crop="none", aligned=torch.rand(3, 256, 256))


@pytest.fixture()
def exploding(user_files, tmp_path):
    """A latent whose finite but huge w+ (up to 3e38; the small model's output grows with w+ up to there)
    decodes to NaN."""
    wplus = user_files.latent.wplus / user_files.latent.wplus.abs().max() * 3e38
    latent = Latent(wplus, user_files.latent.f, crop=user_files.latent.crop)
    return latent, save_latent(latent, tmp_path / "huge_latent.safetensors")


def test_non_finite_results_are_errors_naming_the_step(user_model, exploding, tmp_path):
    latent, _ = exploding
    tmp_path = tmp_path / "outputs"
    tmp_path.mkdir()
    with pytest.raises(NonFiniteError, match="decoding image 0"):
        decode_latent(user_model, latent)
    bad = torch.rand(3, 8, 8)
    bad[0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="NaN"):
        write_images([(tmp_path / "a.png", torch.rand(3, 8, 8)), (tmp_path / "b.png", bad)])
    with pytest.raises(NonFiniteError, match="frame 1"):
        write_video(tmp_path / "v.mp4", [torch.rand(3, 16, 16), bad.expand(3, 8, 8).repeat(1, 2, 2)], 5)
    assert os.listdir(tmp_path) == []  # nothing written, nothing half-written


def test_cli_refuses_to_write_a_nan_image(user_files, exploding, capsys):
    _, path = exploding
    out = user_files.tmp / "edited.png"
    rc, err = run_cli(capsys, "edit", path, "--model", user_files.model,
                      "--direction", user_files.direction, "--strength", "0",
                      "--out", out)
    assert rc == 2 and "decoding image 0 produced NaN or infinite values" in error_line(err)
    assert not out.exists()
    rc, err = run_cli(capsys, "edit", user_files.latent_path, "--model", user_files.model,
                      "--direction", user_files.direction,
                      "--strength", "1e30", "--out", out)
    assert rc == 2 and "--strength" in error_line(err) and not out.exists()


# ---- nothing a user owns is destroyed ----------------------------------------------------------------------
def test_output_equal_to_an_input_is_refused_unless_overwrite(user_files, capsys, tmp_path):
    before = user_files.photo.read_bytes()
    link = tmp_path / "link.png"
    link.symlink_to(user_files.photo)
    base = ["edit", user_files.latent_path, "--model", user_files.model,
            "--direction", user_files.direction, "--frame", user_files.photo]
    for out in (user_files.photo, link):
        rc, err = run_cli(capsys, *base, "--out", out)
        assert rc == 2 and "--overwrite" in error_line(err) and user_files.photo.read_bytes() == before
    rc, err = run_cli(capsys, *base, "--out", user_files.photo, "--overwrite")
    assert rc == 0 and user_files.photo.read_bytes() != before
    assert images.load_image(user_files.photo).shape == (3, 64, 64)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary file left


def test_convert_never_overwrites_its_input(user_files, capsys, tmp_path):
    st = tmp_path / "m.safetensors"
    rc, err = run_cli(capsys, "convert", user_files.model, user_files.model)
    assert rc == 2 and ".safetensors" in error_line(err)
    assert load_model(user_files.model) is not None
    assert run_cli(capsys, "convert", user_files.model, st)[0] == 0
    before = st.read_bytes()
    rc, err = run_cli(capsys, "convert", st, st)
    assert rc == 2 and "is the input" in error_line(err) and st.read_bytes() == before
    assert run_cli(capsys, "convert", st, st, "--overwrite")[0] == 0 and load_model(st).variant == "inversion"


def test_cli_video_never_overwrites_its_input(video_setup, capsys):
    argv, _ = video_setup
    src = Path(argv[1])
    before = src.read_bytes()
    argv[argv.index("--out") + 1] = str(src)
    rc, err = run_cli(capsys, *argv)
    assert rc == 2 and "--overwrite" in error_line(err) and src.read_bytes() == before


@pytest.mark.parametrize("suffix, fmt", [(".png", "PNG"), (".jpg", "JPEG"), (".webp", "WEBP"), (".tiff", "TIFF"),
                                         (".bmp", "BMP"), (".gif", None), (".heic", None), ("", None)])
def test_image_outputs_are_written_in_the_format_their_extension_names(user_files, capsys, suffix, fmt):
    out = user_files.tmp / f"edited{suffix}"
    rc, err = run_cli(capsys, "edit", user_files.latent_path, "--model", user_files.model,
                      "--direction", user_files.direction,
                      "--out", out)
    if fmt is None:
        assert rc == 2 and ".png" in error_line(err) and not out.exists()
    else:
        assert rc == 0 and Image.open(out).format == fmt


@pytest.mark.parametrize("suffix, container", [(".mkv", "matroska"), (".mov", "mov"), (".avi", None),
                                               (".gif", None)])
def test_video_outputs_are_written_in_the_container_their_extension_names(tmp_path, suffix, container):
    import av
    out = tmp_path / f"v{suffix}"
    frames = [torch.rand(3, 16, 16) for _ in range(3)]
    if container is None:
        with pytest.raises(OutputPathError, match=".mp4"):
            write_video(out, frames, 5)
        assert not os.listdir(tmp_path)
    else:
        write_video(out, frames, 5)
        with av.open(str(out)) as c:
            assert container in c.format.name
        assert probe_video(out).n_frames == 3
