"""Face super-resolution, sketch-to-face and mask-to-face pipelines (styleganex.pipelines.translation) and
their CLI commands (styleganex.commands.translate).

The parity cases of the official code (psp_sr256_use_skip, psp_sketch256/mask256_train_mode, the
SR bicubic degradation) run through the pipelines' own steps (``_sr_render``,
``_translate_render``, ``StyleGANEX.styles_from_z``, ``sr_lowres``) within each case's tolerance; everything
else uses small random models.
"""

import argparse
import re

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from styleganex.dev.testing import random_model, save_official_pt
from styleganex.dev.testing import synthetic_landmarks as landmarks
from styleganex.pipelines import translation as T


@pytest.fixture(scope="module")
def fx(parity_dir):
    from styleganex.dev.parity import Fixtures
    return Fixtures(parity_dir)


def _case(fx, name):
    case = next(c for c in fx.cases if c["name"] == name)
    return case, load_file(str(fx.root / case["file"])), fx.model(case["variant"])


def _assert_close(ours, ref, case):
    tol = case["tolerance"]
    atol, rtol = float(tol["atol"]), float(tol["rtol"])
    assert ours.shape == ref.shape
    err = (ours.float() - ref.float()).abs()
    assert bool((err <= atol + rtol * ref.float().abs()).all()), f"max err {float(err.max()):.3g} > atol {atol:.3g}"




class NoFaces:
    def detect(self, image):
        return []


@pytest.fixture(scope="module")
def sr():
    return random_model("sr", seed=2)


@pytest.fixture(scope="module")
def sr32():
    return random_model("sr32", seed=3)


@pytest.fixture(scope="module")
def s2f():
    return random_model("sketch2face", size=256, seed=4)


@pytest.fixture(scope="module")
def m2f():
    return random_model("mask2face", size=256, seed=5)


# ---- parity through the pipelines' steps -----------------------------------------------------
def test_parity_sr_step(fx):
    case, t, model = _case(fx, "psp_sr256_use_skip")
    assert T.sr_factors(model)  # the fixture's model is recognised as a super-resolution model
    args = case["call"]["args"]
    noise = "zero" if args["zero_noise"] else ("random" if args["randomize_noise"] else "stored")
    assert noise != "random"
    _assert_close(T._sr_render(model, t["in.x1"], t["in.x2"], noise), t["out.image"], case)


@pytest.mark.parametrize("name", ["psp_sketch256_train_mode", "psp_mask256_train_mode"])
def test_parity_sketch_mask_step(fx, name):
    case, t, model = _case(fx, name)
    args = case["call"]["args"]
    assert str(case["call"]["mode"]).startswith("train")
    noise = "zero" if args["zero_noise"] else "stored"
    bn = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    ours = T._translate_render(model, t["in.x1"], t["in.inject_latent"], args["latent_mask"], noise)
    _assert_close(ours, t["out.image"], case)
    # the injected styles as the pipeline makes them from z
    _assert_close(model.styles_from_z(t["in.inject_z"]), t["in.inject_latent"], case)
    # batch statistics without touching the model
    assert not model.training
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in bn.items())


def test_degradation_matches_fixture(fx):
    case = next(c for c in fx.cases if any(k.startswith("out.bicubic_f") for k in c["tensors"]))
    t = load_file(str(fx.root / case["file"]))
    factors = [int(m.group(1)) for k in t for m in [re.fullmatch(r"out\.bicubic_f(\d+)", k)] if m]
    assert factors
    for k in factors:
        ref = t[f"out.bicubic_f{k}"]
        # the release clips the downsampled image to [0, 1] (ToPILImage) before using it
        _assert_close(T.sr_lowres(t["in.img01"], k, quantize=False), ref.clamp(0, 1), case)
        q = T.sr_lowres(t["in.img01"], k, quantize=True)  # + truncation to 8 bits, as ToPILImage
        assert torch.equal(q * 255, (q * 255).round())
        assert float((ref.clamp(0, 1) - q).min()) >= -1e-5 and float((ref.clamp(0, 1) - q).max()) < 1 / 255 + 1e-5


def test_pil_bicubic_resize_matches_pillow():
    g = torch.Generator().manual_seed(0)
    for h, w, th, tw in [(11, 9, 88, 72), (16, 20, 64, 80), (7, 13, 21, 52)]:
        a = (torch.rand(3, h, w, generator=g) * 255).round().to(torch.uint8)
        ref = np.asarray(Image.fromarray(a.permute(1, 2, 0).numpy()).resize((tw, th), Image.BICUBIC))
        ref = torch.from_numpy(ref.copy()).permute(2, 0, 1).float()
        ours = T.pil_bicubic_resize(a[None].float() / 255, (th, tw))[0] * 255
        diff = (ours - ref).abs()
        assert float(diff.max()) <= 1.0  # PIL's fixed-point rounding
        assert float((diff > 0).float().mean()) < 0.01


