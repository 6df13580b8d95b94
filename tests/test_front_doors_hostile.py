"""The front doors of direction files, face selection, paste-back labels, latent fields, downloads and
messages, tried as a hostile or careless user would (issue 24): each through the door a user meets
(the library, the command line as a subprocess; the nodes in test_nodes.py), checking the error type,
that the message names the input, that nothing outside the output was written or changed, and that no
code in a file ran.

Models are small random ones (``styleganex.dev.testing.random_model``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from styleganex.base.errors import DirectionError, InputError, StyleGANEXWarning
from styleganex.io.paths import fetch_official

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args, cwd=None):
    """``python -m styleganex ARGS`` in a subprocess: (status, stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "styleganex", *map(str, args)], capture_output=True, text=True,
                       env=env, cwd=cwd, timeout=300)
    return r.returncode, r.stdout, r.stderr


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


class _Evil:
    """Pickles to a call of ``os.system`` that would create the file ``PWNED`` (it must never run)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# ---- downloads ---------------------------------------------------------------------------------------
@pytest.fixture
def hub(tmp_path):
    d = tmp_path / "hub"
    d.mkdir()
    (d / "faceparsing.pth").write_bytes(b"weights" * 1000)
    return d


def test_download_never_writes_through_a_planted_link(hub, tmp_path):
    dest = tmp_path / "models"
    dest.mkdir()
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    # links at the old fixed temporary name and at the target itself, both pointing outside the folder
    (dest / ".faceparsing.pth.download.partial").symlink_to(outside)
    (dest / "faceparsing.pth").symlink_to(outside)
    path = fetch_official("faceparsing.pth", dest, base_url=hub.as_uri() + "/")
    assert outside.read_text() == "keep me"
    assert path == dest.resolve() / "faceparsing.pth" and not path.is_symlink() and path.is_file()
    assert path.read_bytes() == (hub / "faceparsing.pth").read_bytes()
    # the planted link is left alone (not followed, not written through); no temporary file is left
    assert sorted(p.name for p in dest.iterdir()) == [".faceparsing.pth.download.partial", "faceparsing.pth"]
    assert (dest / ".faceparsing.pth.download.partial").is_symlink()


def test_download_temporary_file_is_created_exclusively(hub, tmp_path, monkeypatch):
    import styleganex.io.paths as paths

    dest = tmp_path / "models"
    dest.mkdir()
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    seen = []
    real_open = os.open

    def spying_open(path, flags, *rest):
        seen.append((Path(path), flags))
        return real_open(path, flags, *rest)

    monkeypatch.setattr(paths.os, "open", spying_open)
    fetch_official("faceparsing.pth", dest, base_url=hub.as_uri() + "/")
    (tmp_file, flags), = seen
    assert tmp_file.parent == dest.resolve() and tmp_file.name.endswith(".download.partial")
    assert flags & os.O_CREAT and flags & os.O_EXCL and flags & os.O_NOFOLLOW
    assert outside.read_text() == "keep me"


# ---- shared files --------------------------------------------------------------------------------------
S = 16  # style width of the small random models


@pytest.fixture(scope="module")
def inv():
    from styleganex.dev.testing import random_model

    return random_model("inversion", size=256, seed=31)


@pytest.fixture()
def files(tmp_path, inv):
    """A model file, a 64x64 photo and its latent (with the crop record), as ``invert --no-face`` writes them."""
    from PIL import Image

    from styleganex.dev.testing import save_official_pt
    from styleganex.faces import CropInfo, prepare_center
    from styleganex.io.images import load_image
    from styleganex.pipelines.encode_decode import encode_images
    from styleganex.pipelines.latent_files import save_latent

    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(photo)
    prepared = prepare_center(load_image(photo))
    latent = encode_images(inv, prepared.crop[None], prepared.aligned[None], crop=CropInfo.from_prepared([prepared]))
    direction = tmp_path / "smile.npy"
    np.save(direction, np.random.default_rng(1).standard_normal(S).astype(np.float32))
    model = save_official_pt(inv, tmp_path / "inv.pt")
    return type("Files", (), dict(model=model, photo=photo, latent=latent, direction=direction, tmp=tmp_path,
                                  latent_path=save_latent(latent, tmp_path / "photo_latent.safetensors")))


def _snapshot(folder: Path) -> dict:
    """Every file under ``folder`` with its bytes (to show nothing was written or changed)."""
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _evil_pt(path: Path, marker: Path, protocol: int = 4) -> Path:
    """A legacy (non-zip) pickle whose loading would run ``touch marker``; protocol 4 makes torch warn."""
    with open(path, "wb") as fh:
        pickle.dump({"smile": _Evil(marker)}, fh, protocol=protocol)
    return path


# ---- direction files: names and notes that act on a terminal --------------------------------------------
CONTROL_NAMES = ["smile\x1b[2J", "bell\x07", "nul\x00x", "cr\rover", "rtl\u202eelims"]


@pytest.mark.parametrize("name", CONTROL_NAMES)
def test_direction_names_with_control_characters_are_refused(tmp_path, name):
    path = tmp_path / "dirs.pt"
    torch.save({"fine": torch.ones(S), name: torch.ones(S)}, path)
    from styleganex.io.directions import read_directions

    with pytest.raises(DirectionError, match="control characters") as e:
        read_directions(path)
    assert str(path) in str(e.value) and not any(ch in str(e.value) for ch in "\x1b\x07\x00\r\u202e")
    before = _snapshot(tmp_path)
    rc, out, err = _cli("directions", path)
    line = _one_error_line(err)
    assert rc == 2 and "dirs.pt" in line and out == ""
    assert not any(ch in out + err for ch in "\x1b\x07\x00\r\u202e")
    assert _snapshot(tmp_path) == before


def test_direction_notes_and_file_names_are_shown_escaped(tmp_path):
    from styleganex.io.directions import Direction, read_directions, save_directions

    ours = save_directions(tmp_path / "ours.safetensors",
                           [Direction.of(torch.ones(S), "smile", "official", note="eig\x1b]0;owned\x07\r")])
    stem = tmp_path / "odd\x1b[31mname.npy"
    np.save(stem, np.ones(S, np.float32))
    (name,) = read_directions(stem)
    assert name == "odd\\x1b[31mname"
    for path in (ours, stem):
        rc, out, err = _cli("directions", path)
        assert rc == 0, err
        assert not any(ch in out for ch in "\x1b\x07\r"), out
    assert "\\x1b]0;owned\\x07\\r" in _cli("directions", ours)[1]


# ---- archives: declared sizes checked before anything is unpacked ----------------------------------------
def _inflate_declared_size(path: Path, member: str, size: int = 2 ** 30) -> Path:
    """Make the zip at ``path`` declare ``size`` bytes for ``member`` (central directory and local header)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    local = info.header_offset
    assert data[local:local + 4] == b"PK\x03\x04"
    data[local + 22:local + 26] = size.to_bytes(4, "little")
    name = member.encode()
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        n = int.from_bytes(data[at + 28:at + 30], "little")
        if bytes(data[at + 46:at + 46 + n]) == name:
            data[at + 24:at + 28] = size.to_bytes(4, "little")
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as z:
        assert z.getinfo(member).file_size == size
    return path


