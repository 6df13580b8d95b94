"""Direction files of every public source: recognised from content, read safely, their defaults applied;
our .safetensors round trip; clear refusals; composed edits, GANSpace edits and strength sweeps."""

import json
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from styleganex.base.errors import StyleGANEXWarning
from styleganex.dev.testing import random_model
from styleganex.io.directions import (
    OFFICIAL_NAMES,
    SOURCES,
    Direction,
    DirectionError,
    read_directions,
    save_directions,
)
from styleganex.pipelines.editing import Edit, apply_direction, apply_edits, ganspace_edit, sweep, sweep_strengths
from styleganex.pipelines.encode_decode import decode_latent

S, N = 16, 18  # the reduced test models' style width and w+ rows


@pytest.fixture(scope="module")
def model():
    return random_model("inversion", seed=4)


@pytest.fixture(scope="module")
def latent(model):
    g = torch.Generator().manual_seed(2)
    return model.encode(torch.rand(1, 3, 32, 32, generator=g) * 2 - 1)


def unit(shape, seed, dtype=np.float64):
    v = np.random.default_rng(seed).standard_normal(shape)
    return (v / np.linalg.norm(v)).astype(dtype)


# ---- each source -------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1, N, S), (N, S), (1, S), (S,)])
def test_official_direction_dict(tmp_path, shape):
    """The web demo's direction_dics.pt: {name: w+ offset}; defaults -2..2 on every row."""
    g = torch.Generator().manual_seed(0)
    raw = {name: torch.randn(shape, generator=g) for name in OFFICIAL_NAMES}
    torch.save(raw, tmp_path / "direction_dics.pt")
    dirs = read_directions(tmp_path / "direction_dics.pt")
    assert list(dirs) == list(OFFICIAL_NAMES)
    for name, d in dirs.items():
        assert d.source == "official" and d.strength_range == (-2.0, 2.0) and d.layers is None
        want = raw[name].reshape(-1, S).squeeze(0) if len(shape) > 1 else raw[name]
        assert torch.equal(d.vector, want)


def test_interfacegan_and_lowrankgan_npy(tmp_path, latent):
    """Both are float64 [1, S] unit vectors; InterFaceGAN's are named *boundary*. LowRankGAN edits 4-7."""
    v = unit((1, S), 1)
    np.save(tmp_path / "stylegan_ffhq_smile_w_boundary.npy", v)
    np.save(tmp_path / "expression.npy", v)
    with pytest.warns(StyleGANEXWarning, match="StyleGAN1"):
        ifg = read_directions(tmp_path / "stylegan_ffhq_smile_w_boundary.npy")
    lrg = read_directions(tmp_path / "expression.npy")
    assert list(ifg) == ["stylegan_ffhq_smile_w_boundary"] and list(lrg) == ["expression"]
    d_ifg, d_lrg = ifg["stylegan_ffhq_smile_w_boundary"], lrg["expression"]
    assert (d_ifg.source, d_ifg.strength_range, d_ifg.layers) == ("interfacegan", (-3.0, 3.0), None)
    assert (d_lrg.source, d_lrg.strength_range, d_lrg.layers) == ("lowrankgan", (-4.0, 4.0), (4, 5, 6, 7))
    assert d_lrg.vector.dtype == torch.float32 and d_lrg.vector.shape == (S,)
    np.testing.assert_allclose(d_lrg.vector.numpy(), v[0], rtol=1e-6, atol=1e-7)
    # defaults apply: LowRankGAN moves rows 4-7 only, InterFaceGAN every row
    moved = (apply_direction(latent, d_lrg, 3.0).wplus - latent.wplus)[0].abs().sum(1) > 0
    assert moved.nonzero().flatten().tolist() == [4, 5, 6, 7]
    moved = (apply_direction(latent, d_ifg, 3.0).wplus - latent.wplus)[0].abs().sum(1) > 0
    assert bool(moved.all())
    # a non-unit or float32 vector is a plain InterFaceGAN-style vector
    np.save(tmp_path / "v32.npy", v.astype(np.float32))
    np.save(tmp_path / "long.npy", 2 * v)
    assert read_directions(tmp_path / "v32.npy")["v32"].source == "interfacegan"
    assert read_directions(tmp_path / "long.npy")["long"].source == "interfacegan"


