"""Latents that do not fit: malformed at construction, and refused by decoding, editing and the latent
files when they come from another model (other w+ rows, skip features, noise maps).

Small random models (``styleganex.dev.testing.random_model``) stand in for the released weights.
"""


import pytest
import torch
from helpers import with_nan

from styleganex.dev.testing import random_model
from styleganex.model.latent import Latent
from styleganex.pipelines.editing import DirectionError, apply_direction, style_mix
from styleganex.pipelines.latent_files import LatentFileError, load_latent, save_latent


@pytest.fixture(scope="module")
def inv1024():
    return random_model("inversion", seed=17)  # 18 w+ rows where the 256 models have 14


# ---- latents -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fused(sr_small):
    g = torch.Generator().manual_seed(5)
    return sr_small.encode(torch.rand(1, 3, 32, 40, generator=g) * 2 - 1, skips=True)


def test_malformed_latents_are_refused_at_construction(fused):
    with pytest.raises(ValueError, match=r"wplus must be \[B, n_latent, style_dim\]"):
        Latent(fused.wplus[0], fused.f)
    with pytest.raises(ValueError, match=r"f must be \[B, C, h, w\]"):
        Latent(fused.wplus, fused.f[0])
    with pytest.raises(ValueError, match="batch mismatch"):
        Latent(fused.wplus.expand(2, -1, -1), fused.f)


def _skips(lat, fn):
    return Latent(lat.wplus, lat.f, skips=[fn(i, s) for i, s in enumerate(lat.skips)])


def test_decode_refuses_latents_that_do_not_fit(sr_small, inv1024, fused):
    m = sr_small
    nan = with_nan
    assert torch.isfinite(m.decode(fused)).all()  # the untouched latent decodes
    cases = {
        "other n_latent": (inv1024.encode(torch.zeros(1, 3, 32, 32)), "another size"),
        "other f channels": (Latent(fused.wplus, torch.zeros(1, 8, 4, 5)), "8 channels"),
        "empty f": (Latent(fused.wplus, fused.f[..., :0, :0]), "empty"),
        "NaN f": (Latent(fused.wplus, nan(fused.f)), "f contains NaN"),
        "skips: wrong channels": (_skips(fused, lambda i, s: s[:, :1]), "skip feature 0"),
        "skips: too few": (Latent(fused.wplus, fused.f, skips=fused.skips[:2]), "need 4"),
        "skips: another frame size": (_skips(fused, lambda i, s: s[..., :2, :2]), "skip feature 0.*another frame"),
        "skips: NaN": (_skips(fused, lambda i, s: nan(s) if i == 3 else s), "skip feature 3 contains NaN"),
        "noise: wrong count": (Latent(fused.wplus, fused.f, noise=[torch.zeros(1, 1, 4, 5)] * 3),
                               "13 noise maps, got 3"),
        "noise: NaN": (Latent(fused.wplus, fused.f, noise=[nan(torch.zeros(1, 1, 4, 5))] * 13),
                       "noise map 0 contains NaN"),
    }
    for latent, message in cases.values():
        with pytest.raises(ValueError, match=message):
            m.decode(latent, noise=None)
    with pytest.raises(ValueError, match="editing_w contains NaN"):
        m.decode(fused, editing_w=nan(torch.zeros(1, 14, 16)))
    with pytest.raises(ValueError, match=r"expected 13 noise maps, got 2"):
        m.decode(fused, noise=[torch.zeros(1, 1, 4, 5)] * 2)
    # skip features the caller leaves out (use_skips=False) are not checked: the result is the skip-free one
    wrong = _skips(fused, lambda i, s: s[:, :1])
    assert torch.equal(m.decode(wrong, use_skips=False), m.decode(Latent(fused.wplus, fused.f), use_skips=False))


def test_editing_refuses_latents_that_do_not_fit(sr_small, inv1024, fused):
    other = inv1024.encode(torch.zeros(1, 3, 32, 32))  # 18 rows where sr_small has 14
    with pytest.raises(DirectionError, match="it is for another model"):
        apply_direction(other, torch.zeros(sr_small.n_latent, 16), 1.0)
    with pytest.raises(DirectionError, match="latent w\\+ is \\(18, 16\\) but this model needs \\(14, 16\\)"):
        style_mix(sr_small, other)
    bad = Latent(with_nan(fused.wplus), fused.f)
    with pytest.raises(DirectionError, match="NaN"):
        apply_direction(bad, torch.zeros(16), 1.0)
    with pytest.raises(DirectionError, match="NaN"):
        style_mix(sr_small, bad)


def test_latent_files_that_do_not_fit_the_model(tmp_path, sr_small, fused):
    """Skip features from another model: refused when loading for this model (shape rules as decode)."""
    wrong = _skips(fused, lambda i, s: torch.zeros(1, s.shape[1] + 1, *s.shape[2:]))
    path = save_latent(wrong, tmp_path / "w.safetensors")
    assert load_latent(path).skips is not None  # without a model: read as it is
    with pytest.raises(LatentFileError, match="w.safetensors: latent skip feature 0"):
        load_latent(path, sr_small)
    good = load_latent(save_latent(fused, tmp_path / "g.safetensors"), sr_small)
    assert torch.equal(sr_small.decode(good), sr_small.decode(fused))
    with pytest.raises(LatentFileError, match="NaN"):
        save_latent(_skips(fused, lambda i, s: with_nan(s)), tmp_path / "n.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.safetensors", "w.safetensors"]
