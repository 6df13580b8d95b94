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


@pytest.mark.slow
def test_tiny_gpu_speed_run_on_the_cpu(tmp_path, capsys):
    """benchmarks/gpu_speed.py end to end on the CPU with the tiny models (the script the GPU runs):
    every check passes, every table row and both profiles are printed."""
    from benchmarks import gpu_speed
    from styleganex.model import fast

    out = tmp_path / "speed.json"
    backend = fast.COMPILE_BACKEND
    try:
        assert gpu_speed.main(["--device", "cpu", "--tiny", "--json", str(out)]) == 0
    finally:
        fast.COMPILE_BACKEND = backend
    data = json.loads(out.read_text())
    assert data["tiny"] is True and len(data["checks"]) == 6 and all(c["ok"] for c in data["checks"])
    names = [r["name"] for r in data["rows"]]
    assert len(names) == 7 and any(n.startswith("inversion step") for n in names)
    step = next(r for r in data["rows"] if r["name"].startswith("inversion step"))
    assert step["reference_s"] > 0 and step["fast_s"] > 0
    printed = capsys.readouterr().out
    assert "profile: fast decoder" in printed and "profile: fast inversion" in printed
    assert "6 checks passed, 0 failed" in printed


def test_tiny_cpu_layers_run(capsys):
    """benchmarks/cpu_layers.py on the tiny model: every block group is timed and the groups account for
    most of the total (the hooks cover the network)."""
    from benchmarks import cpu_layers

    assert cpu_layers.main(["--tiny", "--reps", "1"]) == 0
    printed = capsys.readouterr().out
    rows = {ln[:44].strip(): ln[44:].split() for ln in printed.splitlines()
            if ln.startswith(("encoder", "generator"))}
    assert "encoder stage 3 (14 units)" in rows and "generator level 1024" in rows and len(rows) == 16
    total = next(float(ln.split()[-1]) for ln in printed.splitlines() if ln.startswith("total"))
    timed = sum(float(v[0]) for v in rows.values())
    assert 0.5 * total < timed < 1.5 * total


def test_gpu_speed_budget_and_failing_parts(tmp_path, capsys):
    """The one-shot GPU script: past its time budget it starts no further part, and a part that raises
    is a failed check (exit 1) while the run goes on."""
    from benchmarks import gpu_speed

    out = tmp_path / "s.json"
    assert gpu_speed.main(["--device", "cpu", "--tiny", "--budget-s", "0", "--json", str(out)]) == 0
    assert "past the --budget-s" in capsys.readouterr().out and json.loads(out.read_text())["checks"] == []

    class Stub:
        checks: list = []

        def check(self, name, ok, detail):
            self.checks.append((name, ok, detail))
    stub = Stub()
    gpu_speed.guarded(stub, "encdec", lambda: 1 / 0)
    gpu_speed.guarded(stub, "video", lambda: None)
    assert stub.checks == [("encdec ran", False, stub.checks[0][2])] and "ZeroDivisionError" in stub.checks[0][2]