def _no_member_read(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a zip member was opened")

    monkeypatch.setattr(zipfile.ZipFile, "open", refuse)


def test_npz_bomb_is_refused_before_unpacking(tmp_path, monkeypatch):
    from styleganex.io.directions import read_directions

    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, smile=np.zeros(S, np.float32))
    _inflate_declared_size(path, "smile.npy")
    before = _snapshot(tmp_path)
    with monkeypatch.context() as m:
        _no_member_read(m)
        with pytest.raises(DirectionError, match="unpack to 1,024 MiB") as e:
            read_directions(path)
    assert str(path) in str(e.value)
    rc, out, err = _cli("directions", path)
    assert rc == 2 and "bomb.npz" in _one_error_line(err) and "refused before unpacking" in err
    assert _snapshot(tmp_path) == before


def test_zip_based_pt_bombs_are_refused_for_directions_latents_and_models(tmp_path, monkeypatch, inv):
    from styleganex.base.errors import CheckpointError, LatentFileError
    from styleganex.dev.testing import save_official_pt
    from styleganex.io.directions import read_directions
    from styleganex.model import load_model
    from styleganex.pipelines.latent_files import load_latent

    def bomb(path):
        with zipfile.ZipFile(path) as z:
            member = next(n for n in z.namelist() if n.endswith("data.pkl"))
        return _inflate_declared_size(path, member)

    direction = tmp_path / "dirs.pt"
    torch.save({"smile": torch.ones(S)}, direction)
    latent = tmp_path / "inversion.pt"
    torch.save({"wplus": torch.zeros(1, 14, S), "f": torch.zeros(1, 32, 8, 8)}, latent)
    model = save_official_pt(inv, tmp_path / "inv.pt")
    with monkeypatch.context() as m:
        _no_member_read(m)
        for path, read, error in ((direction, read_directions, DirectionError), (latent, load_latent, LatentFileError),
                                  (model, load_model, CheckpointError)):
            bomb(path)
            with pytest.raises(error, match="refused before unpacking") as e:
                read(path)
            assert str(path) in str(e.value)


