"""Step II inversion, the LPIPS loss and the ``invert`` command, on small random models.

The photo is scikit-image's astronaut (face region, area-resized to 32x32: f is 4x4, the output
128x128 box-averaged back to 32x32); LPIPS uses a random VGG backbone (no weights file).
"""

import math
import os

import pytest
import torch
import torch.nn.functional as F

from styleganex.base.errors import Cancelled
from styleganex.dev.testing import random_model
from styleganex.pipelines.inversion import InversionResult, latent_std, noise_sizes, optimize
from styleganex.pipelines.lpips import VGG_FILE, Perceptual, find_vgg_weights, load_lpips


@pytest.fixture(scope="module")
def model():
    return random_model("inversion", seed=1)


@pytest.fixture(scope="module")
def lp():
    return load_lpips(random_backbone=True)


def face32(astronaut, size=(32, 32)):
    face = astronaut[None, :, 40:232, 140:332]
    return F.interpolate(face, size=size, mode="area") * 2 - 1


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_unchanged(model, before):
    after = model.state_dict()
    assert after.keys() == before.keys()
    for k, v in before.items():
        assert torch.equal(after[k], v), k
    assert all(not p.requires_grad and p.grad is None for p in model.parameters())


# ---- optimisation ----------------------------------------------------------------------------
def test_optimisation_reduces_lpips_on_astronaut(model, lp, astronaut):
    frame = face32(astronaut)
    before = snapshot(model)
    seen = []
    result = optimize(model, frame, steps=30, seed=0, lpips=lp, progress=lambda d, t, i: seen.append((d, t, i)))
    assert isinstance(result, InversionResult) and result.steps_run == 30 == len(result.history)
    assert [d for d, _, _ in seen] == list(range(1, 31)) and all(t == 30 for _, t, _ in seen)
    assert {"loss", "lpips", "lr", "noise_reg"} <= set(seen[-1][2])
    perceptual = Perceptual(lp, frame)
    with torch.no_grad():
        start = perceptual(F.avg_pool2d(model.decode(model.encode(frame)), 4)).item()
        end = perceptual(F.avg_pool2d(model.decode(result.latent, noise=None), 4)).item()
    # measured: LPIPS 0.197 -> 0.137 (x1.44) in 30 steps; total loss 1538 -> 38 (noise reg. dominates)
    assert start / end > 1.3, (start, end)
    assert result.history[-1] < result.history[0] / 10
    assert_unchanged(model, before)


def test_same_seed_gives_identical_result(model, lp, astronaut):
    frame = face32(astronaut)
    a = optimize(model, frame, steps=3, seed=7, lpips=lp)
    b = optimize(model, frame, steps=3, seed=7, lpips=lp)
    c = optimize(model, frame, steps=3, seed=8, lpips=lp)
    assert a.history == b.history
    pairs = [(a.latent.wplus, b.latent.wplus), (a.latent.f, b.latent.f)] + list(zip(a.latent.noise, b.latent.noise))
    for x, y in pairs:
        assert torch.equal(x, y)
    assert not torch.equal(a.latent.wplus, c.latent.wplus)


def test_cancel_stops_within_one_step_and_restores_model(model, lp, astronaut):
    frame = face32(astronaut)
    p = model.decoder.style[1].weight
    p.requires_grad_(True)
    try:
        before = snapshot(model)
        done = []
        with pytest.raises(Cancelled):
            optimize(model, frame, steps=50, seed=0, lpips=lp,
                     progress=lambda d, t, i: done.append(d), cancel=lambda: len(done) >= 2)
        assert done == [1, 2]
        assert p.requires_grad and p.grad is None
        assert all(not q.requires_grad for n, q in model.named_parameters() if q is not p)
        assert all(not q.requires_grad for q in lp.parameters())
    finally:
        p.requires_grad_(False)
    assert_unchanged(model, before)


