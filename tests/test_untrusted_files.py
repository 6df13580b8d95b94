"""Every file a careless or hostile user hands in is checked, through the library and the command line:
every field read from a latent or a model file (naming the file and the field), no file's bytes are
echoed in an error, truncated videos and images are reported, and one pixel cap holds for every image
entry point. The node front door is tested in test_nodes.py (it needs ComfyUI's modules).

Models are small random ones (``styleganex.dev.testing.random_model``, output size 256, style dim 16;
the ``user_model`` and ``user_files`` fixtures of conftest.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from helpers import error_line, run_cli, write_png
from PIL import Image, ImageFile
from safetensors.torch import load_file, save_file

from styleganex import load_generator, load_model, save_safetensors
from styleganex.base.errors import (
    CheckpointError,
    ImageError,
    InputError,
    LatentFileError,
    StyleGANEXError,
    StyleGANEXWarning,
    VideoError,
)
from styleganex.dev.testing import save_official_pt
from styleganex.faces.parsing import FaceParser
from styleganex.io import images
from styleganex.io.video_files import probe_video, read_video_frames, write_video
from styleganex.model.latent import Latent
from styleganex.pipelines.encode_decode import decode_latent
from styleganex.pipelines.latent_files import crop_info_from_dict, load_latent
from styleganex.pipelines.lpips import read_vgg_weights

SECRET = "TOPSECRET-4f1c9e-do-not-leak"


# ---- every field read from a latent file -------------------------------------------------------------------
def _latent_file(path, f_hw=(8, 8), **metadata):
    """A latent file with the tensors of a 14 x 16 w+ model and hand-made metadata."""
    tensors = {"wplus": torch.zeros(1, 14, 16), "f": torch.zeros(1, 32, *f_hw)}
    save_file(tensors, str(path), metadata={"format": "styleganex-latent", "version": "2", **metadata})
    return path


RECORD = {"frame_size": [64, 64], "scale": 1.0, "resized_size": [64, 64], "box": [0, 0, 64, 64]}


def _crop(**changes):
    return json.dumps({"version": 2, "records": [{**RECORD, **changes}], "padding": [256] * 4,
                       "mode": "each image"})


@pytest.mark.parametrize("metadata, field", [
    ({"crop": _crop(frame_size=[0, 64])}, "frame_size"),
    ({"crop": _crop(box=[-8, 0, 64, 64])}, "box"),
    ({"crop": _crop(frame_size=[1e12, 64])}, "frame_size"),
    ({"crop": _crop(scale=1e30)}, "scale"),
    ({"crop": _crop(scale="big")}, "scale"),
    ({"crop": _crop(resized_size=[64, 6400])}, "resized_size"),
    ({"crop": _crop(box=[0, 0, 64, 65])}, "box"),
    ({"crop": json.dumps("a string")}, "must be a JSON object"),
    ({"crop": json.dumps({"records": ["a string"]})}, "record 0"),
    ({"crop": json.dumps({"records": [{k: v for k, v in RECORD.items() if k != "box"}]})}, "'box' is missing"),
    ({"crop": json.dumps({"records": []})}, "'records' is empty"),
    ({"crop": "[" * 5000 + "]" * 5000}, "nested"),
    ({"crop": "{not json"}, "not valid JSON"),
    ({"meta": "[" * 5000 + "]" * 5000}, "nested"),
    ({"meta": "[1, 2]"}, "'meta' metadata must be a JSON object"),
    ({"size_record": json.dumps({"mode": "pad", "original_size": [0, 64], "top": 0, "bottom": 0, "left": 0,
                                 "right": 0})}, "original_size"),
    ({"size_record": json.dumps({"mode": "pad", "original_size": [38, 38], "top": 1, "bottom": 1, "left": 1,
                                 "right": 1})}, "belongs to another latent"),  # f is 8x8: a 64x64 frame
    ({"size_record": json.dumps({"mode": "pad", "original_size": "64x64"})}, "original_size"),
])
def test_every_latent_field_is_checked_naming_file_and_field(tmp_path, metadata, field):
    path = _latent_file(tmp_path / "hostile.safetensors", **metadata)
    with pytest.raises(LatentFileError) as info:
        load_latent(path)
    assert str(path) in str(info.value) and field in str(info.value), str(info.value)


def test_hostile_latent_through_the_cli_is_one_line(user_files, capsys):
    path = _latent_file(user_files.tmp / "hostile.safetensors", crop=_crop(scale=1e30))
    rc, err = run_cli(capsys, "edit", path, "--model", user_files.model, "--direction", user_files.direction,
                      "--out", user_files.tmp / "o.png")
    assert rc == 2 and "scale" in error_line(err) and not (user_files.tmp / "o.png").exists()


def test_a_crop_record_is_checked_against_the_frame_and_the_output(user_files, user_model, capsys, tmp_path):
    # a record for a 64x64 photo pasted into a photo of another size: refused, nothing written
    other = write_png(tmp_path / "other.png", 48, 80)
    rc, err = run_cli(capsys, "edit", user_files.latent_path, "--model", user_files.model,
                      "--direction", user_files.direction,
                      "--frame", other, "--out", tmp_path / "o.png")
    assert rc == 2 and "64x64 photo" in error_line(err) and not (tmp_path / "o.png").exists()
    # a record whose box covers a whole 200x100 photo, for a square latent: refused at paste-back
    whole = {"frame_size": [100, 200], "scale": 1.0, "resized_size": [100, 200], "box": [0, 0, 200, 100]}
    crop = crop_info_from_dict({"records": [whole]})
    latent = Latent(user_files.latent.wplus, user_files.latent.f, crop=crop)
    out = decode_latent(user_model, latent)
    with pytest.raises(InputError, match="not the one this output was made from"):
        crop.with_frames(torch.rand(1, 3, 100, 200)).paste(out)


# ---- every field read from a model file --------------------------------------------------------------------
def _model_with_meta(src: Path, dst: Path, **changes) -> Path:
    from safetensors import safe_open
    with safe_open(str(src), framework="pt") as fh:
        meta = dict(fh.metadata())
    meta.update(changes)
    save_file(load_file(str(src)), str(dst), metadata={k: v for k, v in meta.items() if v is not None})
    return dst


@pytest.fixture(scope="module")
def model_st(tmp_path_factory, user_model):
    path = tmp_path_factory.mktemp("model") / "user_model.safetensors"
    save_safetensors(user_model, path)
    return path


def test_model_metadata_without_config_reads_the_widths_off_the_tensors(model_st, user_model, tmp_path):
    model = load_model(_model_with_meta(model_st, tmp_path / "noconfig.safetensors", config=None))
    assert model.config == user_model.config


@pytest.mark.parametrize("changes, field", [
    ({"config": "[1, 2]"}, "'config' metadata must be a JSON object"),
    ({"config": json.dumps({"size": "1024"})}, "'size'"),
    ({"config": json.dumps({"style_dim": 10 ** 12})}, "'style_dim'"),
    ({"config": json.dumps({"enc_units_per_stage": [1e6, 1, 1, 1]})}, "enc_units_per_stage"),
    ({"config": json.dumps({"gen_channels": "many"})}, "gen_channels"),
    ({"config": json.dumps({"use_skip": "yes"})}, "'use_skip'"),
    ({"config": json.dumps({"evil": 1})}, "unknown config fields"),
    ({"config": "{" * 3000 + "}" * 3000}, "nested"),
    ({"opts": "not json"}, "'opts' metadata is not valid JSON"),
    ({"opts": json.dumps({"input_nc": "three"})}, "'input_nc'"),
    ({"opts": json.dumps({"latent_mask": "8,x"})}, "latent_mask"),
    ({"variant": "x" * 500}, "'variant' metadata"),
])
def test_every_model_metadata_field_is_checked(model_st, tmp_path, changes, field):
    path = _model_with_meta(model_st, tmp_path / "hostile.safetensors", **changes)
    with pytest.raises(CheckpointError) as info:
        load_model(path)
    assert str(path) in str(info.value) and field in str(info.value), str(info.value)


def test_official_opts_fields_are_checked_and_info_says_so(user_model, tmp_path, capsys):
    path = save_official_pt(user_model, tmp_path / "opts.pt")
    ckpt = torch.load(path, weights_only=True)
    ckpt["opts"]["output_size"] = "huge"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="output_size"):
        load_model(path)
    rc, err = run_cli(capsys, "info", path)
    assert rc == 2 and "output_size" in error_line(err)
    ckpt["opts"]["output_size"], ckpt["latent_avg"] = 256, [1.0, 2.0]  # a list where a tensor belongs
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="'latent_avg' must be a tensor"):
        load_model(path)


# ---- no file's bytes in an error ---------------------------------------------------------------------------
def _leaky_files(folder: Path) -> list[Path]:
    text = folder / "notes.pt"
    text.write_text(f"{SECRET}\n" * 4)
    pickle_like = folder / "pickle.pt"
    pickle_like.write_bytes(b"\x80" + SECRET.encode() * 4)
    archive = folder / "archive.pt"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(f"{SECRET}.txt", SECRET)
    image_like = folder / "image.png"
    image_like.write_bytes(b"\x89PNG\r\n\x1a\n" + SECRET.encode() * 4)
    return [text, pickle_like, archive, image_like]


@pytest.mark.parametrize("reader", ["load_model", "load_latent", "load_generator", "load_image", "face_parser",
                                    "vgg", "mask2face"])
def test_errors_never_quote_a_file(tmp_path, reader, capsys):
    for path in _leaky_files(tmp_path):
        if reader == "mask2face":
            rc, err = run_cli(capsys, "mask2face", path, "--model", "unused.pt", "--out", tmp_path / "out")
            assert rc == 2
            message = err
        else:
            call = {"load_model": load_model, "load_latent": load_latent, "load_generator": load_generator,
                    "load_image": images.load_image, "face_parser": FaceParser.load, "vgg": read_vgg_weights}[reader]
            with pytest.raises(StyleGANEXError) as info:
                call(path)
            message = str(info.value)
        assert SECRET[:8] not in message and "b'" not in message and "\\x" not in message, message
        assert f"{path.stat().st_size:,} bytes" in message or "zip archive" in message or "pickled" in message \
            or "corrupt" in message, message


# ---- truncated media are reported --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cut_video(tmp_path_factory):
    folder = tmp_path_factory.mktemp("video")
    g = torch.Generator().manual_seed(0)
    full = folder / "full.mp4"
    write_video(full, [torch.rand(3, 48, 64, generator=g) for _ in range(20)], 10)
    cut = folder / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[:int(len(data) * 0.6)])
    return full, cut


def test_a_truncated_video_is_an_error_with_the_numbers(cut_video):
    full, cut = cut_video
    assert sum(1 for _ in read_video_frames(full)) == 20
    assert probe_video(cut).n_frames == 20  # the index still promises 20
    with pytest.raises(VideoError, match=r"truncated or damaged: (\d+) frame\(s\) decoded, but its index lists 20"):
        list(read_video_frames(cut))
    with pytest.warns(StyleGANEXWarning, match="index lists 20; continuing with") as caught:
        n = sum(1 for _ in read_video_frames(cut, allow_short=True))
    assert 0 < n < 20 and f"{n} frame(s) decoded" in str(caught[0].message)
    assert sum(1 for _ in read_video_frames(cut, max_frames=3)) == 3  # asking for fewer is not an error


def test_cli_video_refuses_a_truncated_input_unless_allowed(video_setup, cut_video, capsys):
    argv, out = video_setup
    _, cut = cut_video
    argv[1] = str(cut)
    rc, err = run_cli(capsys, *argv)
    assert rc == 2 and "--allow-short" in error_line(err) and "index lists 20" in err
    assert os.listdir(out.parent) == []
    rc, err = run_cli(capsys, *argv, "--allow-short")
    warning = [line for line in err.splitlines() if line.startswith("warning:")]
    assert rc == 0 and len(warning) == 1 and "index lists 20" in warning[0]
    decoded = int(re.search(r"(\d+) frame\(s\) decoded", warning[0]).group(1))
    assert probe_video(out).n_frames == decoded < 20


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("truncated_flag", [False, True])
def test_a_truncated_image_is_refused(tmp_path, monkeypatch, fmt, truncated_flag, capsys):
    path = tmp_path / f"photo.{fmt.lower()}"
    write_png(tmp_path / "src.png", 128, 128)
    Image.open(tmp_path / "src.png").save(path, format=fmt)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * 0.6)])
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", truncated_flag)  # as some packages set it
    with pytest.raises(ImageError, match=f"truncated {fmt}"):
        images.load_image(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is truncated_flag  # restored
    rc, err = run_cli(capsys, "sr", path, "--model", "unused.pt", "--out", tmp_path / "o.png")
    assert rc == 2 and "truncated" in error_line(err)


# ---- one pixel cap for every image entry point -------------------------------------------------------------
def test_mask2face_label_images_keep_the_pixel_cap(tmp_path, capsys):
    big = tmp_path / "labels.png"
    Image.new("L", (7000, 6000)).save(big)  # 42 MP of zeros: a file of a few tens of KB
    assert big.stat().st_size < 200_000
    rc, err = run_cli(capsys, "mask2face", big, "--model", "unused.pt", "--out", tmp_path / "out")
    assert rc == 2 and "42,000,000 pixels" in error_line(err) and "--max-pixels" in err
    small = write_png(tmp_path / "small.png", 64, 64, mode="L")
    rc, err = run_cli(capsys, "mask2face", small, "--model", "unused.pt", "--out", tmp_path / "out",
                      "--max-pixels", "1000")
    assert rc == 2 and "limit of 1,000 pixels" in error_line(err)
    assert images.MAX_PIXELS == 36_000_000  # the option holds for that command only


def test_the_pixel_cap_is_one_setting(tmp_path, monkeypatch, cut_video):
    photo = write_png(tmp_path / "p.png", 40, 40)
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    with pytest.raises(ImageError, match="STYLEGANEX_MAX_PIXELS"):
        images.load_image(photo)
    with pytest.raises(VideoError, match="--max-pixels"):
        read_video_frames(cut_video[0])
    code = "import styleganex.io.images as i; print(i.MAX_PIXELS)"
    env = {**os.environ, "STYLEGANEX_MAX_PIXELS": "1234"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "1234"
