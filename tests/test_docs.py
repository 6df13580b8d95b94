"""The documentation runs: the examples in every module docstring (doctests) and the Python blocks of
README.md, against small random-weight models and scikit-image's astronaut photo.

The examples run in a folder laid out as a user's would be: ``models/styleganex/styleganex_inversion.pt``
and ``photo.jpg``; ``model`` is that checkpoint loaded, ``torch`` and ``styleganex`` are imported.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest
import torch
from PIL import Image

import styleganex
from styleganex.dev.testing import random_model, save_official_pt

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(m.name for m in pkgutil.walk_packages(styleganex.__path__, "styleganex.")
                 if m.name not in ("styleganex.__main__",))


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory):
    from skimage import data

    folder = tmp_path_factory.mktemp("user")
    (folder / "models" / "styleganex").mkdir(parents=True)
    save_official_pt(random_model("inversion", seed=21), folder / "models" / "styleganex" / "styleganex_inversion.pt")
    Image.fromarray(data.astronaut()).save(folder / "photo.jpg", quality=95)
    return folder


@pytest.fixture()
def namespace(user_folder, monkeypatch):
    monkeypatch.chdir(user_folder)
    monkeypatch.setenv("STYLEGANEX_MODELS", str(user_folder / "models" / "styleganex"))
    return {"torch": torch, "styleganex": styleganex,
            "model": styleganex.load_model(user_folder / "models" / "styleganex" / "styleganex_inversion.pt")}


@pytest.mark.parametrize("name", MODULES)
def test_module_docstring_examples_run(name, namespace):
    module = importlib.import_module(name)
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(module, name, globs={**vars(module), **namespace}):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples in {name} failed (output above)"


def test_modules_with_examples_have_doctests():
    """An example in a module docstring is a doctest (``>>>``), so it runs above; indented code without
    ``>>>`` would never be checked."""
    code_like = re.compile(r"^    \S.*(=|\(.*\))")
    offenders = []
    for name in MODULES:
        doc = importlib.import_module(name).__doc__ or ""
        if ">>>" not in doc and any(code_like.match(line) and "#" in line for line in doc.splitlines()):
            offenders.append(name)
    assert offenders == [], f"module docstrings with unchecked code examples: {offenders}"


def _readme_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_readme_python_blocks_run(namespace):
    blocks = _readme_blocks()
    assert blocks, "README.md has no ```python blocks"
    for i, block in enumerate(blocks):
        scope = {"__name__": f"readme_block_{i}"}
        exec(compile(block, f"README.md python block {i}", "exec"), scope)  # noqa: S102 - our own README


def test_readme_tree_and_package_docstrings_name_every_module():
    """The README maps every folder of the core; each folder's docstring names every module in it."""
    listed = set(re.findall(r"^\| `styleganex/(\w+)/`", (ROOT / "README.md").read_text(), flags=re.M))
    folders = {p.name for p in (ROOT / "styleganex").iterdir() if (p / "__init__.py").exists()}
    assert listed == folders, {"missing": sorted(folders - listed), "not a folder": sorted(listed - folders)}
    unnamed = []
    for folder in sorted(folders - {"commands"}):
        doc = importlib.import_module(f"styleganex.{folder}").__doc__ or ""
        unnamed += [f"styleganex.{folder}.{m.stem}" for m in sorted((ROOT / "styleganex" / folder).glob("*.py"))
                    if m.stem != "__init__" and f"styleganex.{folder}.{m.stem}" not in doc]
    assert not unnamed, f"modules their package's docstring does not name: {unnamed}"