@pytest.mark.parametrize("shape", [(1, S), (1, N, S), (N, S)])
def test_e4e_pti_nada_tensors(tmp_path, shape, latent):
    """e4e / PTI / StyleGAN-NADA .pt tensors: [1, S] for every row or [1, 18, S] / [18, S] per row."""
    t = torch.randn(shape, generator=torch.Generator().manual_seed(3))
    torch.save(t, tmp_path / "age.pt")
    d = read_directions(tmp_path / "age.pt")["age"]
    assert d.source == "interfacegan" and d.layers is None
    edited = apply_direction(latent, d, -1.5)
    want = latent.wplus + (-1.5) * t.reshape(-1, S)
    torch.testing.assert_close(edited.wplus, want, rtol=0, atol=1e-6)


def _ganspace_pca(c=6, seed=5):
    g = torch.Generator().manual_seed(seed)
    comp = torch.linalg.qr(torch.randn(S, S, generator=g))[0][:c].reshape(c, 1, S)
    return {"mean": torch.randn(1, S, generator=g), "comp": comp, "std": torch.rand(c, generator=g) + 0.5}


def test_ganspace_pt_and_npz(tmp_path, latent):
    pca = _ganspace_pca()
    torch.save(pca, tmp_path / "ffhq_pca.pt")
    np.savez(tmp_path / "ganspace.npz", lat_comp=pca["comp"].numpy(), lat_mean=pca["mean"].numpy(),
             lat_stdev=pca["std"].numpy(), act_comp=np.zeros((6, 1, 4), np.float32))
    for path in (tmp_path / "ffhq_pca.pt", tmp_path / "ganspace.npz"):
        dirs = read_directions(path)
        assert list(dirs) == [f"pc{k}" for k in range(6)]
        d = dirs["pc3"]
        assert d.source == "ganspace" and d.strength_range == (-10.0, 10.0)
        torch.testing.assert_close(d.vector, pca["comp"][3, 0] * pca["std"][3], rtol=1e-6, atol=1e-7)
    # GANSpace's (component, start, stop, strength): stop exclusive, strength in standard deviations
    dirs = read_directions(tmp_path / "ffhq_pca.pt")
    edit = ganspace_edit(dirs, 2, 7, 9, -4.0, mode="add")  # the additive mode (e4e's default: test_front_doors_hostile)
    edited = apply_edits(latent, [edit])
    want = latent.wplus.clone()
    want[:, 7:9] += -4.0 * pca["std"][2] * pca["comp"][2, 0]
    torch.testing.assert_close(edited.wplus, want, rtol=0, atol=1e-5)
    with pytest.raises(DirectionError, match="pc99"):
        ganspace_edit(dirs, 99, 0, 1, 1.0)
    with pytest.raises(DirectionError, match="select nothing"):
        ganspace_edit(dirs, 0, 5, 5, 1.0)


def test_our_safetensors_round_trip(tmp_path):
    g = torch.Generator().manual_seed(6)
    made = [Direction.of(torch.randn(S, generator=g), "sefa0", "sefa", layers=[0, 1, 2], note="eigenvalue 3"),
            Direction.of(torch.randn(N, S, generator=g), "mine", "official")]
    save_directions(tmp_path / "ours.npy", made)  # the suffix does not matter: the content decides
    back = read_directions(tmp_path / "ours.npy")
    assert list(back) == ["sefa0", "mine"]
    for a in made:
        b = back[a.name]
        assert (b.source, b.strength_range, b.layers, b.note) == (a.source, a.strength_range, a.layers, a.note)
        assert torch.equal(a.vector, b.vector)
    # a plain .safetensors of tensors (no metadata) is a set of InterFaceGAN-style vectors
    save_file({"glasses": torch.ones(S), "pose": torch.zeros(N, S)}, str(tmp_path / "plain.safetensors"))
    plain = read_directions(tmp_path / "plain.safetensors")
    assert {d.source for d in plain.values()} == {"interfacegan"} and plain["pose"].vector.shape == (N, S)


