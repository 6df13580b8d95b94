"""Every front door holds (issue 14), tried through the library and the command line as a careless or
hostile user would: every field read from a file is checked (latents, models), no file's bytes are
echoed in an error, no NaN/inf result is ever written, truncated media are reported, no input is
overwritten, the pixel cap holds everywhere, and user mistakes on the command line are one ``error:``
line with status 2, never a traceback. The node front door is tested in test_nodes.py (it needs
ComfyUI's modules).

Models are small random ones (``styleganex.dev.testing.random_model``, output size 256, style dim 16).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile
from safetensors.torch import load_file, save_file
from test_reliability_failures import StubDetector, video_setup  # noqa: F401 - a fixture used below

from styleganex import load_generator, load_model, save_safetensors
from styleganex.base.errors import (
    CheckpointError,
    DirectionError,
    ImageError,
    InputError,
    LatentFileError,
    NonFiniteError,
    OutputPathError,
    StyleGANEXError,
    StyleGANEXWarning,
    VideoError,
)
from styleganex.base.validation import MAX_STRENGTH
from styleganex.cli import main
from styleganex.dev.testing import random_model, save_official_pt, save_stylegan2_pt
from styleganex.faces import CropInfo, prepare_center
from styleganex.faces.parsing import FaceParser
from styleganex.io import images
from styleganex.io.images import write_images
from styleganex.io.video_files import probe_video, read_video_frames, write_video
from styleganex.model.latent import Latent
from styleganex.pipelines.editing import apply_direction
from styleganex.pipelines.encode_decode import decode_latent, encode_images
from styleganex.pipelines.latent_files import load_latent, save_latent
from styleganex.pipelines.lpips import read_vgg_weights
from styleganex.pipelines.video import process_video

SECRET = "TOPSECRET-4f1c9e-do-not-leak"


@pytest.fixture(scope="module")
def inv():
    return random_model("inversion", size=256, seed=31)


def _png(path, h=64, w=64, seed=0, mode="RGB"):
    rng = np.random.default_rng(seed)
    shape = (h, w, 3) if mode == "RGB" else (h, w)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    return Path(path)


@pytest.fixture()
def files(tmp_path, inv):
    """A model file, a 64x64 photo, its latent (with the crop record) and a direction for the model."""
    photo = _png(tmp_path / "photo.png")
    image = images.load_image(photo)
    prepared = prepare_center(image)
    latent = encode_images(inv, prepared.crop[None], prepared.aligned[None], crop=CropInfo.from_prepared([prepared]))
    direction = tmp_path / "smile.npy"
    np.save(direction, np.random.default_rng(1).standard_normal(16).astype(np.float32))
    return SimpleNamespace(model=save_official_pt(inv, tmp_path / "inv.pt"), photo=photo, latent=latent,
                           latent_path=save_latent(latent, tmp_path / "photo_latent.safetensors"),
                           direction=direction, tmp=tmp_path)


def cli(capsys, *argv) -> tuple[int, str]:
    """Run the CLI in-process; a user's mistake is never a traceback."""
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return rc, err


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]


# ============================================================ 2. every field read from a latent file
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


def test_hostile_latent_through_the_cli_is_one_line(files, capsys):
    path = _latent_file(files.tmp / "hostile.safetensors", crop=_crop(scale=1e30))
    rc, err = cli(capsys, "edit", path, "--model", files.model, "--direction", files.direction,
                  "--out", files.tmp / "o.png")
    assert rc == 2 and "scale" in error_line(err) and not (files.tmp / "o.png").exists()


def test_a_crop_record_is_checked_against_the_frame_and_the_output(files, inv, capsys, tmp_path):
    # a record for a 64x64 photo pasted into a photo of another size: refused, nothing written
    other = _png(tmp_path / "other.png", 48, 80)
    rc, err = cli(capsys, "edit", files.latent_path, "--model", files.model, "--direction", files.direction,
                  "--frame", other, "--out", tmp_path / "o.png")
    assert rc == 2 and "64x64 photo" in error_line(err) and not (tmp_path / "o.png").exists()
    # a record whose box covers a whole 200x100 photo, for a square latent: refused at paste-back
    whole = {"frame_size": [100, 200], "scale": 1.0, "resized_size": [100, 200], "box": [0, 0, 200, 100]}
    crop = CropInfo.from_dict({"records": [whole]})
    latent = Latent(files.latent.wplus, files.latent.f, crop=crop)
    out = decode_latent(inv, latent)
    with pytest.raises(InputError, match="not the one this output was made from"):
        crop.with_frames(torch.rand(1, 3, 100, 200)).paste(out)


