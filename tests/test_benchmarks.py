"""A smoke run of the benchmark suite (tiny sizes, one repeat) so that it keeps working."""

import json

import pytest

from benchmarks import run


@pytest.mark.slow
def test_tiny_benchmark_run(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert run.main(["--tiny", "--reps", "1", "--warmup", "0", "--workloads", "encdec256", "video512",
                     "opt256", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    rows = {r["workload"]: r for r in data["rows"]}
    assert set(rows) == {"encdec256", "video512", "opt256"}
    for r in rows.values():
        assert r["ours"]["median_s"] > 0 and r["ours"]["peak_mem_mb"] >= 0
    assert data["meta"]["tiny"] is True
    printed = capsys.readouterr().out
    assert "encdec256" in printed and "wrote" in printed


def test_reference_loader_refuses_a_wrong_folder(tmp_path):
    from benchmarks.reference import load_official_psp
    with pytest.raises(FileNotFoundError, match="not a StyleGANEX checkout"):
        load_official_psp(tmp_path, {})


def test_tiny_edit_strength_run(tmp_path, capsys):
    from benchmarks import edit_strength

    out = tmp_path / "edit.json"
    assert edit_strength.main(["--tiny", "--reps", "2", "--warmup", "0", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["tiny"] is True and data["crop"] == 64 and data["output"] == [1, 3, 256, 256]
    assert len(data["all_s"]) == 2 and data["edit_s"] > 0 and data["decode_s"] > 0 and data["sweep_per_image_s"] > 0
    assert "strength change (ApplyEdit + Decode)" in capsys.readouterr().out