def test_every_source_has_defaults():
    assert set(SOURCES) == {"official", "interfacegan", "lowrankgan", "ganspace", "sefa", "model"}
    for s in SOURCES.values():
        lo, hi = s.strength_range
        assert lo < 0 < hi and s.title and s.shapes


# ---- refusals ----------------------------------------------------------------------------------
def npy(path, array, **kw):
    with open(path, "wb") as fh:  # np.save(path) would add ".npy" to the name
        np.save(fh, array, **kw)


class Payload:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def _tampered(tmp_path, change):
    path = save_directions(tmp_path / "t.safetensors", [Direction.of(torch.ones(S), "a", "sefa", layers=[1])])
    from safetensors import safe_open
    with safe_open(str(path), framework="pt") as fh:
        meta, tensors = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}
    info = json.loads(meta["directions"])
    change(info, tensors)
    meta["directions"] = json.dumps(info)
    save_file(tensors, str(path), metadata=meta)
    return path


BAD = {
    "pickled object": (lambda p: torch.save({"smile": Payload()}, p), "pickled"),
    "legacy pickle": (lambda p: p.write_bytes(pickle.dumps(Payload(), protocol=2)), "pickled"),
    "object array": (lambda p: npy(p, np.array([{"a": 1}], dtype=object), allow_pickle=True), "pickled"),
    "integers": (lambda p: npy(p, np.ones((1, S), np.int64)), "floating point"),
    "nan": (lambda p: torch.save({"smile": torch.full((S,), float("nan"))}, p), "NaN"),
    "cube": (lambda p: npy(p, np.zeros((2, 3, S), np.float32)), "shape"),
    "widths": (lambda p: torch.save({"a": torch.ones(S), "b": torch.ones(S + 1)}, p), "different style widths"),
    "checkpoint": (lambda p: torch.save({"g_ema": {"style.1.weight": torch.ones(2, 2)}}, p), "'g_ema'"),
    "empty dict": (lambda p: torch.save({}, p), "no directions"),
    "list": (lambda p: torch.save([torch.ones(S)], p), "list"),
    "empty file": (lambda p: p.write_bytes(b""), "empty"),
    "text": (lambda p: p.write_text("0 1 2"), "not a direction file"),
    "truncated": (lambda p: p.write_bytes(b"PK\x03\x04" + b"\0" * 40), "corrupt"),
    "ganspace std": (lambda p: torch.save({**_ganspace_pca(), "std": torch.ones(3)}, p), "std"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_are_one_clear_error(tmp_path, case, capsys):
    make, words = BAD[case]
    path = tmp_path / "bad.pt"
    make(path)
    with pytest.raises(DirectionError) as info:
        read_directions(path)
    assert words in str(info.value) and str(path) in str(info.value)
    assert "pickled code ran" not in capsys.readouterr().out


@pytest.mark.parametrize("change, words", [
    (lambda info, t: info["a"].update(source="magic"), "source"),
    (lambda info, t: info["a"].update(strength=[2, 1]), "low must be below high"),
    (lambda info, t: info["a"].update(strength=["x", 1]), "finite number"),
    (lambda info, t: info["a"].update(layers=[99]), "outside"),
    (lambda info, t: t.update(b=torch.ones(S)), "describes"),
])
def test_tampered_metadata_is_refused(tmp_path, change, words):
    path = _tampered(tmp_path, change)
    with pytest.raises(DirectionError, match=words):
        read_directions(path)


def test_missing_and_huge_files(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError):
        read_directions(tmp_path / "nope.pt")
    import styleganex.io.directions as directions
    np.save(tmp_path / "big.npy", np.zeros(S, np.float32))
    monkeypatch.setattr(directions, "MAX_FILE_BYTES", 64)
    with pytest.raises(DirectionError, match="MiB"):
        read_directions(tmp_path / "big.npy")


# ---- composed edits and sweeps -----------------------------------------------------------------
def test_composed_edits_equal_one_after_another(latent):
    g = torch.Generator().manual_seed(8)
    a = Direction.of(torch.randn(S, generator=g), "a", "official")
    b = Direction.of(torch.randn(N, S, generator=g), "b", "lowrankgan")
    c = torch.randn(S, generator=g)
    edits = [Edit(a, 1.5), Edit(b, -2.0), Edit(c, 0.5, "0-3"), (a, -0.25, [17])]
    both = apply_edits(latent, edits)
    step = latent
    for d, s, rows in [(a, 1.5, None), (b, -2.0, None), (c, 0.5, "0-3"), (a, -0.25, [17])]:
        step = apply_direction(step, d, s, rows)
    assert torch.equal(both.wplus, step.wplus)
    # and the sum of the offsets, row by row, as an independent computation
    want = latent.wplus.clone()
    want += 1.5 * a.vector
    want[:, 4:8] += -2.0 * b.vector[4:8]
    want[:, 0:4] += 0.5 * c
    want[:, 17] += -0.25 * a.vector
    torch.testing.assert_close(both.wplus, want, rtol=0, atol=1e-5)
    with pytest.raises(DirectionError, match="edit 0"):
        apply_edits(latent, [(a,)])


def test_sweep_renders_each_strength_from_one_latent(model, latent):
    d = Direction.of(torch.randn(S, generator=torch.Generator().manual_seed(9)), "d", "official")
    strengths = sweep_strengths(*d.strength_range, 5)
    assert strengths == [-2.0, -1.0, 0.0, 1.0, 2.0]
    calls = []
    strip = sweep(model, latent, d, strengths, "0-7", progress=lambda i, n, info: calls.append((i, n)))
    assert strip.shape == (5, 3, 128, 128) and calls[-1] == (5, 5)
    for i, s in enumerate(strengths):
        one = decode_latent(model, apply_direction(latent, d, s, "0-7"))
        torch.testing.assert_close(strip[i:i + 1], one, rtol=0, atol=1e-5)
    torch.testing.assert_close(strip[2:3], decode_latent(model, latent), rtol=0, atol=1e-5)
    assert not torch.allclose(strip[0], strip[4], atol=1e-3)
    for bad in (dict(frame=1), dict(frame=-1)):
        with pytest.raises(DirectionError, match="frame"):
            sweep(model, latent, d, strengths, **bad)
    with pytest.raises(DirectionError, match="frames"):
        sweep_strengths(0, 1, 0)
    with pytest.raises(DirectionError, match="style dimension"):
        sweep(model, latent, torch.ones(S + 1), [1.0])
    from styleganex.base.errors import Cancelled
    with pytest.raises(Cancelled):
        sweep(model, latent, d, strengths, cancel=lambda: True)


def test_manifest_and_readme_name_the_editing_files():
    """pyproject's [tool.comfy] Models and the README give the hub locations of the official direction set and
    of the StyleGAN-NADA generators the web demo uses."""
    from pathlib import Path

    import tomllib

    from styleganex.io.directions import OFFICIAL_FILE, OFFICIAL_URL
    from styleganex.pipelines.editing import NADA_GENERATORS, NADA_REPO

    root = Path(__file__).resolve().parents[1]
    models = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["comfy"]["Models"]
    urls = {m["model_url"]: m["location"] for m in models}
    assert urls[OFFICIAL_URL] == "/models/styleganex/directions"
    for name in NADA_GENERATORS:
        assert urls[f"{NADA_REPO}/resolve/main/{name}.pt"] == "/models/styleganex"
    readme = (root / "README.md").read_text()
    assert OFFICIAL_URL in readme and OFFICIAL_FILE in readme and "rinong/stylegan-nada-models" in readme
    assert all(f"`{name}.pt`" in readme for name in NADA_GENERATORS)