# ---- pickled and corrupt files: one error line, no code run ----------------------------------------------
def test_pickled_direction_is_one_error_line_and_runs_nothing(tmp_path):
    marker = tmp_path / "PWNED"
    path = _evil_pt(tmp_path / "evil.pt", marker)
    before = _snapshot(tmp_path)
    rc, out, err = _cli("directions", path)
    line = _one_error_line(err)  # no torch UserWarning about the pickle protocol before it
    assert rc == 2 and "evil.pt" in line and "could run code" in line and "posix.system" in line
    assert not marker.exists() and _snapshot(tmp_path) == before
    from styleganex.io.directions import read_directions

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the library does not warn either
        with pytest.raises(DirectionError, match="could run code"):
            read_directions(path)
    assert not marker.exists()


def test_corrupt_pickle_is_called_corrupt_not_code(tmp_path, files):
    path = tmp_path / "broken.pt"
    path.write_bytes(b"\x80\x02" + bytes(200))
    rc, out, err = _cli("directions", path)
    line = _one_error_line(err)
    assert rc == 2 and "broken.pt" in line and "truncated or corrupt" in line and "code" not in line
    rc, out, err = _cli("edit", path, "--model", files.model, "--direction", files.direction, "--out",
                        tmp_path / "out.png")
    line = _one_error_line(err)
    assert rc == 2 and "broken.pt" in line and "corrupt" in line and "code" not in line
    assert not (tmp_path / "out.png").exists()


# ---- GANSpace -----------------------------------------------------------------------------------------------
def _pca(c=4, seed=5):
    g = torch.Generator().manual_seed(seed)
    comp = torch.linalg.qr(torch.randn(S, S, generator=g, dtype=torch.float64))[0][:c].float().reshape(c, 1, S)
    return {"mean": torch.randn(1, S, generator=g), "comp": comp, "std": torch.rand(c, generator=g) + 0.5}


def _e4e_reference(latent_wplus, pca, idx, start, end, strength):
    """e4e / PTI's editings/ganspace.py, written out for one w+ latent [n, S] (independent of the package)."""
    out = []
    for w in latent_wplus.double():
        centred = w - pca["mean"].double()
        comp, std = pca["comp"][idx].double(), float(pca["std"][idx])
        coord = float((centred[0].reshape(-1) * comp.reshape(-1)).sum()) / std
        delta = (strength - coord) * comp * std
        padded = torch.zeros_like(w)
        padded[start:end] += delta.reshape(1, -1).repeat(end - start, 1)
        out.append(w + padded)
    return torch.stack(out).float()


