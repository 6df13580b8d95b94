"""The front doors of direction files, face selection, paste-back labels, latent fields, downloads and
messages, tried as a hostile or careless user would (issue 24): each through the door a user meets
(the library, the command line as a subprocess; the nodes in test_nodes.py), checking the error type,
that the message names the input, that nothing outside the output was written or changed, and that no
code in a file ran.

Models are small random ones (``styleganex.dev.testing.random_model``).
"""

from __future__ import annotations

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
    from dataclasses import replace

    want = decode_latent(files.latent.__class__ and _inv_of(files), replace(latent, wplus=wplus))[0]
    got = load_image(out)
    assert float((got - want).abs().max()) <= 1 / 255 + 1e-6


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
