"""A smoke run of benchmarks/train.py (reduced widths, one timed step) so that it keeps working."""

import json

import pytest

from benchmarks import train


@pytest.mark.slow
def test_tiny_train_benchmark(tmp_path, capsys):
    out = tmp_path / "train.json"
    assert train.main(["--tiny", "--steps", "1", "--same-process", "--recipes", "inversion", "video_edit",
                       "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    rows = {r["recipe"]: r for r in data["rows"]}
    assert set(rows) == {"inversion", "video_edit"} and data["meta"]["tiny"] is True
    for r in rows.values():
        assert r["step_s"] > 0 and r["peak_mem_mb"] >= 0 and r["finite"] and r["batch_size"] == 2
    assert "video_edit" in capsys.readouterr().out