def test_bad_options_raise(model, lp, astronaut):
    frame = face32(astronaut)
    for steps in (0, -3, 2.5):
        with pytest.raises(ValueError, match="steps"):
            optimize(model, frame, steps=steps, lpips=lp)
    with pytest.raises(ValueError, match="id_loss"):
        optimize(model, frame, steps=2, id_weight=1.0, lpips=lp)
    with pytest.raises(ValueError, match="lr"):
        optimize(model, frame, steps=2, lr=float("nan"), lpips=lp)
    with pytest.raises(ValueError, match="multiples of 8"):
        optimize(model, torch.zeros(1, 3, 30, 32), steps=2, lpips=lp)
    other = model.encode(face32(astronaut, (40, 32)))
    with pytest.raises(ValueError, match="does not fit"):
        optimize(model, frame, latent=other, steps=2, lpips=lp)


def test_batch_noise_sizes_losses_and_start_latent(model, lp, astronaut):
    """Non-square batch of 2: noise maps sized as the official code sizes them, extra losses
    reported, a given starting latent (with its noise maps) reused."""
    frames = torch.cat([face32(astronaut, (32, 40)), face32(astronaut, (32, 40)).flip(3)])
    calls = []

    def id_loss(out, target):
        calls.append(out.shape)
        return (out.mean(dim=(1, 2, 3)) - target.mean(dim=(1, 2, 3))).abs()

    first = optimize(model, frames, steps=2, seed=1, lpips=lp, mse_weight=1.0, id_weight=0.5,
                     id_loss=id_loss)
    lat = first.latent
    assert lat.wplus.shape == (2, model.n_latent, model.config.style_dim) and lat.f.shape[2:] == (4, 5)
    H, W = 32, 40  # official: max(H*32/256, H*r/256) for the 1024 model
    want = [(2, 1, max(H * 32 // 256, H * 2 ** ((i + 5) // 2) // 256),
             max(W * 32 // 256, W * 2 ** ((i + 5) // 2) // 256))
            for i in range(model.decoder.num_layers)]
    assert [tuple(n.shape) for n in lat.noise] == want
    assert noise_sizes(model, (4, 5)) == [w[2:] for w in want]
    for n in lat.noise:  # renormalised per frame
        for b in range(2):
            assert abs(n[b].mean().item()) < 1e-5 and abs(n[b].std().item() - 1) < 1e-4
    assert calls == [(2, 3, 32, 40)] * 2
    second = optimize(model, frames, latent=lat, steps=1, seed=1, lpips=lp)
    assert second.latent.noise[0].shape == lat.noise[0].shape
    image = model.decode(second.latent, noise=None)
    assert image.shape == (2, 3, 128, 160) and torch.isfinite(image).all()


def test_early_stop(model, lp, astronaut):
    frame = face32(astronaut)
    # no latent noise, a vanishing lr and no noise regularisation: the loss stops improving at once
    r = optimize(model, frame, steps=40, lr=1e-12, latent_noise=0.0, noise_reg_weight=0.0,
                 early_stop_patience=2, seed=0, lpips=lp)
    # (the first step renormalises the starting noise maps, which may still move the loss once)
    assert r.stopped_early and r.steps_run <= 4 and len(r.history) == r.steps_run
    best_before = min(r.history[:-2])
    assert all(v >= best_before * (1 - 1e-4) for v in r.history[-2:])
    with torch.inference_mode():  # as ComfyUI runs nodes: the optimisation still gets autograd
        frame_inf = face32(astronaut)
        r2 = optimize(model, frame_inf, steps=1, seed=0, lpips=lp)
    assert r2.steps_run == 1 and torch.isfinite(r2.latent.wplus).all()


def test_latent_std_matches_official_formula(model):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1000, model.config.style_dim, generator=torch.Generator().manual_seed(0))
    w = model.decoder.style(z)
    want = ((w - w.mean(0)).pow(2).sum() / 1000) ** 0.5
    assert math.isclose(latent_std(model, generator=g), want.item(), rel_tol=1e-6)


# ---- LPIPS -----------------------------------------------------------------------------------
def test_perceptual_with_cached_target_equals_lpips(lp):
    g = torch.Generator().manual_seed(0)
    x, y = (torch.rand(2, 3, 48, 40, generator=g) * 2 - 1 for _ in range(2))
    want = lp(x, y).view(-1)
    got = Perceptual(lp, y)(x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    xg = x.clone().requires_grad_(True)
    Perceptual(lp, y)(xg).sum().backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0
    assert all(p.grad is None for p in lp.parameters())


def test_missing_vgg_file_is_a_clear_error(tmp_path, monkeypatch, model, astronaut):
    monkeypatch.setenv("STYLEGANEX_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=VGG_FILE) as e:
        find_vgg_weights()
    assert str(tmp_path / "models") in str(e.value) and "download.pytorch.org" in str(e.value)
    with pytest.raises(FileNotFoundError, match=VGG_FILE):
        optimize(model, face32(astronaut), steps=1)


def test_vgg_weights_load_from_models_folder(vgg_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("STYLEGANEX_MODELS", str(vgg_dir))
    net = load_lpips()
    sd = torch.load(vgg_dir / VGG_FILE, weights_only=True)
    assert torch.equal(net.net.slice1[0].weight, sd["features.0.weight"])
    assert torch.equal(getattr(net.net.slice5, "28").bias, sd["features.28.bias"])
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, bad)
    with pytest.raises(ValueError, match="not torchvision's VGG16"):
        load_lpips(weights=bad)


# ---- CLI -------------------------------------------------------------------------------------
def test_cli_invert_writes_latent_png_and_crop(tmp_path, monkeypatch, vgg_dir, model, astronaut):
    from PIL import Image

    from styleganex.cli import main
    from styleganex.dev.testing import save_official_pt
    from styleganex.io.images import to_uint8_hwc
    from styleganex.pipelines.latent_files import load_latent

    monkeypatch.setenv("STYLEGANEX_MODELS", str(vgg_dir))
    ckpt = save_official_pt(model, tmp_path / "tiny.pt")
    photo = tmp_path / "astro.png"
    Image.fromarray(to_uint8_hwc(F.interpolate(astronaut[None], size=(40, 48), mode="area")[0])).save(photo)
    out = tmp_path / "out"
    rc = main(["invert", str(photo), "--model", str(ckpt), "--out", str(out), "--steps", "2",
               "--seed", "3", "--no-face"])
    assert rc == 0
    lat = load_latent(out / "astro_latent.safetensors", model)
    assert lat.crop.records[0].frame_size == (40, 48) and lat.noise is not None and lat.meta["inversion"]["steps"] == 2
    assert Image.open(out / "astro_inversion.png").size == (4 * 48, 4 * 40)
    assert (out / "astro_crop.json").is_file()
    assert main(["invert", str(photo), "--model", str(ckpt), "--out", str(out), "--steps", "-1"]) == 2
    assert not [p for p in os.listdir(out) if p.endswith(".partial")]


def test_bf16_autocast_stays_close_to_fp32(model, lp, astronaut):
    frame = face32(astronaut)
    ref = optimize(model, frame, steps=3, seed=0, lpips=lp)
    amp = optimize(model, frame, steps=3, seed=0, lpips=lp, autocast=True)
    assert amp.latent.wplus.dtype == torch.float32 and amp.latent.f.dtype == torch.float32
    # bf16 forward: same trajectory up to bf16 rounding of the losses and gradients
    assert abs(amp.history[-1] - ref.history[-1]) < 0.05 * abs(ref.history[-1])
    moved = (ref.latent.wplus - model.encode(frame).wplus).abs().max()
    assert (amp.latent.wplus - ref.latent.wplus).abs().max() < 0.5 * moved
