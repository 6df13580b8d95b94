"""SeFa directions against an independent computation on small random generators, the cache, and the
``sefa`` / ``directions`` commands."""

import numpy as np
import pytest
import torch

from styleganex.dev.testing import random_model, save_official_pt
from styleganex.io.directions import DirectionError, read_directions
from styleganex.pipelines.sefa import factorize, sefa_directions, stacked_weights


@pytest.fixture(scope="module")
def model():
    return random_model("inversion", size=256, seed=7)  # 14 w+ rows, style width 16


def reference(model, rows):
    """SeFa written out with numpy from the state dict: row 0 -> conv1, row i -> convs.(i-1), the last row ->
    the last ToRGB; stack, normalise each weight row, SVD (right singular vectors = eigenvectors of A^T A)."""
    sd = model.decoder.state_dict()
    n = model.n_latent
    names = ["conv1.conv.modulation.weight"] + [f"convs.{i}.conv.modulation.weight" for i in range(n - 2)] \
        + [f"to_rgbs.{(n - 2) // 2 - 1}.conv.modulation.weight"]
    a = np.concatenate([sd[names[r]].double().numpy() for r in rows])
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    _, sv, vt = np.linalg.svd(a, full_matrices=False)
    return a, sv ** 2, vt


@pytest.mark.parametrize("layers, rows", [("all", range(14)), ("0-1", range(2)), ("2-5", range(2, 6)),
                                          ([13], [13])])
def test_matches_independent_computation(model, layers, rows):
    rows = list(rows)
    a, values_ref, vectors_ref = reference(model, rows)
    values, vectors = factorize(model, layers)
    s = model.config.style_dim
    assert values.shape == (s,) and vectors.shape == (s, s)
    k = min(s, a.shape[0])  # eigenvalues beyond the rank of A are zero
    np.testing.assert_allclose(values[:k].numpy(), values_ref[:k], rtol=1e-9, atol=1e-9)
    assert bool((values[:-1] >= values[1:] - 1e-12).all())  # descending
    v = vectors.numpy()
    np.testing.assert_allclose(v @ v.T, np.eye(s), atol=1e-9)  # orthonormal
    gaps = np.abs(np.diff(values_ref[:k]))
    for i in range(k):  # the same lines (up to sign), where the eigenvalue is not repeated
        if (i == 0 or gaps[i - 1] > 1e-6) and (i == k - 1 or gaps[i] > 1e-6):
            assert abs(float(v[i] @ vectors_ref[i])) == pytest.approx(1.0, abs=1e-9)
    # the sign convention: the largest entry of each vector is positive
    top = np.abs(v).argmax(axis=1)
    assert (v[np.arange(s), top] > 0).all()
    # what SeFa maximises: |A v|^2 is the eigenvalue, and no unit vector does better than the first
    np.testing.assert_allclose(np.sum((a @ v[:k].T) ** 2, axis=0), values_ref[:k], rtol=1e-9)
    rand = np.random.default_rng(0).standard_normal((200, s))
    rand /= np.linalg.norm(rand, axis=1, keepdims=True)
    assert (np.sum((a @ rand.T) ** 2, axis=0) <= values_ref[0] + 1e-9).all()


def test_directions_and_cache():
    model = random_model("inversion", size=256, seed=9)  # its weights are changed below
    dirs = sefa_directions(model, "0-7", top_k=4)
    assert list(dirs) == ["sefa0", "sefa1", "sefa2", "sefa3"]
    values, vectors = factorize(model, "0-7")
    for k, d in enumerate(dirs.values()):
        assert d.source == "sefa" and d.layers == tuple(range(8)) and d.strength_range == (-15.0, 15.0)
        assert d.vector.dtype == torch.float32
        torch.testing.assert_close(d.vector, vectors[k].float(), rtol=0, atol=1e-7)
        assert f"{float(values[k]):.4g}" in d.note
    again = factorize(model, "0-7")
    assert again[1] is vectors  # cached per generator and row set
    assert factorize(model.decoder, list(range(8)))[1] is vectors
    assert factorize(model, "0-6")[1] is not vectors
    other = random_model("inversion", size=256, seed=8)
    assert not torch.allclose(factorize(other, "0-7")[1], vectors)
    with torch.no_grad():  # weights changed in place: computed again
        model.decoder.conv1.conv.modulation.weight.mul_(1.0).add_(0.5)
    changed = factorize(model, "0-7")[1]
    assert changed is not vectors and not torch.allclose(changed, vectors)
    a = stacked_weights(model, "0-7")
    torch.testing.assert_close(a.norm(dim=1), torch.ones(a.shape[0], dtype=torch.float64))


def test_bad_arguments(model):
    for bad in (0, 17, 2.5, True):
        with pytest.raises(DirectionError, match="top_k"):
            sefa_directions(model, "all", bad)
    with pytest.raises(DirectionError, match="out of range"):
        sefa_directions(model, "0-20", 3)
    with pytest.raises(TypeError, match="StyleGANEX"):
        sefa_directions("model.pt", "all", 3)


def test_cli_sefa_and_directions(tmp_path, capsys):
    from styleganex.cli import main

    model = random_model("inversion", seed=12)
    ckpt = save_official_pt(model, tmp_path / "m.pt")
    out = tmp_path / "sefa.safetensors"
    assert main(["sefa", "--model", str(ckpt), "--device", "cpu", "--layers", "0-7", "--top", "3",
                 "--out", str(out)]) == 0
    got = read_directions(out)
    want = sefa_directions(model, "0-7", 3)
    assert list(got) == list(want)
    for name, d in want.items():
        assert got[name].layers == tuple(range(8)) and got[name].source == "sefa"
        torch.testing.assert_close(got[name].vector, d.vector, rtol=0, atol=1e-6)
    capsys.readouterr()
    assert main(["directions", str(out)]) == 0
    text = capsys.readouterr().out
    assert "3 direction(s)" in text and "sefa0: sefa, shape [16], strength -15..15, rows 0-7" in text
    assert main(["sefa", "--model", str(ckpt), "--device", "cpu", "--top", "99", "--out", str(out)]) == 2
    before = ckpt.read_bytes()
    capsys.readouterr()
    assert main(["sefa", "--model", str(ckpt), "--device", "cpu", "--out", str(ckpt)]) == 2  # not over the model
    assert ckpt.read_bytes() == before and "ending in .safetensors" in capsys.readouterr().err
    same = tmp_path / "m.safetensors"
    same.write_bytes(before)  # a checkpoint named like the output: refused without --overwrite
    assert main(["sefa", "--model", str(same), "--device", "cpu", "--out", str(same)]) == 2
    assert same.read_bytes() == before and "--overwrite" in capsys.readouterr().err
    (tmp_path / "bad.pt").write_text("nope")
    assert main(["directions", str(tmp_path / "bad.pt")]) == 2
