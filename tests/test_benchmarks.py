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