# ============================================================ 2. every field read from a model file
def _model_with_meta(src: Path, dst: Path, **changes) -> Path:
    from safetensors import safe_open
    with safe_open(str(src), framework="pt") as fh:
        meta = dict(fh.metadata())
    meta.update(changes)
    save_file(load_file(str(src)), str(dst), metadata={k: v for k, v in meta.items() if v is not None})
    return dst


@pytest.fixture(scope="module")
def model_st(tmp_path_factory, inv):
    path = tmp_path_factory.mktemp("model") / "inv.safetensors"
    save_safetensors(inv, path)
    return path


def test_model_metadata_without_config_reads_the_widths_off_the_tensors(model_st, inv, tmp_path):
    model = load_model(_model_with_meta(model_st, tmp_path / "noconfig.safetensors", config=None))
    assert model.config == inv.config


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


def test_official_opts_fields_are_checked_and_info_says_so(inv, tmp_path, capsys):
    path = save_official_pt(inv, tmp_path / "opts.pt")
    ckpt = torch.load(path, weights_only=True)
    ckpt["opts"]["output_size"] = "huge"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="output_size"):
        load_model(path)
    rc, err = cli(capsys, "info", path)
    assert rc == 2 and "output_size" in error_line(err)
    ckpt["opts"]["output_size"], ckpt["latent_avg"] = 256, [1.0, 2.0]  # a list where a tensor belongs
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="'latent_avg' must be a tensor"):
        load_model(path)


# ============================================================ 1. no file's bytes in an error
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
            rc, err = cli(capsys, "mask2face", path, "--model", "unused.pt", "--out", tmp_path / "out")
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


# ============================================================ 3. never a broken (NaN/inf) output
def test_edit_strength_is_bounded(files):
    d = torch.from_numpy(np.load(files.direction))
    for strength in (1e30, -1e6, MAX_STRENGTH + 1, float("nan")):
        with pytest.raises(DirectionError, match="strength"):
            apply_direction(files.latent, d, strength)
    assert torch.isfinite(apply_direction(files.latent, d, MAX_STRENGTH).wplus).all()
    with pytest.raises(DirectionError, match="overflows"):
        apply_direction(files.latent, torch.full((16,), 1e37), 100.0)
    with pytest.raises(InputError, match="editing_scale"):
        process_video(random_model("edit_age", size=256), torch.rand(1, 3, 64, 64), editing_scale=1e6,
                      crop="none", aligned=torch.rand(3, 256, 256))


@pytest.fixture()
def exploding(files, tmp_path):
    """A latent whose finite but huge w+ (up to 3e38; the small model's output grows with w+ up to there)
    decodes to NaN."""
    wplus = files.latent.wplus / files.latent.wplus.abs().max() * 3e38
    latent = Latent(wplus, files.latent.f, crop=files.latent.crop)
    return latent, save_latent(latent, tmp_path / "huge_latent.safetensors")


def test_non_finite_results_are_errors_naming_the_step(inv, exploding, tmp_path):
    latent, _ = exploding
    tmp_path = tmp_path / "outputs"
    tmp_path.mkdir()
    with pytest.raises(NonFiniteError, match="decoding image 0"):
        decode_latent(inv, latent)
    bad = torch.rand(3, 8, 8)
    bad[0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match="NaN"):
        write_images([(tmp_path / "a.png", torch.rand(3, 8, 8)), (tmp_path / "b.png", bad)])
    with pytest.raises(NonFiniteError, match="frame 1"):
        write_video(tmp_path / "v.mp4", [torch.rand(3, 16, 16), bad.expand(3, 8, 8).repeat(1, 2, 2)], 5)
    assert os.listdir(tmp_path) == []  # nothing written, nothing half-written


def test_cli_refuses_to_write_a_nan_image(files, exploding, capsys):
    _, path = exploding
    out = files.tmp / "edited.png"
    rc, err = cli(capsys, "edit", path, "--model", files.model, "--direction", files.direction, "--strength", "0",
                  "--out", out)
    assert rc == 2 and "decoding image 0 produced NaN or infinite values" in error_line(err)
    assert not out.exists()
    rc, err = cli(capsys, "edit", files.latent_path, "--model", files.model, "--direction", files.direction,
                  "--strength", "1e30", "--out", out)
    assert rc == 2 and "--strength" in error_line(err) and not out.exists()