def test_ganspace_default_is_e4e_and_additive_is_offered_by_name(tmp_path, inv):
    from styleganex.io.directions import read_directions, save_directions
    from styleganex.pipelines.editing import apply_direction, apply_edits, ganspace_edit

    pca = _pca()
    torch.save(pca, tmp_path / "ffhq_pca.pt")
    g = torch.Generator().manual_seed(3)
    latent = inv.encode(torch.rand(2, 3, 32, 32, generator=g) * 2 - 1)
    dirs = read_directions(tmp_path / "ffhq_pca.pt")
    assert dirs["pc2"].mode == "e4e" and "e4e" in dirs["pc2"].describe()
    for strength in (-4.0, 0.0, 3.5):
        edited = apply_edits(latent, [ganspace_edit(dirs, 2, 3, 7, strength)])
        want = _e4e_reference(latent.wplus, pca, 2, 3, 7, strength)
        torch.testing.assert_close(edited.wplus, want, rtol=0, atol=1e-5)
    # the coordinate of row 0 along the component ends at strength x std (row 0 edited, unit component)
    moved = apply_direction(latent, dirs["pc1"], 2.0, "0-3")
    coord = (moved.wplus[:, 0] - pca["mean"][0]) @ pca["comp"][1, 0]
    torch.testing.assert_close(coord, torch.full((2,), 2.0 * float(pca["std"][1])), rtol=0, atol=1e-5)
    # the additive mode, by name
    added = apply_edits(latent, [ganspace_edit(dirs, 2, 3, 7, -4.0, mode="add")])
    want = latent.wplus.clone()
    want[:, 3:7] += -4.0 * pca["std"][2] * pca["comp"][2, 0]
    torch.testing.assert_close(added.wplus, want, rtol=0, atol=1e-5)
    with pytest.raises(DirectionError, match="mode"):
        ganspace_edit(dirs, 2, 3, 7, 1.0, mode="sideways")
    # saved and read back, the mode and the mean survive
    again = read_directions(save_directions(tmp_path / "pcs.safetensors", dirs))["pc2"]
    assert again.mode == "e4e" and torch.equal(again.mean, dirs["pc2"].mean) and again.std == dirs["pc2"].std
    torch.testing.assert_close(apply_direction(latent, again, 1.5, "3-6").wplus,
                               _e4e_reference(latent.wplus, pca, 2, 3, 7, 1.5), rtol=0, atol=1e-5)


def test_ganspace_cli_edit_uses_e4e(tmp_path, files):
    from styleganex.io.images import load_image
    from styleganex.pipelines.encode_decode import decode_latent
    from styleganex.pipelines.latent_files import load_latent

    pca = _pca()
    torch.save(pca, tmp_path / "ffhq_pca.pt")
    out = tmp_path / "pc1.png"
    rc, _, err = _cli("edit", files.latent_path, "--model", files.model, "--direction", tmp_path / "ffhq_pca.pt",
                      "--name", "pc1", "--strength", "0", "--layers", "0-3", "--out", out)
    assert rc == 0, err
    latent = load_latent(files.latent_path)
    wplus = _e4e_reference(latent.wplus, pca, 1, 0, 4, 0.0)
    model = _inv_of(files)
    want = decode_latent(model, dataclasses.replace(latent, wplus=wplus))[0]
    assert float((load_image(out) - want).abs().max()) <= 1 / 255 + 1e-6
    # the additive mode by name; 'e4e' for a direction without a PCA mean is one error line
    rc, _, err = _cli("edit", files.latent_path, "--model", files.model, "--direction", tmp_path / "ffhq_pca.pt",
                      "--name", "pc1", "--strength", "2", "--layers", "0-3", "--mode", "add", "--out", out)
    assert rc == 0, err
    wplus = latent.wplus.clone()
    wplus[:, 0:4] += 2.0 * pca["std"][1] * pca["comp"][1, 0]
    want = decode_latent(model, dataclasses.replace(latent, wplus=wplus))[0]
    assert float((load_image(out) - want).abs().max()) <= 1 / 255 + 1e-6
    rc, _, err = _cli("edit", files.latent_path, "--model", files.model, "--direction", files.direction,
                      "--mode", "e4e", "--out", tmp_path / "no.png")
    assert rc == 2 and "PCA mean" in _one_error_line(err) and not (tmp_path / "no.png").exists()


def _inv_of(files):
    from styleganex.model import load_model

    return load_model(files.model, device="cpu")


@pytest.mark.parametrize("case", ["zero std", "0-d std", "0-d npy", "overflow"])
def test_broken_ganspace_and_0d_files_are_refused_at_read_time(tmp_path, case):
    from styleganex.io.directions import read_directions

    pca = {k: v.numpy() for k, v in _pca().items()}
    if case == "zero std":
        pca["std"][1] = 0.0
        path, entry = tmp_path / "pca.npz", "lat_stdev"
        np.savez(path, lat_comp=pca["comp"], lat_mean=pca["mean"], lat_stdev=pca["std"])
    elif case == "0-d std":
        path, entry = tmp_path / "pca.npz", "lat_stdev"
        np.savez(path, lat_comp=pca["comp"][:1, :, :1], lat_mean=pca["mean"][:, :1], lat_stdev=np.float32(2.0))
    elif case == "0-d npy":
        path, entry = tmp_path / "one.npy", "one"
        np.save(path, np.float32(3.0))
    else:
        pca["std"][:] = 3e38
        pca["comp"][0, 0, 0] = 10.0
        path, entry = tmp_path / "pca.npz", "lat_comp"
        np.savez(path, lat_comp=pca["comp"], lat_mean=pca["mean"], lat_stdev=pca["std"])
    with pytest.raises(DirectionError) as e:
        read_directions(path)
    assert str(path) in str(e.value) and entry in str(e.value), str(e.value)


