"""Checkpoint contents a loader must refuse or convert: unusable dtypes or values in a safetensors file,
its precision, a bad editing vector in an official .pt, a bare StyleGAN2 generator where a model is
needed, and a model of the wrong kind for a pipeline.

Small random models (``styleganex.dev.testing.random_model``) stand in for the released weights.
Pickles, truncated files and missing keys are tested in test_checkpoints.
"""


import pytest
import torch
from helpers import with_nan
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from styleganex import CheckpointError, load_generator, load_model, save_safetensors
from styleganex.dev.testing import random_model, save_official_pt
from styleganex.pipelines.inversion import optimize
from styleganex.pipelines.translation import mask_to_face, sketch_to_face, super_resolve
from styleganex.pipelines.video import process_video


# ---- checkpoints -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def st_file(tmp_path_factory, sr_small):
    """A valid .safetensors of a fusion model, its tensors and its metadata."""
    path = tmp_path_factory.mktemp("st") / "m.safetensors"
    save_safetensors(sr_small, path)
    with safe_open(str(path), "pt") as fh:
        meta = fh.metadata()
    return path, load_file(str(path)), meta


def _variant(tmp_path, st_file, change):
    _, tensors, meta = st_file
    t = dict(tensors)
    change(t)
    path = tmp_path / "variant.safetensors"
    save_file(t, str(path), metadata=meta)
    return path


def _set(key, fn):
    return lambda t: t.__setitem__(key, fn(t[key]))


NBT = "encoder.input_layer.1.num_batches_tracked"


@pytest.mark.parametrize("name, change, error", [
    ("int32 weights", _set("decoder.style.1.weight", lambda x: (x * 100).to(torch.int32)), "dtype torch.int32"),
    ("bool weights", _set("decoder.style.1.weight", lambda x: x > 0), "dtype torch.bool"),
    ("NaN in a weight", _set("decoder.convs.0.conv.weight", with_nan), "NaN or infinite"),
    ("inf in latent_avg", _set("latent_avg", lambda x: x.clone().fill_(float("inf"))), "NaN or infinite"),
    ("fractional counter", _set(NBT, lambda x: torch.tensor(0.5)), "whole number"),
    ("int32 encoder weights", lambda t: t.update({k: v.to(torch.int32) for k, v in t.items()
                                                if k.startswith("encoder.") and v.is_floating_point()}), "dtype"),
])
def test_safetensors_with_unusable_dtypes_or_values_is_refused(tmp_path, st_file, name, change, error):
    with pytest.raises(CheckpointError, match=error) as e:
        load_model(_variant(tmp_path, st_file, change))
    assert "Nothing was loaded" in str(e.value)


def test_safetensors_precision_is_converted_as_documented(tmp_path, st_file, sr_small):
    """float16 / float64 weights and a float or int32 BatchNorm counter load; the model has the
    requested dtype and every tensor is the file's value (nothing left at its initial value)."""
    def halve(t):
        t.update({k: v.half() for k, v in t.items() if v.is_floating_point()})
        t.update({k: v.float() for k, v in t.items() if k.endswith("num_batches_tracked")})

    m16 = load_model(_variant(tmp_path, st_file, halve))
    _, tensors, _ = st_file
    for k, v in m16.state_dict().items():
        assert v.dtype == (torch.int64 if k.endswith("num_batches_tracked") else torch.float32), k
        want = tensors[k].half().float() if tensors[k].is_floating_point() else tensors[k]
        assert torch.equal(v, want), k
    m64 = load_model(_variant(tmp_path, st_file, lambda t: t.update(
        {k: (v.double() if v.is_floating_point() else v.to(torch.int32)) for k, v in t.items()})))
    for k, v in sr_small.state_dict().items():
        assert torch.equal(m64.state_dict()[k], v), k  # float32 -> float64 -> float32 is exact
    bf = load_model(_variant(tmp_path, st_file, lambda t: None), dtype=torch.bfloat16)
    assert {p.dtype for p in bf.parameters()} == {torch.bfloat16}
    # large but finite float16 values whose sum overflows are not mistaken for infinite ones
    big = load_model(_variant(tmp_path, st_file, _set("decoder.style.1.weight",
                                                      lambda x: torch.full_like(x, 60000.0, dtype=torch.float16))))
    assert float(big.decoder.style[1].weight.min()) == 60000.0


