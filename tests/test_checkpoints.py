"""Checkpoint loading: official .pt layout, safetensors round trip, and every kind of bad file."""

import os
import pickle
import zipfile

import pytest
import torch

import styleganex
from styleganex import CheckpointError, load_generator, load_model
from styleganex.dev.testing import random_model, save_official_pt, save_stylegan2_pt


@pytest.fixture(scope="module")
def edit_model():
    return random_model("edit_age", size=256, seed=3)


@pytest.fixture(scope="module")
def official_pt(tmp_path_factory, edit_model):
    return save_official_pt(edit_model, tmp_path_factory.mktemp("ck") / "styleganex_edit_age.pt")


def _frame(b=1, h=64, w=80, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g) * 2 - 1


def _same_outputs(a, b, frame):
    """Same weights (bit for bit) and the same outputs. Outputs are compared with a tolerance: the
    kernels oneDNN picks depend on the CPU and on the tensors' memory layout, so two loads of the
    same weights may round differently in the last bits (float32, outputs of order 1)."""
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    la, lb = a.encode(frame), b.encode(frame)
    torch.testing.assert_close(la.wplus, lb.wplus, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(la.f, lb.f, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(a.decode(la, editing_w=0.5), b.decode(lb, editing_w=0.5), rtol=1e-5, atol=1e-5)


def test_official_pt_loads_and_computes_the_same(official_pt, edit_model):
    m = load_model(official_pt)
    assert m.variant == "edit_age" and m.config.use_att == 1 and m.config.size == 256
    assert torch.equal(m.editing_w, edit_model.editing_w)
    _same_outputs(m, edit_model, _frame())


def test_safetensors_round_trip_keeps_opts_latent_avg_editing_w(official_pt, edit_model, tmp_path):
    dst = tmp_path / "m.safetensors"
    styleganex.convert(official_pt, dst)
    m = load_model(dst)
    # the file carries the options the official pSp reads (toonify_weights, checkpoint_path) besides the model's
    from styleganex.dev.testing import OFFICIAL_LOAD_OPTS
    assert m.opts == {**OFFICIAL_LOAD_OPTS, **edit_model.opts} and m.variant == "edit_age"
    assert torch.equal(m.latent_avg, edit_model.latent_avg)
    assert torch.equal(m.editing_w, edit_model.editing_w)
    _same_outputs(m, edit_model, _frame(seed=1))
    assert not list(tmp_path.glob("*.partial"))


def test_parity_weights_load_through_public_loader(parity_dir, tmp_path):
    """A fixture weights file plus its opts, saved in the official layout, loads with load_model."""
    import json

    from safetensors.torch import load_file
    v = json.loads((parity_dir / "index.json").read_text())["variants"]["skipfull256"]
    sd = load_file(str(parity_dir / v["weights_file"]))
    la = sd.pop("latent_avg")
    path = tmp_path / "skip.pt"
    torch.save({"state_dict": sd, "opts": v["opts"], "latent_avg": la}, path)
    m = load_model(path)
    assert m.config.style_dim == 16 and m.config.n_fusion == 7 and m.config.use_skip_torgb


def test_dtype_and_device_arguments(official_pt):
    m = load_model(official_pt, dtype=torch.bfloat16)
    assert {p.dtype for p in m.parameters()} == {torch.bfloat16}
    out = m.decode(m.encode(_frame()))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


def test_stylegan2_checkpoint(tmp_path, edit_model):
    path = save_stylegan2_pt(edit_model, tmp_path / "g.pt")
    with pytest.raises(CheckpointError, match="plain StyleGAN2 generator"):
        load_model(path)
    gen, la = load_generator(path)
    w = torch.randn(1, 14, 16)
    f = torch.randn(1, 32, 6, 8)
    # two model objects with the same weights: oneDNN may pick other kernels (CPU, memory layout)
    torch.testing.assert_close(gen.synthesize(w, f), edit_model.decoder.synthesize(w, f), rtol=1e-5, atol=1e-5)
    assert la.shape == (16,)


class Boom:
    def __reduce__(self):
        return (os.system, ("touch " + str(MARKER),))


MARKER = None


def test_pickle_with_code_is_refused_and_never_runs(tmp_path):
    global MARKER
    MARKER = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "payload": Boom()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_model(path)
    assert not MARKER.exists()
    # a legacy (non-zip) pickle too
    legacy = tmp_path / "evil_legacy.pt"
    with open(legacy, "wb") as fh:
        pickle.dump({"x": Boom()}, fh)
    with pytest.raises(CheckpointError):
        load_model(legacy)
    assert not MARKER.exists()


@pytest.mark.parametrize("kind", ["empty", "truncated", "zip", "text", "safetensors_trunc"])
def test_broken_files_get_one_clear_error(tmp_path, official_pt, kind):
    path = tmp_path / f"{kind}.pt"
    data = official_pt.read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
        pattern = "empty file"
    elif kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
        pattern = "truncated or corrupt"
    elif kind == "zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "hello")
        pattern = "zip archive but not a PyTorch checkpoint"
    elif kind == "text":
        path.write_text("just some text, not weights")
        pattern = "not a checkpoint"
    else:
        st = tmp_path / "m.safetensors"
        styleganex.convert(official_pt, st)
        path.write_bytes(st.read_bytes()[:5000])
        pattern = "safetensors"
    with pytest.raises(CheckpointError, match=pattern):
        load_model(path)


def test_missing_file_says_where_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="huggingface.co.*S-Lab"):
        load_model(tmp_path / "styleganex_sr.pt")


def test_missing_extra_and_misshaped_keys(tmp_path, edit_model):
    sd = {k: v for k, v in edit_model.state_dict().items() if k != "latent_avg"}
    base = {"opts": edit_model.opts, "latent_avg": edit_model.latent_avg}
    cases = {
        "missing": ({k: v for k, v in sd.items() if "styles.3." not in k}, "missing keys"),
        "extra": ({**sd, "encoder.bogus.weight": torch.zeros(3)}, "unexpected keys"),
        "shape": ({**sd, "decoder.conv1.conv.weight": torch.zeros(1, 2, 2, 3, 3)}, "wrong shape"),
        "dtype": ({**sd, "decoder.style.1.weight": torch.zeros(16, 16, dtype=torch.int32)}, "dtype"),
    }
    for name, (state, pattern) in cases.items():
        path = tmp_path / f"{name}.pt"
        torch.save({**base, "state_dict": state}, path)
        with pytest.raises(CheckpointError, match=pattern):
            load_model(path)
    # a checkpoint whose opts describe another structure (no fusion) than its keys
    path = tmp_path / "wrongopts.pt"
    torch.save({**base, "state_dict": sd, "opts": dict(edit_model.opts, use_skip=False)}, path)
    with pytest.raises(CheckpointError, match="unexpected keys"):
        load_model(path)


def test_missing_noise_buffers_are_zeros_with_a_warning(tmp_path, edit_model):
    sd = {k: v for k, v in edit_model.state_dict().items() if "noises." not in k and k != "latent_avg"}
    path = tmp_path / "nonoise.pt"
    torch.save({"state_dict": sd, "opts": edit_model.opts, "latent_avg": edit_model.latent_avg}, path)
    with pytest.warns(UserWarning, match="noise"):
        m = load_model(path)
    lat = m.encode(_frame())
    assert torch.equal(m.decode(lat, noise="stored"), m.decode(lat, noise="zero"))


def test_safetensors_with_wrong_shapes(tmp_path, official_pt):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    st = tmp_path / "m.safetensors"
    styleganex.convert(official_pt, st)
    with safe_open(str(st), "pt") as fh:
        meta = fh.metadata()
    t = load_file(str(st))
    t["decoder.style.1.weight"] = torch.zeros(8, 8)
    bad = tmp_path / "bad.safetensors"
    save_file(t, str(bad), metadata=meta)
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_model(bad)


def test_cli_info_and_convert(official_pt, tmp_path, capsys):
    from styleganex.cli import main
    assert main(["info", str(official_pt)]) == 0
    out = capsys.readouterr().out
    assert "variant: edit_age" in out and "fusion_layers: 7" in out and "editing_w: [1, 14, 16]" in out
    dst = tmp_path / "c.safetensors"
    assert main(["convert", str(official_pt), str(dst)]) == 0
    assert main(["info", str(dst), "--json"]) == 0
    assert '"variant": "edit_age"' in capsys.readouterr().out
    bad = tmp_path / "x.pt"
    bad.write_text("nope")
    assert main(["info", str(bad)]) == 2
    assert "not a checkpoint" in capsys.readouterr().err