# ---- super-resolution --------------------------------------------------------------------------
def test_sr_factor_rules(sr, sr32, s2f):
    assert T.sr_factors(sr) == (4, 48) and T.sr_factors(sr32) == (32, 32)
    low, al = torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 64, 64)
    for model, bad, msg in [(sr, 3, "4 to 48"), (sr, 49, "4 to 48"), (sr32, 16, "only 32"), (sr, 2.5, "whole")]:
        with pytest.raises(ValueError, match=msg):
            T.super_resolve(model, low, bad, aligned01=al)
    with pytest.raises(ValueError, match="sr.pt or styleganex_sr32.pt"):
        T.super_resolve(s2f, low, 16, aligned01=al)
    custom = random_model("sr", seed=2)
    custom.opts["resize_factors"] = "4"
    assert T.sr_factors(custom) == (16, 16)


def test_super_resolve_sizes_padding_and_range(sr):
    g = torch.Generator().manual_seed(1)
    low = torch.rand(2, 3, 6, 5, generator=g)  # in 0..1; upsampled 24x20: padded to 24x24 and back
    al = torch.rand(2, 3, 64, 64, generator=g)
    y = T.super_resolve(sr, low, 16, aligned01=al, noise="zero", crop=False)  # face crops already: no re-crop
    assert y.shape == (2, 3, 96, 80)
    assert float(y.min()) >= 0 and float(y.max()) <= 1
    # the padding is undone exactly: the same result as the render of the padded input, cropped
    up = T.pil_bicubic_resize(low, (24, 20))
    padded = torch.nn.functional.pad(up * 2 - 1, (2, 2, 0, 0), mode="replicate")
    ref = (T._sr_render(sr, padded, al * 2 - 1, "zero").clamp(-1, 1)[..., 8:88] + 1) / 2
    assert torch.allclose(y, ref, atol=1e-5)
    # per-image results do not depend on the batch; the default noise is seeded
    one = T.super_resolve(sr, low[1:], 16, aligned01=al[1:], noise="zero", crop=False)
    assert torch.allclose(one, y[1:], atol=1e-5)
    assert torch.equal(T.super_resolve(sr, low, 16, aligned01=al, crop=False),
                       T.super_resolve(sr, low, 16, aligned01=al, crop=False))
    with pytest.raises(ValueError, match="range|0, 1|0..1"):  # the model's -1..1 is not what pipelines take
        T.super_resolve(sr, low * 2 - 1, 16, aligned01=al, crop=False)


def test_super_resolve_degrade_path(sr32):
    g = torch.Generator().manual_seed(2)
    hr = torch.rand(1, 3, 64, 48, generator=g)
    al = torch.rand(1, 3, 64, 64, generator=g)
    y = T.super_resolve(sr32, hr, degrade_factor=8, aligned01=al, noise="zero", crop=False)
    assert y.shape == (1, 3, 256, 192)  # 4x the high-resolution face, as the release
    low = T.sr_lowres(hr, 8)
    assert low.shape[-2:] == (8, 6)
    x1 = T.pil_bicubic_resize(low, (64, 48)) * 2 - 1
    assert torch.allclose(y, (T._sr_render(sr32, x1, al * 2 - 1, "zero").clamp(-1, 1) + 1) / 2, atol=1e-5)
    with pytest.raises(ValueError, match="only 32"):
        T.super_resolve(sr32, hr, degrade_factor=4, aligned01=al, crop=False)


def test_super_resolve_aligned_face_from_landmarks(sr):
    low = torch.rand(1, 3, 16, 16)
    face = landmarks(8, 6, 6)  # in low-resolution pixels; the upsampled image is 64x64
    y = T.super_resolve(sr, low, 16, face=face, noise="zero", crop=False)
    assert y.shape == (1, 3, 256, 256) and torch.isfinite(y).all()
    from styleganex.faces import NoFaceError
    with pytest.raises(NoFaceError, match="no face"):
        T.super_resolve(sr, low, 16, detector=NoFaces(), crop=False)
    with pytest.raises(NoFaceError, match="no face"):  # the release's geometry needs the face to crop
        T.super_resolve(sr, low, 16, detector=NoFaces())


