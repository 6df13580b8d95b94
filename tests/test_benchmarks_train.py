"""benchmarks/train.py: a smoke run (reduced widths, one timed step) and the pieces of its timing harness."""

import json
import time

import pytest
import torch

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


def test_peak_memory_sees_an_allocation_and_resets():
    memory = train.PeakMemory("cpu")
    memory.start()
    big = torch.ones(64 * 2 ** 20)  # 256 MiB, touched
    assert float(big[-1]) == 1.0
    del big
    first = memory.peak_bytes()
    assert 0.9 * 256 * 2 ** 20 <= first <= 2 * 256 * 2 ** 20
    memory.start()  # the high-water mark starts again from the current use
    small = torch.ones(2 ** 20)  # 4 MiB
    assert float(small[0]) == 1.0
    assert memory.exact and memory.peak_bytes() < 64 * 2 ** 20


def test_release_batches_time_each_step_and_end_the_run():
    batches = train._Batches("x", "y", 3, "cpu")
    seen = []
    with pytest.raises(train._Done):
        for batch in batches:  # as Coach.train consumes its DataLoader, one step per batch
            seen.append(batch)
            time.sleep(0.02)
    assert seen == [("x", "y")] * 3 and len(batches.times) == 4
    steps = [b - a for a, b in zip(batches.times, batches.times[1:])]
    assert all(0.015 <= s < 1.0 for s in steps)


@pytest.mark.slow
def test_fixed_batch_serves_one_pair_to_every_step(tmp_path):
    trainer = train.build_trainer("inversion", True, "cpu", 2, tmp_path)
    pair = train.fixed_batch(trainer)
    assert trainer._pair(0)[0] is pair and trainer._pair(5)[0] is pair
    before = [p.detach().clone() for p in trainer.params[:3]]
    trainer.train_step()
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.params[:3]))
