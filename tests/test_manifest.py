"""Building from the official opts gives exactly the official key set and shapes."""

import json

import pytest
import torch

from styleganex import ModelConfig, StyleGANEX
from styleganex.model.config import infer_widths, widths_from_reduced_config
from styleganex.model.generator import Generator

MANIFEST_VARIANTS = ["inversion", "sr32", "sr", "sketch2face", "mask2face", "edit_age_hair", "toonify"]


@pytest.fixture(scope="module")
def manifest(manifest_path):
    return json.loads(manifest_path.read_text())


def _meta_model(opts, widths=None):
    with torch.device("meta"):
        return StyleGANEX(ModelConfig.from_opts(opts, widths), opts)


@pytest.mark.parametrize("variant", MANIFEST_VARIANTS)
def test_full_size_keys_and_shapes_match_manifest(manifest, variant):
    v = manifest["variants"][variant]
    model = _meta_model(v["opts"])
    ours = {k: tuple(t.shape) for k, t in model.state_dict().items() if k != "latent_avg"}
    ref = {e["key"]: tuple(e["shape"]) for e in v["state_dict"]}
    assert set(ours) - set(ref) == set(), "keys the official model does not have"
    assert set(ref) - set(ours) == set(), "official keys we lack"
    assert {k: s for k, s in ours.items() if ref[k] != s} == {}
    dtypes = {e["key"]: e["dtype"] for e in v["state_dict"]}
    for k, t in model.state_dict().items():
        if k in dtypes:
            assert str(t.dtype).replace("torch.", "") == dtypes[k], k
    assert model.config.n_latent == v["n_styles"]


@pytest.mark.parametrize("variant", ["sr32", "edit_age_hair"])
def test_use_skip_torgb_adds_exactly_the_optional_keys(manifest, variant):
    v = manifest["variants"][variant]
    extra = {k: tuple(s) for k, s in v["optional_keys_if_use_skip_torgb"].items()}
    base = set(_meta_model(v["opts"]).state_dict())
    withskip = _meta_model(dict(v["opts"], use_skip_torgb=True)).state_dict()
    assert set(withskip) - base == set(extra)
    assert all(tuple(withskip[k].shape) == s for k, s in extra.items())


def test_bare_generator_matches(manifest):
    with torch.device("meta"):
        g = Generator(ModelConfig(size=1024))
    ours = {k: tuple(t.shape) for k, t in g.state_dict().items()}
    ref = {e["key"]: tuple(e["shape"]) for e in manifest["bare_generator_1024"]}
    # the bare StyleGAN2 generator lacks only StyleGANEX's fixed binomial kernels
    assert set(ref) <= set(ours)
    assert all(k.endswith("blur_weight") for k in set(ours) - set(ref))
    assert {k: s for k, s in ref.items() if ours[k] != s} == {}


def test_reduced_widths_build_and_are_inferred(parity_dir):
    index = json.loads((parity_dir / "index.json").read_text())
    widths = widths_from_reduced_config(index["reduced_config"])
    from safetensors.torch import load_file
    for name, v in index["variants"].items():
        sd = load_file(str(parity_dir / v["weights_file"]))
        config = ModelConfig.from_opts(v["opts"], widths)
        inferred = ModelConfig.from_opts(v["opts"], infer_widths(sd))
        assert inferred.to_dict() == config.to_dict(), name
        model = _meta_model(v["opts"], widths)
        missing = set(model.state_dict()) - set(sd) - set(v.get("omitted_keys") or {})
        assert missing == set(), name
        assert set(sd) - set(model.state_dict()) == set(), name


def test_config_json_round_trip():
    c = ModelConfig.from_opts({"output_size": 256, "use_skip": True, "use_att": 2, "input_nc": 19})
    assert ModelConfig.from_dict(json.loads(c.to_json())) == c
    assert c.n_latent == 14 and c.n_fusion == 7
    with pytest.raises(ValueError, match="unknown config fields"):
        ModelConfig.from_dict({**c.to_dict(), "bogus": 1})
