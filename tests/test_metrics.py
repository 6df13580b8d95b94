"""Image metrics (styleganex.pipelines.metrics) against independent computations (scikit-image's PSNR and
SSIM, numpy's MSE), the folder pairing, and ``python -m styleganex evaluate`` as a subprocess on generated
images (with and without the ArcFace weights)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from styleganex.base.errors import InputError
from styleganex.pipelines.metrics import (
    evaluate_pairs,
    identity_similarity,
    l2,
    lpips_distance,
    pair_folders,
    psnr,
    ssim,
)

ROOT = Path(__file__).resolve().parents[1]


def _pair(seed, shape=(2, 3, 40, 36)):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(shape, generator=g, dtype=torch.float64)
    b = (a + 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    return a, b


def _hwc(t):
    return t.permute(1, 2, 0).numpy()


def test_psnr_and_l2_against_skimage_and_numpy():
    a, b = _pair(0)
    got = psnr(a, b)
    for i in range(2):
        want = peak_signal_noise_ratio(_hwc(a[i]), _hwc(b[i]), data_range=1.0)
        assert float(got[i]) == pytest.approx(want, rel=1e-10)
        mse_pm1 = np.mean((_hwc(a[i]) * 2 - 1 - (_hwc(b[i]) * 2 - 1)) ** 2)
        assert float(l2(a, b)[i]) == pytest.approx(mse_pm1, rel=1e-10)
    assert float(psnr(a, a)[0]) == float("inf")


def test_ssim_against_skimage():
    a, b = _pair(1)
    got = ssim(a, b)
    for i in range(2):
        want = structural_similarity(_hwc(a[i]), _hwc(b[i]), channel_axis=-1, data_range=1.0,
                                     gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        assert float(got[i]) == pytest.approx(want, abs=1e-9)
    assert float(ssim(a, a)[0]) == pytest.approx(1.0, abs=1e-12)
    assert float(got.max()) < 0.99
    with pytest.raises(InputError, match="11 px"):
        ssim(a[:, :, :10], b[:, :, :10])


def test_lpips_and_identity_similarity():
    from styleganex.pipelines.lpips import load_lpips

    net = load_lpips(random_backbone=True)
    a, b = (t.float() for t in _pair(2, (2, 3, 64, 64)))
    d = lpips_distance(a, b, net)
    assert d.shape == (2,) and bool((d > 0).all())
    assert float(lpips_distance(a, a, net).abs().max()) < 1e-6
    torch.testing.assert_close(lpips_distance(b, a, net), d, rtol=1e-4, atol=1e-6)

    proj = torch.randn(3, 5, generator=torch.Generator().manual_seed(0))
    seen = []

    def embed(x):  # a stand-in face network: mean colour projected to 5-D
        seen.append(tuple(x.shape))
        return x.mean((2, 3)) @ proj

    sim = identity_similarity(a, b, embed)
    ea, eb = (a * 2 - 1).mean((2, 3)) @ proj, (b * 2 - 1).mean((2, 3)) @ proj
    want = (ea * eb).sum(1) / (ea.norm(dim=1) * eb.norm(dim=1))
    torch.testing.assert_close(sim, want, rtol=1e-4, atol=1e-5)
    assert seen[0] == (2, 3, 256, 256)  # the release's 256 px faces


def _write(path: Path, array: np.ndarray):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, quality=95) if path.suffix == ".jpg" else Image.fromarray(array).save(path)


def _images(tmp_path, n=3, size=256):
    rng = np.random.default_rng(0)
    results, targets = tmp_path / "results", tmp_path / "targets"
    names = [f"img{i}" if i % 2 == 0 else f"sub/img{i}" for i in range(n)]
    for i, name in enumerate(names):
        base = (rng.random((size // 8, size // 8, 3)) * 255).astype(np.uint8)
        target = np.asarray(Image.fromarray(base).resize((size, size), Image.BILINEAR))
        noisy = np.clip(target.astype(np.int16) + rng.integers(-20 * (i + 1), 20 * (i + 1), target.shape), 0, 255)
        _write(results / f"{name}.png", noisy.astype(np.uint8))
        _write(targets / f"{name}.jpg" if i == 0 else targets / f"{name}.png", target)
    return results, targets, names


def test_pair_folders(tmp_path):
    results, targets, names = _images(tmp_path, n=3, size=16)
    pairs = pair_folders(results, targets)
    assert [p[0] for p in pairs] == sorted(f"{n}.png" for n in names)
    assert all(p[2].with_suffix("").name == p[1].with_suffix("").name for p in pairs)
    assert pairs[0][2].suffix == ".jpg"  # img0.png <- img0.jpg
    (results / "extra.png").write_bytes((results / "img0.png").read_bytes())
    with pytest.raises(InputError, match="extra.png"):
        pair_folders(results, targets)
    (results / "extra.png").unlink()
    (targets / "img0.png").write_bytes((results / "img0.png").read_bytes())
    with pytest.raises(InputError, match="several targets"):
        pair_folders(results, targets)
    with pytest.raises(InputError, match="not a folder"):
        pair_folders(tmp_path / "none", targets)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no image"):
        pair_folders(tmp_path / "empty", targets)


def test_native_size_needs_equal_sizes(tmp_path):
    results, targets, _ = _images(tmp_path, n=1, size=32)
    Image.open(targets / "img0.jpg").resize((20, 20)).save(targets / "img0.jpg")
    pairs = pair_folders(results, targets)
    with pytest.raises(InputError, match="--size"):
        evaluate_pairs(pairs, size=None)
    assert evaluate_pairs(pairs, size=16).scores["psnr"][0] > 0


def _run(args, models: Path, tmp_path):
    env = dict(os.environ, STYLEGANEX_MODELS=str(models), TORCH_HOME=str(tmp_path / "torch_home"),
               OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "styleganex", "evaluate", *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)


def _load01(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0


def test_cli_json_against_skimage_and_with_identity(tmp_path):
    from styleganex.training.identity import IDENTITY_FILE, IRSEBackbone, load_identity_backbone

    results, targets, names = _images(tmp_path, n=3)
    models = tmp_path / "models"
    models.mkdir()
    out = _run(["--results", str(results), "--targets", str(targets), "--json", "--device", "cpu"], models, tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["pairs"] == 3 and report["size"] == 256
    assert set(report["means"]) == {"l2", "psnr", "ssim"}  # no VGG, no ArcFace weights here
    assert any("model_ir_se50.pth" in n for n in report["notes"]) and any("alexnet" in n for n in report["notes"])
    psnrs = []
    for name in names:
        target = targets / f"{name}.jpg" if name == "img0" else targets / f"{name}.png"
        a, b = _load01(results / f"{name}.png"), _load01(target)
        row = report["images"][f"{name}.png"]
        psnrs.append(peak_signal_noise_ratio(b, a, data_range=1.0))
        assert row["psnr"] == pytest.approx(psnrs[-1], rel=1e-5)
        assert row["ssim"] == pytest.approx(structural_similarity(
            a, b, channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False), abs=1e-5)
        assert row["l2"] == pytest.approx(np.mean((2 * a - 2 * b) ** 2), rel=1e-5)
    assert report["means"]["psnr"] == pytest.approx(np.mean(psnrs), rel=1e-5)
    assert psnrs[0] > psnrs[1] > psnrs[2]  # more noise, lower PSNR

    torch.manual_seed(0)
    net = IRSEBackbone([8, 8, 16, 24, 32], embedding=16, stem=8)  # pSp's key layout, reduced widths
    torch.save(net.state_dict(), models / IDENTITY_FILE)
    out = _run(["--results", str(results), "--targets", str(targets), "--json", "--no-lpips", "--device", "cpu"],
               models, tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert set(report["means"]) == {"l2", "psnr", "ssim", "id"} and report["notes"] == []
    loaded = load_identity_backbone(models / IDENTITY_FILE)
    a = torch.from_numpy(_load01(results / "img0.png")).permute(2, 0, 1)[None].float()
    b = torch.from_numpy(_load01(targets / "img0.jpg")).permute(2, 0, 1)[None].float()
    from styleganex.training.identity import IdentityLoss
    crit = IdentityLoss(loaded)
    want = float((crit.embed(a * 2 - 1) * crit.embed(b * 2 - 1)).sum())
    assert report["images"]["img0.png"]["id"] == pytest.approx(want, abs=1e-4)


def test_cli_table_and_errors(tmp_path, monkeypatch, capsys):
    from styleganex.cli import main

    results, targets, names = _images(tmp_path, n=2, size=64)
    models = tmp_path / "models"
    models.mkdir()
    out = _run(["--results", str(results), "--targets", str(targets), "--size", "0", "--no-identity",
                "--device", "cpu"], models, tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["image", "l2", "psnr", "ssim"]
    assert lines[1].split()[0] == "img0.png" and lines[3].split()[0] == "mean"
    assert "2 pairs compared at their own size" in out.stdout
    (results / "lonely.png").write_bytes((results / "img0.png").read_bytes())
    monkeypatch.setenv("STYLEGANEX_MODELS", str(models))
    assert main(["evaluate", "--results", str(results), "--targets", str(targets)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "lonely.png" in err[0]
    assert main(["evaluate", "--results", str(tmp_path / "nothing"), "--targets", str(targets)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_cli_lpips_alex_from_the_models_folder(tmp_path, monkeypatch, capsys):
    """With torchvision's AlexNet file in the models folder (random tensors of its shapes here) the table
    gets the release's LPIPS-AlexNet, equal to the core's LPIPS on the same images."""
    from torchvision.models import alexnet

    from styleganex.cli import main
    from styleganex.pipelines.lpips import ALEX_FILE, load_lpips

    results, targets, names = _images(tmp_path, n=2, size=64)
    models = tmp_path / "models"
    models.mkdir()
    g = torch.Generator().manual_seed(0)
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in alexnet().features.state_dict().items()}
    torch.save({f"features.{k}": torch.randn(s, generator=g) * 0.05 for k, s in shapes.items()}, models / ALEX_FILE)
    monkeypatch.setenv("STYLEGANEX_MODELS", str(models))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    assert main(["evaluate", "--results", str(results), "--targets", str(targets), "--no-identity", "--size", "0",
                 "--device", "cpu", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["means"]) == {"l2", "lpips", "psnr", "ssim"} and report["notes"] == []
    net = load_lpips(weights=models / ALEX_FILE, net="alex")
    a = torch.from_numpy(_load01(results / "img0.png")).permute(2, 0, 1)[None].float()
    b = torch.from_numpy(_load01(targets / "img0.jpg")).permute(2, 0, 1)[None].float()
    want = float(net(a * 2 - 1, b * 2 - 1))
    assert report["images"]["img0.png"]["lpips"] == pytest.approx(want, rel=1e-4) and want > 0