# ---- InterFaceGAN boundaries and stored strength ranges -----------------------------------------------------
@pytest.mark.parametrize("name, made_for", [("pggan_celebahq_smile_boundary", "PGGAN (CelebA-HQ), Z space"),
                                            ("stylegan_ffhq_age_boundary", "StyleGAN1 (FFHQ), Z space"),
                                            ("stylegan_ffhq_pose_w_boundary", "StyleGAN1 (FFHQ), W space")])
def test_interfacegan_boundaries_warn_about_their_generator(tmp_path, name, made_for):
    from styleganex.io.directions import read_directions

    v = np.random.default_rng(0).standard_normal((1, S))
    path = tmp_path / f"{name}.npy"
    np.save(path, v / np.linalg.norm(v))
    with pytest.warns(StyleGANEXWarning) as record:
        d = read_directions(path)[name]
    (message,) = [str(w.message) for w in record]
    assert str(path) in message and made_for in message and "StyleGAN2" in message
    assert d.source == "interfacegan" and made_for in d.note
    rc, out, err = _cli("directions", path)
    assert rc == 0 and f"warning: {path}" in err and made_for in err


def test_stored_strength_range_is_clamped_to_what_an_edit_accepts(tmp_path, inv):
    from safetensors.torch import save_file

    from styleganex.base.validation import MAX_STRENGTH
    from styleganex.io.directions import FORMAT, read_directions
    from styleganex.pipelines.editing import sweep, sweep_strengths

    info = {"wide": {"source": "sefa", "strength": [-5000, 900], "layers": None, "note": ""}}
    path = tmp_path / "wide.safetensors"
    save_file({"wide": torch.ones(S)}, str(path), metadata={"format": FORMAT, "version": "1",
                                                            "directions": json.dumps(info)})
    d = read_directions(path)["wide"]
    assert d.strength_range == (-MAX_STRENGTH, MAX_STRENGTH)
    latent = inv.encode(torch.zeros(1, 3, 32, 32))
    assert sweep(inv, latent, d, sweep_strengths(*d.strength_range, frames=2)).shape[0] == 2


# ---- SeFa: weights changed in place, NaN weights -------------------------------------------------------------
def test_sefa_follows_weights_changed_in_place_and_refuses_nan():
    from styleganex.dev.testing import random_model
    from styleganex.pipelines.sefa import modulations, sefa_directions

    model = random_model("inversion", size=256, seed=7)
    before = sefa_directions(model, "0-3", 3)
    other = random_model("inversion", size=256, seed=8)
    mods, new = modulations(model.decoder), modulations(other.decoder)
    for m, n in zip(mods, new):
        m.weight.data = n.weight.detach().clone()  # as ComfyUI's weight patches do
    after = sefa_directions(model, "0-3", 3)
    want = sefa_directions(other, "0-3", 3)
    assert not torch.allclose(after["sefa0"].vector, before["sefa0"].vector)
    for k in want:
        torch.testing.assert_close(after[k].vector, want[k].vector)
    with torch.no_grad():
        mods[1].weight.data.copy_(modulations(random_model("inversion", size=256, seed=9).decoder)[1].weight)
    assert not torch.allclose(sefa_directions(model, "0-3", 3)["sefa0"].vector, after["sefa0"].vector)
    mods[2].weight.data[0, 0] = float("nan")
    with pytest.raises(DirectionError, match="NaN"):
        sefa_directions(model, "0-3", 3)


# ---- face numbers typed as text ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, understood", [("0,2", (0, 2)), ("0-2", (0, 1, 2)), (" 3 , 0-1 ", (3, 0, 1)),
                                              ("2,2,1", (2, 1))])
