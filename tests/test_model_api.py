"""The library API: encode / decode shapes and the errors for bad input."""

import pytest
import torch

from styleganex.dev.testing import random_model
from styleganex.model.encoder import batch_statistics
from styleganex.model.latent import Latent


@pytest.fixture(scope="module")
def sr_model():
    return random_model("sr32", seed=5)


def test_encode_decode_shapes(tiny_inversion):
    m = tiny_inversion
    frame = torch.rand(2, 3, 64, 96) * 2 - 1
    aligned = torch.rand(2, 3, 256, 256) * 2 - 1
    lat = m.encode(frame, aligned)
    assert lat.wplus.shape == (2, 18, 16) and lat.f.shape == (2, 32, 8, 12) and lat.skips is None
    img = m.decode(lat)
    assert img.shape == (2, 3, 256, 384)
    # w+ comes from the aligned face, f from the frame
    only_frame = m.encode(frame)
    torch.testing.assert_close(only_frame.f, lat.f)
    assert not torch.allclose(only_frame.wplus, lat.wplus)


def test_encode_matches_official_forward(sr_model):
    """encode+decode equals the official pSp.forward (zero noise, skips) on the same inputs."""
    frame = torch.rand(1, 3, 64, 80) * 2 - 1
    aligned = torch.rand(1, 3, 64, 64) * 2 - 1
    lat = sr_model.encode(frame, aligned)
    assert lat.skips is not None and len(lat.skips) == 7
    ours = sr_model.decode(lat)
    with torch.no_grad():
        ref = sr_model(frame, aligned, resize=False, use_skip=True, zero_noise=True)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-4)


def test_batch_statistics_does_not_touch_the_model():
    m = random_model("sketch2face", seed=2)
    bn = m.encoder.input_label_layer.model[-2]
    before = bn.running_mean.clone()
    sketch = torch.rand(2, 1, 64, 64)
    a = m.encode(sketch)  # label models default to batch statistics, as released
    assert not m.training and torch.equal(bn.running_mean, before)
    with torch.no_grad():
        m.train()
        ref_codes, _ = m.encoder(sketch, return_feat=True)
        m.eval()
    torch.testing.assert_close(a.wplus - m.latent_avg, ref_codes, atol=1e-5, rtol=1e-4)
    b = m.encode(sketch, batch_stats=False)
    assert not torch.allclose(a.wplus, b.wplus)
    with batch_statistics():
        c = m.encode(sketch, batch_stats=None)
    torch.testing.assert_close(a.wplus, c.wplus)


@pytest.mark.parametrize("frame,msg", [
    (torch.zeros(1, 3, 60, 64), "multiples of 8"),
    (torch.zeros(1, 4, 64, 64), "3 channels"),
    (torch.zeros(3, 64, 64), r"\[B, 3, H, W\]"),
    (torch.full((1, 3, 64, 64), 2.0), r"values must lie in \[-1, 1\]"),
    (torch.full((1, 3, 64, 64), float("nan")), "NaN"),
    (torch.zeros(1, 3, 64, 64, dtype=torch.int64), "float"),
])
def test_bad_frames(tiny_inversion, frame, msg):
    with pytest.raises(ValueError, match=msg):
        tiny_inversion.encode(frame)


def test_batch_mismatch_and_wrong_model_kind(tiny_inversion):
    with pytest.raises(ValueError, match="batch mismatch"):
        tiny_inversion.encode(torch.zeros(2, 3, 64, 64), torch.zeros(1, 3, 256, 256))
    sketch_model = random_model("sketch2face", seed=2)
    with pytest.raises(ValueError, match="sketch"):
        sketch_model.encode(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match="no editing vector"):
        tiny_inversion.decode(tiny_inversion.encode(torch.zeros(1, 3, 64, 64)), editing_w=1.0)


def test_latent_from_another_model_is_refused(tiny_inversion):
    other = random_model("inversion", size=256, seed=4)
    lat = other.encode(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match="another size"):
        tiny_inversion.decode(lat)
    with pytest.raises(ValueError, match="NaN"):
        tiny_inversion.decode(Latent(torch.full((1, 18, 16), float("nan")), torch.zeros(1, 32, 8, 8)))


def test_noise_modes(tiny_inversion):
    m = tiny_inversion
    lat = m.encode(torch.rand(1, 3, 32, 32) * 2 - 1)
    zero, stored = m.decode(lat, noise="zero"), m.decode(lat, noise="stored")
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    r1, r2 = m.decode(lat, noise="random", generator=g1), m.decode(lat, noise="random", generator=g2)
    assert not torch.allclose(zero, stored) and not torch.allclose(zero, r1)
    assert torch.equal(r1, r2)
    with pytest.raises(ValueError, match="noise must be one of"):
        m.decode(lat, noise="loud")


def test_editing_w_scale_uses_the_checkpoint_vector():
    m = random_model("edit_age", seed=6)
    lat = m.encode(torch.rand(1, 3, 48, 48) * 2 - 1, torch.rand(1, 3, 64, 64) * 2 - 1)
    scaled = m.decode(lat, editing_w=-1.5)
    explicit = m.decode(lat, editing_w=m.editing_w[0:1] * -1.5)
    assert torch.equal(scaled, explicit)
    # a zero vector still drives the attention masks (as released), but adds nothing to w+
    assert (scaled - m.decode(lat, editing_w=0.0)).abs().max() > 1e-3
    with pytest.raises(ValueError, match="editing_w must be"):
        m.decode(lat, editing_w=torch.zeros(1, 5, 16))
