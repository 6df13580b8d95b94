"""The layers of the core: every import in ``styleganex/`` runs downward, and the model loads alone.

Layers, lowest first (a module may import its own layer and the ones below it, never above):
``base`` < ``model`` < ``io`` < ``faces`` < ``pipelines`` < ``training``, ``jobs`` < ``dev`` <
``commands`` and the package's top-level modules (``cli``, ``__main__``, ``__init__``).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "styleganex"
LAYERS = {"base": 0, "model": 1, "io": 2, "faces": 3, "pipelines": 4, "training": 5, "jobs": 5, "dev": 6,
          "commands": 7}
TOP = 7  # cli.py, __main__.py, __init__.py


def _layer_of(module: str) -> int:
    """Layer of a dotted module under ``styleganex`` (``styleganex.model.ops`` -> 1)."""
    parts = module.split(".")
    if len(parts) == 1:
        return TOP
    return LAYERS.get(parts[1], TOP)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in a file, function-level ones included; imports under
    ``if TYPE_CHECKING:`` are annotations only and do not count."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
                   for stmt in block.body for n in ast.walk(stmt)}
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from . import faces` names modules, not attributes
            subs = [f"{target}.{a.name}" for a in node.names]
            found += [(node.lineno, s if (ROOT / Path(*s.split("."))).exists()
                       or (ROOT / Path(*s.split("."))).with_suffix(".py").exists() else target) for s in subs]
    return [(line, mod) for line, mod in found if mod == "styleganex" or mod.startswith("styleganex.")]


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_layer_is_known():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders <= set(LAYERS), f"subpackages without a layer: {sorted(folders - set(LAYERS))}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_downward(path):
    here = _layer_of(_module_name(path))
    upward = [f"line {line}: {mod}" for line, mod in _imports(path) if _layer_of(mod) > here]
    assert not upward, f"{path.relative_to(ROOT)} imports from higher layers: {upward}"


def test_layer_checker_sees_an_upward_import(tmp_path):
    """The checker itself: a model module importing faces is caught (relative and lazy forms)."""
    fake = PACKAGE / "model" / "_probe_upward.py"
    try:
        fake.write_text("def f():\n    from ..faces import prepare_face\n    return prepare_face\n")
        assert [m for _, m in _imports(fake)] == ["styleganex.faces"]
        assert _layer_of("styleganex.faces") > _layer_of(_module_name(fake))
    finally:
        fake.unlink()


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(m for m in sys.modules if m.startswith('styleganex'))))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_the_model_loads_alone():
    """Importing the model (and loading a checkpoint with it) brings in no faces, io formats, pipelines or
    front ends."""
    loaded = _loaded_after("import styleganex.model")
    assert "styleganex.model.network" in loaded
    above = sorted(m for m in loaded if _layer_of(m) > LAYERS["model"] and m != "styleganex")
    assert not above, f"import styleganex.model loads {above}"


def test_faces_load_without_pipelines_or_front_ends():
    loaded = _loaded_after("import styleganex.faces")
    above = sorted(m for m in loaded if _layer_of(m) > LAYERS["faces"] and m != "styleganex")
    assert not above, f"import styleganex.faces loads {above}"


def test_runtime_never_imports_dev():
    """Nothing below ``dev`` (the runtime) imports the test models, the parity runner or the demos."""
    offenders = [f"{p.relative_to(ROOT)}: {m}" for p in _modules() if _layer_of(_module_name(p)) < LAYERS["dev"]
                 for _, m in _imports(p) if m.startswith("styleganex.dev")]
    assert not offenders


def test_the_public_surface_resolves_lazily():
    """``import styleganex`` loads no layer; every public name then resolves (in a fresh interpreter)."""
    assert _loaded_after("import styleganex") == {"styleganex"}
    code = ("import styleganex; missing = [n for n in styleganex.__all__ if not hasattr(styleganex, n)]; "
            "print(missing)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_front_ends_import_only_the_public_surface():
    """The nodes import the core through ``styleganex`` alone (its subpackages only as whole modules)."""
    offenders = []
    for path in sorted((ROOT / "nodes").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 2 and (node.module or "").startswith("styleganex."):
                offenders.append(f"{path.name}:{node.lineno} from {'.' * node.level}{node.module}")
    assert not offenders, offenders