def test_face_indices_parse_one_syntax(text, understood):
    from styleganex.faces.select import FaceSelection, parse_face_indices

    assert parse_face_indices(text) == understood
    assert FaceSelection.parse(text).indices == understood
    assert FaceSelection.from_choice("indices", text).indices == understood


@pytest.mark.parametrize("text, shown", [("0 2", "'0 2'"), ("1 0", "'1 0'"), ("-1", "'-1'"), ("2-0", "'2-0'"),
                                         ("1.5", "'1.5'"), ("0,x", "#0"), ("0,,2", "#0"), ("", "empty")])
def test_face_indices_refuse_everything_else(text, shown):
    from styleganex.faces.select import FaceSelection, parse_face_indices

    with pytest.raises(InputError, match="indices") as e:
        FaceSelection.from_choice("indices", text)
    assert shown in str(e.value)
    with pytest.raises(InputError):
        parse_face_indices(text)
    if text:
        with pytest.raises(InputError, match="face selection"):
            FaceSelection.parse(text)


@pytest.mark.parametrize("faces", ["-1", "0 2", "largest:-1"])
def test_invert_faces_refuses_what_it_cannot_read(files, faces):
    out = files.tmp / "out"
    before = _snapshot(files.tmp)
    rc, _, err = _cli("invert", files.photo, "--model", files.model, "--out", out, "--steps", "0", "--faces", faces)
    line = _one_error_line(err)
    assert rc == 2 and faces in line, line
    assert not out.exists() and _snapshot(files.tmp) == before


def test_skip_image_with_no_face_left_stops_with_the_preview():
    from styleganex.faces.group import crop_faces

    class NoFaces:
        def detect(self, image):
            return []

    photos = torch.rand(2, 3, 64, 64)
    found = crop_faces(photos, detector=NoFaces(), if_no_face="skip")
    assert found.group is None and "no face found" in found.problem and "left out" in found.problem
    assert found.preview.shape == (2, 3, 64, 64)


# ---- latent files: crop fields against each other and against f --------------------------------------------
def _latent_with_crop(path: Path, crop: dict, f_hw=(8, 8), batch=1) -> Path:
    from safetensors.torch import save_file

    tensors = {"wplus": torch.zeros(batch, 14, S), "f": torch.zeros(batch, 32, *f_hw)}
    save_file(tensors, str(path), metadata={"format": "styleganex-latent", "version": "2",
                                            "crop": json.dumps(crop), "meta": "{}"})
    return path


RECORD = {"frame_size": [64, 64], "scale": 1.0, "resized_size": [64, 64], "box": [0, 0, 64, 64]}


def test_a_crop_info_of_more_frames_than_given_writes_nothing(files):
    crop = {"version": 3, "records": [RECORD], "padding": [256] * 4, "mode": "each image", "frame_index": [0],
            "n_frames": 40}
    latent = _latent_with_crop(files.tmp / "forty.safetensors", crop)
    before = _snapshot(files.tmp)
    rc, _, err = _cli("edit", latent, "--model", files.model, "--direction", files.direction, "--frame", files.photo,
                      "--out", files.tmp / "out.png")
    line = _one_error_line(err)
    assert rc == 2 and "40 images" in line and "1 frame" in line
    assert _snapshot(files.tmp) == before


def test_a_canvas_that_does_not_fit_f_is_refused_when_read(tmp_path):
    from styleganex.base.errors import LatentFileError
    from styleganex.pipelines.latent_files import load_latent

    small = dict(RECORD, box=[0, 0, 64, 32])  # a 64x32 crop
    crop = {"version": 3, "records": [small], "padding": [256] * 4, "mode": "each image", "frame_index": [0],
            "n_frames": 1, "canvas": [32, 160]}  # a 160x32 canvas, f shows a 64x64 image
    with pytest.raises(LatentFileError, match="canvas is 160x32") as e:
        load_latent(_latent_with_crop(tmp_path / "canvas.safetensors", crop))
    assert "canvas.safetensors" in str(e.value)
    crop = {"version": 2, "records": [small], "padding": [256] * 4, "mode": "each image"}
    with pytest.raises(LatentFileError, match="crop 0 is 64x32"):
        load_latent(_latent_with_crop(tmp_path / "crop.safetensors", crop))
    ok = {"version": 2, "records": [RECORD], "padding": [256] * 4, "mode": "each image"}
    assert load_latent(_latent_with_crop(tmp_path / "ok.safetensors", ok, f_hw=(4, 4))).crop is not None  # resized


