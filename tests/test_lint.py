"""Lint and types: ``ruff check`` with the rules ``pyproject.toml`` selects passes over the checkout, and
``mypy`` (its ``[tool.mypy]`` section: the core's lower layers) finds no type error.

Each checker is also run once on a small file with a known finding, so that a checker which silently
checks nothing (a wrong configuration, a wrong folder) fails here instead of passing.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{module} is not installed: pip install -e '.[test]'")


def test_ruff_passes():
    _require("ruff")
    done = _run("ruff", "check", "--no-fix", ".")
    assert done.returncode == 0, f"ruff check found problems:\n{done.stdout}{done.stderr}"


def test_ruff_finds_a_planted_problem(tmp_path):
    _require("ruff")
    (tmp_path / "bad.py").write_text("import os\nsquare = lambda x: x * x\nprint(undefined_name)\n")
    done = _run("ruff", "check", "--no-fix", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
                str(tmp_path / "bad.py"), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    for code in ("F401", "E731", "F821"):
        assert code in done.stdout, f"{code} not reported:\n{done.stdout}"


def test_mypy_passes():
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (it is in the test extra: pip install -e '.[test]')")
    done = _run("mypy")  # the packages and options of pyproject.toml's [tool.mypy]
    assert done.returncode == 0, f"mypy found problems:\n{done.stdout}{done.stderr}"
    assert "no issues found in" in done.stdout and " 0 source files" not in done.stdout, done.stdout


def test_mypy_finds_a_planted_problem(tmp_path):
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed")
    (tmp_path / "bad.py").write_text("def half(x: int) -> int:\n    return x / 2\n")
    done = _run("mypy", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), "bad.py", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "bad.py:2: error: Incompatible return value type" in done.stdout, done.stdout
