"""Directions, style mixing, domain transfer (swap_generator) and the ``edit`` command."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from styleganex.dev.testing import random_model, save_official_pt, save_stylegan2_pt
from styleganex.faces import CropInfo, CropRecord
from styleganex.model.checkpoints import load_generator
from styleganex.pipelines.editing import (
    DirectionError,
    apply_direction,
    apply_edits,
    load_directions,
    parse_layers,
    style_mix,
)


@pytest.fixture(scope="module")
def model():
    return random_model("inversion", seed=3)


@pytest.fixture(scope="module")
def latent(model):
    g = torch.Generator().manual_seed(1)
    return model.encode(torch.rand(1, 3, 32, 32, generator=g) * 2 - 1)


def direction(model, rows=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (model.config.style_dim,) if rows is None else (rows, model.config.style_dim)
    return torch.randn(shape, generator=g)


def test_strength_zero_leaves_output_unchanged(model, latent):
    d = direction(model)
    edited = apply_direction(latent, d, 0.0)
    assert torch.equal(edited.wplus, latent.wplus)
    assert torch.equal(model.decode(edited), model.decode(latent))


@pytest.mark.parametrize("per_row", [False, True])
def test_strength_moves_only_chosen_rows_by_s_times_direction(model, latent, per_row):
    n = model.n_latent
    d = direction(model, n if per_row else None)
    s = 2.5
    edited = apply_direction(latent, d, s, layers="0-7")
    rows_d = d if per_row else d.expand(n, -1)
    torch.testing.assert_close(edited.wplus[:, :8] - latent.wplus[:, :8], (s * rows_d[:8])[None], rtol=0, atol=1e-5)
    assert torch.equal(edited.wplus[:, 8:], latent.wplus[:, 8:])
    assert edited.f is latent.f and not torch.equal(model.decode(edited), model.decode(latent))
    # the input latent is not modified
    assert not torch.equal(edited.wplus, latent.wplus)


def test_layers_and_edits(model, latent):
    n = model.n_latent
    assert parse_layers("0-2,5, 7", n) == [0, 1, 2, 5, 7]
    assert parse_layers([-1, 3, 3], n) == [3, n - 1]
    assert parse_layers(None, n) == list(range(n))
    for bad in ("3-1", "a-b", [n], "0-99", [], 1.5):
        with pytest.raises(DirectionError):
            parse_layers(bad, n)
    d1, d2 = direction(model, seed=1), direction(model, n, seed=2)
    both = apply_edits(latent, [(d1, 1.0, [0, 1]), (d2, -0.5)])
    step = apply_direction(apply_direction(latent, d1, 1.0, [0, 1]), d2, -0.5)
    torch.testing.assert_close(both.wplus, step.wplus, rtol=0, atol=1e-6)
    with pytest.raises(DirectionError):
        apply_edits(latent, [(d1,)])


def test_bad_directions_are_clear_errors(model, latent):
    s = model.config.style_dim
    with pytest.raises(DirectionError, match="style dimension"):
        apply_direction(latent, torch.zeros(s + 1), 1.0)
    with pytest.raises(DirectionError, match="another model"):
        apply_direction(latent, torch.zeros(model.n_latent - 1, s), 1.0)
    nan = torch.zeros(s)
    nan[3] = float("nan")
    with pytest.raises(DirectionError, match="NaN"):
        apply_direction(latent, nan, 1.0)
    with pytest.raises(DirectionError, match="strength"):
        apply_direction(latent, torch.zeros(s), float("inf"))
    with pytest.raises(DirectionError, match="out of range"):
        apply_direction(latent, torch.zeros(s), 1.0, layers=[model.n_latent])


def test_load_directions_formats(model, tmp_path):
    s, n = model.config.style_dim, model.n_latent
    a = np.random.default_rng(0).standard_normal((1, s)).astype(np.float32)
    np.save(tmp_path / "smile.npy", a)
    got = load_directions(tmp_path / "smile.npy")
    assert list(got) == ["smile"] and got["smile"].shape == (s,) and np.allclose(got["smile"].numpy(), a[0])
    np.savez(tmp_path / "many.npz", age=a, pose=np.zeros((n, s), np.float32))
    got = load_directions(tmp_path / "many.npz")
    assert sorted(got) == ["age", "pose"] and got["pose"].shape == (n, s)
    torch.save({"age": torch.ones(1, n, s), "hair": torch.zeros(s)}, tmp_path / "dirs.pt")
    got = load_directions(tmp_path / "dirs.pt")
    assert got["age"].shape == (n, s) and got["hair"].shape == (s,)
    save_file({"glasses": torch.ones(s)}, str(tmp_path / "d.safetensors"))
    assert load_directions(tmp_path / "d.safetensors")["glasses"].shape == (s,)
    # refusals (more in test_directions.py)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DirectionError, match="pickled"):
        load_directions(tmp_path / "obj.npy")
    np.save(tmp_path / "nan.npy", np.full((s,), np.nan, np.float32))
    with pytest.raises(DirectionError, match="NaN"):
        load_directions(tmp_path / "nan.npy")
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, s), np.float32))
    with pytest.raises(DirectionError, match="shape"):
        load_directions(tmp_path / "cube.npy")
    (tmp_path / "x.txt").write_text("0 1 2")
    with pytest.raises(DirectionError, match="not a direction file"):
        load_directions(tmp_path / "x.txt")
    with pytest.raises(FileNotFoundError):
        load_directions(tmp_path / "missing.npy")


def test_style_mix_touches_only_chosen_layers(model, latent):
    n = model.n_latent
    mixed = style_mix(model, latent, seed=5)
    assert torch.equal(mixed.wplus[:, :8], latent.wplus[:, :8])
    want = model.mixing_styles(1, 0.7, generator=torch.Generator().manual_seed(5))
    assert torch.equal(mixed.wplus[:, 8:], want[:, 8:])
    assert torch.equal(style_mix(model, latent, seed=5).wplus, mixed.wplus)
    assert not torch.equal(style_mix(model, latent, seed=6).wplus[:, 8:], mixed.wplus[:, 8:])
    other = model.encode(torch.zeros(1, 3, 32, 32))
    from_other = style_mix(model, latent, layers=[0, n - 1], source=other)
    assert torch.equal(from_other.wplus[:, [0, n - 1]], other.wplus[:, [0, n - 1]])
    assert torch.equal(from_other.wplus[:, 1:n - 1], latent.wplus[:, 1:n - 1])
    with pytest.raises(DirectionError, match="style source"):
        style_mix(model, latent, source=torch.zeros(1, n - 1, model.config.style_dim))


def test_swap_generator_decodes_same_latent_with_other_weights(model, latent, tmp_path):
    toon = random_model("inversion", seed=9)
    path = save_stylegan2_pt(toon, tmp_path / "toon_g.pt")
    before = model.decode(latent)
    swapped = model.swap_generator(load_generator(path)[0])
    assert swapped.encoder is model.encoder and swapped.decoder is not model.decoder
    # another decoder object with the same weights: kernels may differ in the last bits (float32, outputs ~1)
    torch.testing.assert_close(swapped.decode(latent), toon.decode(latent), rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError, match="load_generator"):
        model.swap_generator(path)  # a path is loaded by the caller (styleganex.load_generator)
    assert torch.equal(model.decode(latent), before)  # the original model is unchanged (the same call again)
    torch.testing.assert_close(model.swap_generator(toon).decode(latent), toon.decode(latent), rtol=1e-5, atol=1e-5)
    small = random_model("inversion", size=256, seed=0)
    with pytest.raises(ValueError, match="cannot decode"):
        model.swap_generator(small.decoder)


def test_cli_edit_with_paste_back(model, latent, tmp_path):
    from PIL import Image

    from styleganex.cli import main
    from styleganex.pipelines.latent_files import save_latent

    ckpt = save_official_pt(model, tmp_path / "tiny.pt")
    lat = apply_direction(latent, torch.zeros(model.config.style_dim), 0.0)
    lat.crop = CropInfo((CropRecord((40, 50), 1.0, (40, 50), (8, 4, 40, 36)),))
    lpath = save_latent(lat, tmp_path / "face.safetensors")
    np.save(tmp_path / "d.npy", np.ones(model.config.style_dim, np.float32))
    out = tmp_path / "edit.png"
    args = ["edit", str(lpath), "--model", str(ckpt), "--direction", str(tmp_path / "d.npy"),
            "--strength", "1.5", "--layers", "0-7", "--out", str(out)]
    assert main(args) == 0
    assert Image.open(out).size == (128, 128)
    frame = tmp_path / "frame.png"
    Image.fromarray(np.full((40, 50, 3), 128, np.uint8)).save(frame)
    assert main(args + ["--frame", str(frame), "--mix-seed", "2"]) == 0
    pasted = np.asarray(Image.open(out))
    assert pasted.shape == (40, 50, 3)
    assert (pasted[0, :] == 128).all() and (pasted[20, 20] != 128).any()  # outside kept, inside replaced
    assert main(args[:-2] + ["--layers", "0-99", "--out", str(out)]) == 2  # clear error, exit code 2