@pytest.mark.parametrize("layout", ["single record (invert before version 2)", "nodes' records list", "version 2"])
def test_every_crop_layout_is_checked(files, layout):
    bad = dict(RECORD, resized_size=[0, 0])
    crop = {"single record (invert before version 2)": bad, "nodes' records list": {"records": [bad], "padding": 256},
            "version 2": {"version": 2, "records": [bad]}}[layout]
    latent = _latent_with_crop(files.tmp / "old.safetensors", crop)
    before = _snapshot(files.tmp)
    rc, _, err = _cli("edit", latent, "--model", files.model, "--direction", files.direction, "--frame", files.photo,
                      "--out", files.tmp / "out.png")
    line = _one_error_line(err)
    assert rc == 2 and "old.safetensors" in line and "resized_size" in line
    assert _snapshot(files.tmp) == before


# ---- paste-back labels ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("case, words", [("MASK", "class id / 255"), ("NaN", "NaN"), ("empty", "shape [0, 0]"),
                                         ("4-D", "shape [1, 1, 64, 64]"), ("range", "values 40..40"),
                                         ("aspect", "do not show this crop")])
def test_paste_back_labels_are_checked(files, case, words):
    from styleganex.faces import PasteOptions
    from styleganex.faces.paste import paste_face

    labels = {"MASK": torch.full((64, 64), 1 / 255), "NaN": torch.full((64, 64), float("nan")),
              "empty": torch.zeros(0, 0), "4-D": torch.zeros(1, 1, 64, 64), "range": torch.full((64, 64), 40),
              "aspect": torch.ones(64, 8, dtype=torch.long)}[case]
    crop = files.latent.crop.with_frames(torch.rand(1, 3, 64, 64))
    frame_before = crop.frames.clone()
    output = torch.rand(1, 3, 64, 64)
    with pytest.raises(InputError, match="labels") as e:
        crop.composite(output, PasteOptions("face"), labels=[labels])
    assert words in str(e.value), str(e.value)
    with pytest.raises(InputError, match="labels"):
        paste_face(crop.frames[0], output[0], crop.records[0], PasteOptions("face"), labels=labels)
    assert torch.equal(crop.frames, frame_before)
    good = torch.zeros(64, 64, dtype=torch.long)
    good[16:48, 16:48] = 1  # skin
    pasted = crop.composite(output, PasteOptions("face"), labels=[good.float()])  # whole numbers as floats: fine
    assert float(pasted.masks.max()) > 0.5


# ---- command-line messages in words --------------------------------------------------------------------------
def test_a_missing_video_is_named_in_words(tmp_path):
    from styleganex.dev.testing import random_model, save_official_pt

    model = save_official_pt(random_model("toonify", size=256, seed=1), tmp_path / "toon.pt")
    rc, _, err = _cli("video", tmp_path / "missing.mp4", "--model", model, "--out", tmp_path / "out.mp4")
    line = _one_error_line(err)
    assert rc == 2 and "missing.mp4" in line and "not found" in line.lower() and "(2," not in line
    assert not (tmp_path / "out.mp4").exists()


def test_max_frames_zero_is_refused_as_the_option(tmp_path):
    rc, _, err = _cli("video", tmp_path / "v.mp4", "--model", "m.pt", "--out", tmp_path / "o.mp4", "--max-frames", "0")
    (line,) = [x for x in err.splitlines() if "error:" in x]
    assert rc == 2 and "--max-frames" in line and "0 is outside 1.." in line and "no frames" not in err


def test_a_centre_crop_of_a_strip_is_explained_without_eyes(files):
    from PIL import Image

    strip = files.tmp / "strip.png"
    Image.fromarray(np.zeros((1, 5000, 3), np.uint8)).save(strip)
    out = files.tmp / "out"
    rc, _, err = _cli("invert", strip, "--model", files.model, "--out", out, "--steps", "0", "--no-face")
    line = _one_error_line(err)
    assert rc == 2 and "5000x1" in line and "eyes" not in line
    assert not out.exists() or not any(out.iterdir())
