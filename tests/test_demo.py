"""`python -m styleganex demo`: the README's main job, on an official-format checkpoint."""

import torch
from PIL import Image

from styleganex.cli import main
from styleganex.dev.testing import random_model, save_official_pt


def test_demo_with_weights_in_models_folder(tmp_path, monkeypatch, capsys):
    models = tmp_path / "models"
    models.mkdir()
    save_official_pt(random_model("inversion", seed=9), models / "styleganex_inversion.pt")
    monkeypatch.setenv("STYLEGANEX_MODELS", str(models))
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out)]) == 0
    assert "styleganex_inversion: wrote" in capsys.readouterr().out
    crop = Image.open(out / "crop.png")
    decoded = Image.open(out / "decoded.png")
    pasted = Image.open(out / "pasted.png")
    assert decoded.size == (crop.size[0] * 4, crop.size[1] * 4)   # 1024 model: 4x the crop
    assert pasted.size == (512, 512) and Image.open(out / "aligned.png").size == (256, 256)
    assert not list(out.glob("*.partial"))


def test_demo_without_weights_names_the_missing_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STYLEGANEX_MODELS", str(tmp_path / "empty"))
    assert main(["demo", "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "styleganex_inversion.pt" in err and "huggingface.co/PKUWilliamYang/StyleGANEX" in err
    assert str(tmp_path / "empty") in err and "non-commercial" in err
    # the pasted photo keeps the original outside the face crop
    pasted = torch.from_numpy(__import__("numpy").array(Image.open(tmp_path / "o" / "pasted.png")))
    from skimage import data
    orig = torch.from_numpy(data.astronaut())
    assert (pasted[:, -40:].int() - orig[:, -40:].int()).abs().max() <= 1