# ============================================================ 4. truncated media are reported
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


def test_cli_video_refuses_a_truncated_input_unless_allowed(video_setup, cut_video, capsys):  # noqa: F811
    argv, out = video_setup
    _, cut = cut_video
    argv[1] = str(cut)
    rc, err = cli(capsys, *argv)
    assert rc == 2 and "--allow-short" in error_line(err) and "index lists 20" in err
    assert os.listdir(out.parent) == []
    rc, err = cli(capsys, *argv, "--allow-short")
    warning = [line for line in err.splitlines() if line.startswith("warning:")]
    assert rc == 0 and len(warning) == 1 and "index lists 20" in warning[0]
    decoded = int(re.search(r"(\d+) frame\(s\) decoded", warning[0]).group(1))
    assert probe_video(out).n_frames == decoded < 20


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("truncated_flag", [False, True])
def test_a_truncated_image_is_refused(tmp_path, monkeypatch, fmt, truncated_flag, capsys):
    path = tmp_path / f"photo.{fmt.lower()}"
    _png(tmp_path / "src.png", 128, 128)
    Image.open(tmp_path / "src.png").save(path, format=fmt)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * 0.6)])
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", truncated_flag)  # as some packages set it
    with pytest.raises(ImageError, match=f"truncated {fmt}"):
        images.load_image(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is truncated_flag  # restored
    rc, err = cli(capsys, "sr", path, "--model", "unused.pt", "--out", tmp_path / "o.png")
    assert rc == 2 and "truncated" in error_line(err)


# ============================================================ 5. nothing a user owns is destroyed
def test_output_equal_to_an_input_is_refused_unless_overwrite(files, capsys, tmp_path):
    before = files.photo.read_bytes()
    link = tmp_path / "link.png"
    link.symlink_to(files.photo)
    base = ["edit", files.latent_path, "--model", files.model, "--direction", files.direction, "--frame", files.photo]
    for out in (files.photo, link):
        rc, err = cli(capsys, *base, "--out", out)
        assert rc == 2 and "--overwrite" in error_line(err) and files.photo.read_bytes() == before
    rc, err = cli(capsys, *base, "--out", files.photo, "--overwrite")
    assert rc == 0 and files.photo.read_bytes() != before
    assert images.load_image(files.photo).shape == (3, 64, 64)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary file left


def test_convert_never_overwrites_its_input(files, capsys, tmp_path):
    st = tmp_path / "m.safetensors"
    rc, err = cli(capsys, "convert", files.model, files.model)
    assert rc == 2 and ".safetensors" in error_line(err)
    assert load_model(files.model) is not None
    assert cli(capsys, "convert", files.model, st)[0] == 0
    before = st.read_bytes()
    rc, err = cli(capsys, "convert", st, st)
    assert rc == 2 and "is the input" in error_line(err) and st.read_bytes() == before
    assert cli(capsys, "convert", st, st, "--overwrite")[0] == 0 and load_model(st).variant == "inversion"


def test_cli_video_never_overwrites_its_input(video_setup, capsys):  # noqa: F811
    argv, _ = video_setup
    src = Path(argv[1])
    before = src.read_bytes()
    argv[argv.index("--out") + 1] = str(src)
    rc, err = cli(capsys, *argv)
    assert rc == 2 and "--overwrite" in error_line(err) and src.read_bytes() == before


@pytest.mark.parametrize("suffix, fmt", [(".png", "PNG"), (".jpg", "JPEG"), (".webp", "WEBP"), (".tiff", "TIFF"),
                                         (".bmp", "BMP"), (".gif", None), (".heic", None), ("", None)])
def test_image_outputs_are_written_in_the_format_their_extension_names(files, capsys, suffix, fmt):
    out = files.tmp / f"edited{suffix}"
    rc, err = cli(capsys, "edit", files.latent_path, "--model", files.model, "--direction", files.direction,
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


# ============================================================ 6. one pixel cap for every image entry point
def test_mask2face_label_images_keep_the_pixel_cap(tmp_path, capsys):
    big = tmp_path / "labels.png"
    Image.new("L", (7000, 6000)).save(big)  # 42 MP of zeros: a file of a few tens of KB
    assert big.stat().st_size < 200_000
    rc, err = cli(capsys, "mask2face", big, "--model", "unused.pt", "--out", tmp_path / "out")
    assert rc == 2 and "42,000,000 pixels" in error_line(err) and "--max-pixels" in err
    small = _png(tmp_path / "small.png", 64, 64, mode="L")
    rc, err = cli(capsys, "mask2face", small, "--model", "unused.pt", "--out", tmp_path / "out",
                  "--max-pixels", "1000")
    assert rc == 2 and "limit of 1,000 pixels" in error_line(err)
    assert images.MAX_PIXELS == 36_000_000  # the option holds for that command only


def test_the_pixel_cap_is_one_setting(tmp_path, monkeypatch, cut_video):
    photo = _png(tmp_path / "p.png", 40, 40)
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    with pytest.raises(ImageError, match="STYLEGANEX_MAX_PIXELS"):
        images.load_image(photo)
    with pytest.raises(VideoError, match="--max-pixels"):
        read_video_frames(cut_video[0])
    code = "import styleganex.io.images as i; print(i.MAX_PIXELS)"
    env = {**os.environ, "STYLEGANEX_MAX_PIXELS": "1234"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "1234"


# ============================================================ 7. user mistakes: one line, status 2
def _edit(files, out, *extra):
    return ["edit", files.latent_path, "--model", files.model, "--direction", files.direction, "--out", out, *extra]


def test_os_errors_on_output_paths_are_one_line(files, capsys, monkeypatch):
    folder = files.tmp / "a_folder.png"
    folder.mkdir()
    rc, err = cli(capsys, *_edit(files, folder))
    assert rc == 2 and "is a folder" in error_line(err)
    rc, err = cli(capsys, *_edit(files, files.photo / "x.png"))
    assert rc == 2 and "is a file" in error_line(err)
    rc, err = cli(capsys, "invert", files.photo, "--model", files.model, "--out", files.photo, "--no-face")
    assert rc == 2 and "is a file" in error_line(err)
    monkeypatch.setattr(os, "access", lambda *a, **k: False)  # a read-only folder (the tests may run as root)
    rc, err = cli(capsys, *_edit(files, files.tmp / "ro" / "x.png"))
    assert rc == 2 and "permission denied" in error_line(err)
    monkeypatch.undo()

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", str(dst))
    monkeypatch.setattr(os, "replace", refuse)  # the folder became read-only while the work ran
    rc, err = cli(capsys, *_edit(files, files.tmp / "late.png"))
    assert rc == 2 and "Permission denied" in error_line(err) and not (files.tmp / "late.png").exists()


@pytest.mark.parametrize("device, why", [("banana", "not a device"), ("cuda:99", "GPU"), ("meta", "not supported")])
def test_unusable_devices_are_one_line(files, capsys, device, why):
    rc, err = cli(capsys, *_edit(files, files.tmp / "o.png", "--device", device))
    assert rc == 2 and why in error_line(err)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_one_line(files, capsys):
    rc, err = cli(capsys, *_edit(files, files.tmp / "o.png", "--device", "cuda"))
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
    rc, err = cli(capsys, *argv)
    assert rc == 2 and option in error_line(err)


def test_layer_ranges_are_bounded_before_they_are_built(files, capsys):
    with pytest.raises(DirectionError, match="out of range"):
        apply_direction(files.latent, torch.ones(16), 1.0, "0-99999999999999")  # no list of 10**14 rows
    rc, err = cli(capsys, *_edit(files, files.tmp / "o.png", "--layers", "3-999999999999"))
    assert rc == 2 and "rows 0..13" in error_line(err)


def test_seeds_are_checked_in_the_library(inv, files):
    with pytest.raises(InputError, match="seed"):
        decode_latent(inv, files.latent, "random", seed=-1)
    assert decode_latent(inv, files.latent, "random", seed=2 ** 64 - 1).shape[0] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a valid call raises nothing and warns nothing
        assert torch.isfinite(decode_latent(inv, files.latent)).all()


def test_generator_files_are_checked(inv, tmp_path):
    path = save_stylegan2_pt(inv, tmp_path / "g.pt")
    ckpt = torch.load(path, weights_only=True)
    ckpt["latent_avg"] = torch.full((16,), float("inf"))
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="latent_avg"):
        load_generator(path)
