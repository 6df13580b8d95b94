"""Packaging for people who pip-install the library, and for ComfyUI users: torch stays theirs, every
declared dependency is used, CI tests one pinned torch."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
# distribution -> the module name the code imports (or finds with importlib.util.find_spec)
IMPORT_NAMES = {"pillow": "PIL", "scikit-image": "skimage", "dlib-bin": "dlib",
                "face-recognition-models": "face_recognition_models"}


def _toml_list(text: str, key: str) -> list[str]:
    """The strings of the TOML array ``key = [...]`` (enough for this pyproject.toml)."""
    m = re.search(rf"^{re.escape(key)}\s*=\s*\[(.*?)\]", text, flags=re.S | re.M)
    assert m, key
    return re.findall(r'"([^"]+)"', m.group(1))


def _pyproject() -> str:
    return (ROOT / "pyproject.toml").read_text()


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    return pins


def test_torch_is_a_range_that_admits_the_ci_pins():
    deps = {Requirement(r).name.lower(): Requirement(r) for r in _toml_list(_pyproject(), "dependencies")}
    pins = _constraints()
    assert pins == {"torch": "2.14.1", "torchvision": "0.29.1"}, pins
    for name in ("torch", "torchvision"):
        spec = deps[name].specifier
        assert not any(s.operator in ("==", "===") for s in spec), f"{name} is pinned in pyproject.toml: {spec}"
        assert Version(pins[name]) in spec, (name, spec)
        # a local CUDA build of the tested release is kept, not replaced
        assert Version(pins[name] + "+cu130") in spec, (name, spec)


def test_ci_installs_with_the_constraints():
    makefile = (ROOT / "Makefile").read_text()
    assert "-c constraints.txt" in makefile
    harness = (ROOT / "tests" / "comfyui" / "harness.py").read_text()
    assert '"-c", str(CONSTRAINTS)' in harness


def _imported_modules() -> set[str]:
    found = set()
    for path in list((ROOT / "styleganex").rglob("*.py")) + list((ROOT / "nodes").rglob("*.py")):
        text = path.read_text()
        found |= set(re.findall(r"^\s*(?:import|from)\s+([A-Za-z_][A-Za-z0-9_]*)", text, flags=re.M))
        found |= set(re.findall(r"find_spec\(\s*[\"']([A-Za-z_][A-Za-z0-9_]*)[\"']", text))
    return found


def test_every_declared_dependency_is_used():
    text = _pyproject()
    declared = _toml_list(text, "dependencies") + _toml_list(text, "faces") + _toml_list(text, "video")
    names = {Requirement(r).name.lower() for r in declared}
    used = _imported_modules()
    unused = sorted(n for n in names if IMPORT_NAMES.get(n, n.replace("-", "_")) not in used)
    assert not unused, f"declared but never imported by styleganex/ or nodes/: {unused}"


def test_comfyui_requirements_are_used_and_leave_torch_out():
    lines = [line.split("#", 1)[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    names = {Requirement(line).name.lower() for line in lines if line}
    assert not names & {"torch", "torchvision", "torchaudio"}, names
    used = _imported_modules()
    assert not sorted(n for n in names if IMPORT_NAMES.get(n, n.replace("-", "_")) not in used)