def test_official_pt_with_bad_editing_vector_is_refused(tmp_path):
    model = random_model("edit_age", size=256, seed=13)
    path = save_official_pt(model, tmp_path / "styleganex_edit_age.pt")
    ckpt = torch.load(path, weights_only=True)
    ckpt["editing_w"] = with_nan(ckpt["editing_w"])
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="editing_w.*finite"):
        load_model(path)


def test_bare_stylegan2_generator_is_refused_where_a_model_is_needed(tmp_path, sr_small, capsys):
    """A StyleGAN2 generator's bare state dict (no g_ema wrapper) as .safetensors: neither loader
    guesses; the CLI says what the file is. (The g_ema .pt case: test_checkpoints.)"""
    path = tmp_path / "g.safetensors"
    save_file({k: v.clone().contiguous() for k, v in sr_small.decoder.state_dict().items()}, str(path))
    for loader in (load_model, load_generator):
        with pytest.raises(CheckpointError, match="not a StyleGANEX or StyleGAN2 checkpoint.*found top-level keys"):
            loader(path)
    g_ema = tmp_path / "g_ema.pt"
    torch.save({"g_ema": sr_small.decoder.state_dict(), "latent_avg": sr_small.latent_avg[0]}, g_ema)
    photo = tmp_path / "p.png"
    Image.new("RGB", (16, 16)).save(photo)
    from styleganex.cli import main
    assert main(["invert", str(photo), "--model", str(g_ema), "--out", str(tmp_path / "o"), "--no-face"]) == 2
    assert "plain StyleGAN2 generator" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def _run_pipeline(name, model):
    sketch = torch.rand(1, 1, 32, 32)
    if name == "super_resolve":
        return super_resolve(model, torch.rand(1, 3, 8, 8), 16, aligned01=torch.zeros(1, 3, 64, 64))
    if name == "sketch_to_face":
        return sketch_to_face(model, sketch)
    if name == "mask_to_face":
        return mask_to_face(model, torch.randint(0, 19, (1, 32, 32)))
    if name == "optimize":
        return optimize(model, torch.zeros(1, 3, 32, 32), steps=1)
    if name == "process_video":
        return process_video(model, [torch.rand(3, 32, 32)], crop="none", aligned=torch.rand(3, 64, 64))
    raise AssertionError(name)


@pytest.mark.parametrize("family, file_name, pipeline, needed", [
    ("sketch2face", "styleganex_sketch2face.pt", "super_resolve", "needs styleganex_sr.pt or styleganex_sr32.pt"),
    ("mask2face", "styleganex_mask2face.pt", "super_resolve", "needs styleganex_sr.pt or styleganex_sr32.pt"),
    # a renamed file
    ("inversion", "styleganex_sr.pt", "super_resolve", "needs styleganex_sr.pt or styleganex_sr32.pt"),
    ("inversion", "styleganex_inversion.pt", "sketch_to_face", "needs styleganex_sketch2face.pt"),
    ("sr", "styleganex_sr.pt", "sketch_to_face", "needs styleganex_sketch2face.pt"),
    ("inversion", "styleganex_inversion.pt", "mask_to_face", "needs styleganex_mask2face.pt"),
    ("edit_age", "styleganex_edit_age.pt", "mask_to_face", "needs styleganex_mask2face.pt"),
    ("sketch2face", "styleganex_sketch2face.pt", "mask_to_face", "needs styleganex_mask2face.pt"),
    ("sketch2face", "styleganex_sketch2face.pt", "optimize", "needs an RGB model"),
    ("mask2face", "styleganex_mask2face.pt", "process_video", "needs an RGB model"),
])
def test_model_of_the_wrong_kind_for_a_pipeline(tmp_path, family, file_name, pipeline, needed):
    """Loaded from a file like a user would: a clear ValueError naming the model needed and the one given."""
    path = save_official_pt(random_model(family, size=256, seed=14), tmp_path / file_name)
    model = load_model(path)
    expected_variant = "edit_age" if family == "edit_age" else family
    assert model.variant == expected_variant  # the renamed inversion model is still "inversion"
    with pytest.raises(ValueError, match=needed) as e:
        _run_pipeline(pipeline, model)
    assert expected_variant in str(e.value)