# ---- sketch / mask to face ---------------------------------------------------------------------
def test_sketch_multimodal_seeds(s2f):
    g = torch.Generator().manual_seed(3)
    sk = torch.rand(2, 1, 30, 36, generator=g)  # padded to 32x40 and cropped back
    a = T.sketch_to_face(s2f, sk, number=3, seed=1)
    assert a.shape == (6, 3, 30, 36) and float(a.min()) >= 0 and float(a.max()) <= 1
    assert torch.equal(a, T.sketch_to_face(s2f, sk, number=3, seed=1))  # same seed: same faces
    b = T.sketch_to_face(s2f, sk, number=3, seed=2)
    assert float((a - b).abs().max()) > 1e-2  # another seed: other faces
    assert float((a[0] - a[1]).abs().max()) > 1e-2  # samples of one call differ
    # input-major order, and each input's BatchNorm statistics are its own (as one-by-one)
    z = T.sketch_to_face(s2f, sk, number=2, seed=5, noise="zero")
    z1 = T.sketch_to_face(s2f, sk[1:], number=2, seed=5, noise="zero")
    assert torch.allclose(z[2:], z1, atol=1e-5)
    assert not torch.allclose(z[:2], z1, atol=1e-3)


def test_multimodal_calls_are_independent(m2f):
    labels = torch.randint(0, 19, (1, 32, 40), generator=torch.Generator().manual_seed(4))
    bn = {k: v.clone() for k, v in m2f.state_dict().items() if "running" in k or "num_batches" in k}
    rng = torch.get_rng_state()
    a = T.mask_to_face(m2f, labels, number=2, seed=7)
    b = T.mask_to_face(m2f, labels, number=2, seed=7)
    assert torch.equal(a, b)
    assert torch.equal(rng, torch.get_rng_state())  # the global RNG is not used
    assert not m2f.training
    assert all(torch.equal(v, m2f.state_dict()[k]) for k, v in bn.items())
    # batch statistics are really used: eval-mode BatchNorm gives another picture
    onehot = torch.nn.functional.one_hot(labels, 19).permute(0, 3, 1, 2).float()
    inj = m2f.styles_from_z(torch.randn(1, 16, generator=torch.Generator().manual_seed(0)))
    rows = T.latent_mask_rows(m2f)
    assert rows == list(range(8, m2f.n_latent))
    train = T._translate_render(m2f, onehot, inj, rows, "zero")
    lat = m2f.encode(onehot, batch_stats=False)
    from styleganex.model.latent import Latent
    evl = m2f.decode(Latent(T._inject(lat.wplus, inj, rows), lat.f, lat.skips), noise="zero")
    assert float((train - evl).abs().max()) > 1e-2


def test_mask_inputs_and_errors(m2f, s2f):
    labels = torch.randint(0, 19, (1, 32, 40), generator=torch.Generator().manual_seed(6))
    onehot = torch.nn.functional.one_hot(labels, 19).permute(0, 3, 1, 2).float()
    a = T.mask_to_face(m2f, labels, seed=3)
    assert a.shape == (1, 3, 32, 40)
    assert torch.allclose(a, T.mask_to_face(m2f, onehot, seed=3), atol=1e-5)
    assert torch.allclose(a, T.mask_to_face(m2f, labels[:, None], seed=3), atol=1e-5)
    with pytest.raises(ValueError, match="< 19|0..18"):
        T.mask_to_face(m2f, torch.full((1, 32, 32), 19))
    with pytest.raises(ValueError, match="RGB image"):
        T.mask_to_face(m2f, torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="needs styleganex_mask2face.pt"):
        T.mask_to_face(s2f, labels)
    with pytest.raises(ValueError, match="number"):
        T.mask_to_face(m2f, labels, number=0)


def test_sketch_errors(s2f, m2f, sr):
    with pytest.raises(ValueError, match="RGB image"):
        T.sketch_to_face(s2f, torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"\[0, 1\]|0, 1"):
        T.sketch_to_face(s2f, torch.rand(1, 1, 32, 32) * 2 - 1)
    with pytest.raises(ValueError, match="unsqueeze"):
        T.sketch_to_face(s2f, torch.rand(1, 32, 32))
    for model in (m2f, sr):
        with pytest.raises(ValueError, match="needs styleganex_sketch2face.pt"):
            T.sketch_to_face(model, torch.rand(1, 1, 32, 32))


