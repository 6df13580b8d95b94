"""The official reference cases, replayed with our modules (tolerances from index.json)."""

import io
import json

import pytest

from styleganex.dev import parity


def test_every_public_case_passes(parity_dir):
    buf = io.StringIO()
    results = parity.run(parity_dir, out=buf)
    n_cases = len(json.loads((parity_dir / "index.json").read_text())["cases"])
    assert len(results) == n_cases
    failed = [f"{r.name}: {r.detail}" for r in results if not r.passed]
    assert not failed, buf.getvalue()
    assert buf.getvalue().strip().splitlines()[-1] == f"{n_cases} passed, 0 failed"


def _copy_with_cases(parity_dir, dst, names):
    """A writable copy of the fixtures holding only the named cases."""
    import shutil
    shutil.copytree(parity_dir, dst)
    for p in dst.rglob("*"):
        p.chmod(0o644 if p.is_file() else 0o755)
    index = json.loads((dst / "index.json").read_text())
    index["cases"] = [c for c in index["cases"] if c["name"] in names]
    (dst / "index.json").write_text(json.dumps(index))
    return dst


def test_cli_exit_status(parity_dir, tmp_path, capsys):
    names = {"gen_inv256_editing_w", "map_inv256"}
    good = _copy_with_cases(parity_dir, tmp_path / "good", names)
    assert parity.main([str(good)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "2 passed, 0 failed"
    # the same cases with one reference output perturbed by 1e-3 must fail with status 1

    import torch
    from safetensors.torch import load_file, save_file
    bad = _copy_with_cases(parity_dir, tmp_path / "bad", names)
    case = bad / "cases" / "gen_inv256_editing_w.safetensors"
    t = load_file(str(case))
    t["out.image"] = t["out.image"] + 1e-3 * torch.randn_like(t["out.image"]).sign()
    save_file(t, str(case))
    capsys.readouterr()
    assert parity.main([str(bad)]) == 1
    out = capsys.readouterr().out
    assert "gen_inv256_editing_w" in out and "FAIL" in out
    assert out.strip().splitlines()[-1].endswith("1 failed")


def test_unknown_case_kind_counts_as_failure(parity_dir, tmp_path):
    root = _copy_with_cases(parity_dir, tmp_path / "p", {"map_inv256"})
    index = json.loads((root / "index.json").read_text())
    index["cases"] = [dict(index["cases"][0], kind="mystery", name="mystery_case")]
    (root / "index.json").write_text(json.dumps(index))
    results = parity.run(root, out=io.StringIO())
    assert [r.passed for r in results] == [False]
    assert "mystery" in results[0].detail


@pytest.mark.parametrize("arg,expect", [("[in.a]", ["A"]), ("list in.n.<i>", ["N0", "N1"]),
                                        ("in.a", "A"), (None, None), (True, True)])
def test_argument_resolution(arg, expect):
    tensors = {"in.a": "A", "in.n.0": "N0", "in.n.1": "N1"}
    assert parity._resolve(arg, tensors) == expect
