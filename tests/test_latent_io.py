"""Saving / loading latents: round trip, official .pt output, and clear errors for bad files."""

import os

import pytest
import torch
from safetensors.torch import save_file

from styleganex.dev.testing import random_model
from styleganex.model.latent import Latent
from styleganex.pipelines.latent_files import (
    LatentFileError,
    crop_info_from_dict,
    load_latent,
    load_official_inversion,
    save_latent,
)


@pytest.fixture(scope="module")
def model():
    return random_model("inversion", seed=2)


@pytest.fixture()
def latent(model):
    g = torch.Generator().manual_seed(0)
    frame = torch.rand(1, 3, 32, 40, generator=g) * 2 - 1
    lat = model.encode(frame)
    from styleganex.pipelines.inversion import noise_sizes
    lat.noise = [torch.randn(1, 1, h, w, generator=g) for h, w in noise_sizes(model, lat.f.shape[2:])]
    # the single-record layout `invert` wrote before version 2 still reads
    lat.crop = crop_info_from_dict({"frame_size": [300, 400], "scale": 0.5, "resized_size": [150, 200],
                                   "box": [8, 16, 48, 48]})
    lat.meta = {"inversion": {"steps": 3, "seed": 1}}
    return lat


def test_round_trip_decodes_to_the_same_image(model, latent, tmp_path):
    path = save_latent(latent, tmp_path / "sub" / "face.safetensors")
    assert os.listdir(tmp_path / "sub") == ["face.safetensors"]  # temp file renamed, none left
    back = load_latent(path, model)
    assert torch.equal(back.wplus, latent.wplus) and torch.equal(back.f, latent.f)
    assert len(back.noise) == len(latent.noise) and all(torch.equal(a, b) for a, b in zip(back.noise, latent.noise))
    assert back.crop == latent.crop and back.meta == latent.meta and back.skips is None
    assert torch.equal(model.decode(back, noise=None), model.decode(latent, noise=None))
    # overwrite in place, without noise maps
    save_latent(Latent(latent.wplus, latent.f), path)
    assert load_latent(path).noise is None and load_latent(path).crop is None


def test_skips_are_saved(latent, tmp_path):
    latent.skips = [torch.randn(1, 4, 4, 5), torch.randn(1, 2, 8, 10)]
    back = load_latent(save_latent(latent, tmp_path / "s.safetensors"))
    assert [s.shape for s in back.skips] == [s.shape for s in latent.skips]
    assert all(torch.equal(a, b) for a, b in zip(back.skips, latent.skips))


def test_latent_of_another_model_is_refused(model, latent, tmp_path):
    small = random_model("inversion", size=256, seed=0)  # n_latent 14
    path = save_latent(latent, tmp_path / "a.safetensors")
    with pytest.raises(LatentFileError, match="another size"):
        load_latent(path, small)
    wide = Latent(latent.wplus, torch.zeros(1, 7, 4, 5))
    path = save_latent(wide, tmp_path / "b.safetensors")
    with pytest.raises(LatentFileError, match="channels"):
        load_latent(path, model)
    few = Latent(latent.wplus, latent.f, noise=latent.noise[:3])
    path = save_latent(few, tmp_path / "c.safetensors")
    with pytest.raises(LatentFileError, match="noise maps"):
        load_latent(path, model)


def test_bad_values_and_files(model, latent, tmp_path):
    bad = Latent(latent.wplus.clone(), latent.f)
    bad.wplus[0, 3, 5] = float("nan")
    with pytest.raises(LatentFileError, match="NaN"):
        save_latent(bad, tmp_path / "nan.safetensors")
    assert not list(tmp_path.iterdir())
    save_file({"wplus": bad.wplus, "f": latent.f}, str(tmp_path / "nan.safetensors"),
              metadata={"format": "styleganex-latent"})
    with pytest.raises(LatentFileError, match="wplus contains NaN"):
        load_latent(tmp_path / "nan.safetensors")
    save_file({"wplus": torch.zeros(2, 18, 16, 1), "f": latent.f}, str(tmp_path / "shape.safetensors"))
    with pytest.raises(LatentFileError, match=r"wplus must be \[B, n_latent, style_dim\]"):
        load_latent(tmp_path / "shape.safetensors")
    (tmp_path / "text.safetensors").write_text("hello, not a latent")
    with pytest.raises(LatentFileError, match="not a latent"):
        load_latent(tmp_path / "text.safetensors")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(LatentFileError, match="empty"):
        load_latent(tmp_path / "empty.pt")
    from styleganex.model.checkpoints import save_safetensors
    save_safetensors(model, tmp_path / "model.safetensors")
    with pytest.raises(LatentFileError, match="model checkpoint"):
        load_latent(tmp_path / "model.safetensors")
    with pytest.raises(FileNotFoundError):
        load_latent(tmp_path / "missing.safetensors")


def test_official_inversion_pt(model, latent, tmp_path):
    rgb = torch.randn(1, 3, 4, 5)
    torch.save({"wplus": latent.wplus, "f": [latent.f, rgb]}, tmp_path / "x_inversion.pt")
    lat = load_official_inversion(tmp_path / "x_inversion.pt")
    assert torch.equal(lat.wplus, latent.wplus) and torch.equal(lat.f, latent.f) and lat.noise is None
    assert torch.equal(load_latent(tmp_path / "x_inversion.pt", model).f, latent.f)
    torch.save({"wplus": latent.wplus[0], "f": latent.f}, tmp_path / "plain.pt")  # f as a tensor, w+ 2-D
    assert load_official_inversion(tmp_path / "plain.pt").wplus.shape == latent.wplus.shape
    torch.save({"wplus": latent.wplus}, tmp_path / "nof.pt")
    with pytest.raises(LatentFileError, match="'wplus' and 'f'"):
        load_official_inversion(tmp_path / "nof.pt")
    torch.save({"state_dict": {}, "opts": {}}, tmp_path / "ckpt.pt")
    with pytest.raises(LatentFileError, match="model checkpoint"):
        load_official_inversion(tmp_path / "ckpt.pt")
    torch.save({"wplus": latent.wplus, "f": [latent.f], "extra": Latent}, tmp_path / "pickled.pt")
    with pytest.raises(LatentFileError, match="refused"):
        load_official_inversion(tmp_path / "pickled.pt")
    torch.save({"wplus": latent.wplus, "f": torch.full((1, 32, 4, 5), float("inf"))}, tmp_path / "inf.pt")
    with pytest.raises(LatentFileError, match="f contains NaN or infinite"):
        load_official_inversion(tmp_path / "inf.pt")