def test_cancel_and_progress(s2f):
    from styleganex.base.errors import Cancelled
    seen = []
    T.sketch_to_face(s2f, torch.rand(1, 1, 16, 32), number=5, progress=lambda d, t, i: seen.append((d, t)))
    assert seen[-1] == (5, 5)
    with pytest.raises(Cancelled):
        T.sketch_to_face(s2f, torch.rand(1, 1, 16, 32), number=5, cancel=lambda: True)
    with pytest.raises(ValueError, match="too small"):
        T.sketch_to_face(s2f, torch.rand(1, 1, 16, 16))


# ---- CLI -----------------------------------------------------------------------------------------
def _cli(argv):
    from styleganex.commands import translate
    p = argparse.ArgumentParser()
    translate.register(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(argv)
    return args.func(args)


def _save_png(path, array):
    Image.fromarray(array).save(path)
    return str(path)


@pytest.fixture(scope="module")
def model_files(tmp_path_factory, sr, s2f, m2f):
    d = tmp_path_factory.mktemp("models")
    return {name: str(save_official_pt(m, d / f"styleganex_{name}.pt"))
            for name, m in (("sr", sr), ("sketch2face", s2f), ("mask2face", m2f))}


def test_cli_sketch_and_mask(tmp_path, model_files, monkeypatch):
    rng = np.random.default_rng(0)
    sketch = _save_png(tmp_path / "s.png", (rng.random((24, 32)) * 255).astype(np.uint8))
    assert _cli(["sketch2face", sketch, "--model", model_files["sketch2face"], "--number", "2",
                 "--out", str(tmp_path / "out"), "--device", "cpu"]) == 0
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["s_0.png", "s_1.png"]
    assert Image.open(tmp_path / "out" / "s_0.png").size == (32, 24)

    mask = _save_png(tmp_path / "m.png", rng.integers(0, 19, (24, 32)).astype(np.uint8))
    assert _cli(["mask2face", mask, "--model", model_files["mask2face"], "--number", "1",
                 "--out", str(tmp_path / "mout"), "--device", "cpu"]) == 0
    assert [p.name for p in (tmp_path / "mout").iterdir()] == ["m_0.png"]

    # a failure while writing the second image leaves no image at all
    real_save = Image.Image.save
    calls = []

    def failing_save(self, fp, *a, **k):
        calls.append(fp)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_save(self, fp, *a, **k)
    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        _cli(["sketch2face", sketch, "--model", model_files["sketch2face"], "--number", "3",
              "--out", str(tmp_path / "fail"), "--device", "cpu"])
    assert not (tmp_path / "fail").exists() or list((tmp_path / "fail").iterdir()) == []


def test_cli_sr_and_errors(tmp_path, model_files, monkeypatch):
    import styleganex.faces.detect as detect

    class OneFace:
        def detect(self, image):
            from styleganex.faces import Face
            h, w = image.shape[-2:]
            return [Face.from_landmarks(landmarks(w / 2, h / 3, w / 2))]
    monkeypatch.setattr(detect, "default_detector", lambda: OneFace())
    rng = np.random.default_rng(1)
    low = _save_png(tmp_path / "low.png", (rng.random((9, 10, 3)) * 255).astype(np.uint8))
    out = tmp_path / "hi.png"
    assert _cli(["sr", low, "--model", model_files["sr"], "--factor", "16", "--out", str(out), "--device", "cpu"]) == 0
    # the release's geometry (--use_raw_data): upsampled 4x, cropped with the eyes 64 px apart; 4x that crop
    from styleganex.io.images import load_image
    crop = T.sr_inputs(load_image(low), 16).record.crop_size
    assert Image.open(out).size == (4 * crop[1], 4 * crop[0]) != (160, 144)
    # a factor the model refuses: clear error, nothing written
    bad = tmp_path / "bad.png"
    with pytest.raises(ValueError, match="4 to 48"):
        _cli(["sr", low, "--model", model_files["sr"], "--factor", "64", "--out", str(bad), "--device", "cpu"])
    with pytest.raises(ValueError, match="sr.pt or styleganex_sr32.pt"):
        _cli(["sr", low, "--model", model_files["sketch2face"], "--out", str(bad), "--device", "cpu"])
    monkeypatch.setattr(detect, "default_detector", lambda: NoFaces())
    with pytest.raises(ValueError, match="no face"):
        _cli(["sr", low, "--model", model_files["sr"], "--factor", "16", "--out", str(bad), "--device", "cpu"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hi.png", "low.png"]
    # through the real entry point: one clear line, exit status 2
    from styleganex.cli import main
    assert main(["sr", low, "--model", str(tmp_path / "missing.pt"), "--out", str(bad)]) == 2
