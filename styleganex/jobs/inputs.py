"""The inputs of a batch job: a folder, a glob pattern or a list file, each input with its relative name.

>>> items = list_inputs("photos/", IMAGE_SUFFIXES)  # doctest: +SKIP
>>> items[0].source, items[0].rel                            # doctest: +SKIP
(PosixPath('photos/a/one.jpg'), PurePosixPath('a/one.jpg'))

The relative name is what output names follow, so a tree of inputs gives the same tree of outputs:

* ``FOLDER``: every file under it (recursively) whose extension is one the command reads; names relative
  to the folder. Hidden files and folders (``.name``) are left out: the project's temporary outputs are
  hidden files.
* ``GLOB`` (a pattern with ``*``, ``?`` or ``[``; ``**`` for any depth): the files it matches; names
  relative to the pattern's fixed leading folders (``photos/**/*.jpg`` -> relative to ``photos``).
* ``LIST.txt`` (a ``.txt`` file): one path per line (blank lines and ``#`` comments skipped; relative
  paths are relative to the list's folder); names relative to the deepest folder the listed files share.

The order is sorted by relative name (then by path), so every process of a job sees the same list and
takes the same share of it (:mod:`styleganex.jobs.shard`). A listed file that does not exist is still an
item: it fails with its own error in the log, like a corrupt one, and the others go on.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..base.errors import InputError

__all__ = ["IMAGE_SUFFIXES", "LATENT_SUFFIXES", "VIDEO_SUFFIXES", "InputItem", "list_inputs"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
"""Photo extensions a folder or glob picks up for the photo commands."""
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm")
"""Video extensions a folder or glob picks up for ``video``."""
LATENT_SUFFIXES = (".safetensors", ".pt")
"""Latent file extensions a folder or glob picks up for ``edit``."""

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class InputItem:
    """One input of a batch job.

    source: the file to read.
    rel: its name relative to the inputs' root (POSIX form); outputs follow it.
    """

    source: Path
    rel: PurePosixPath


def _visible(rel: PurePosixPath) -> bool:
    return not any(part.startswith(".") for part in rel.parts)


def _wanted(path: Path, suffixes) -> bool:
    return path.suffix.lower() in suffixes


def _from_folder(folder: Path, suffixes) -> list[InputItem]:
    items = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            path = Path(dirpath) / name
            rel = PurePosixPath(path.relative_to(folder).as_posix())
            if _visible(rel) and _wanted(path, suffixes) and path.is_file():
                items.append(InputItem(path, rel))
    return items


def _glob_root(pattern: str) -> Path:
    """The pattern's leading folders that hold no wildcard (``photos/**/*.jpg`` -> ``photos``)."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if _GLOB_CHARS & set(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _from_glob(pattern: str, suffixes) -> list[InputItem]:
    root = _glob_root(pattern)
    items = []
    for match in glob.glob(pattern, recursive=True):
        path = Path(match)
        if not path.is_file():
            continue
        rel = PurePosixPath(Path(os.path.relpath(path, root)).as_posix())
        if ".." in rel.parts:
            rel = PurePosixPath(path.name)
        if _visible(rel) and (not suffixes or _wanted(path, suffixes)):
            items.append(InputItem(path, rel))
    return items


def _from_list(list_file: Path) -> list[InputItem]:
    try:
        text = list_file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{list_file} is not a text file of paths (one per line)") from None
    paths = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path = Path(line)
        paths.append(path if path.is_absolute() else list_file.parent / path)
    if not paths:
        return []
    absolute = [os.path.abspath(p) for p in paths]
    root = os.path.commonpath([os.path.dirname(p) for p in absolute])
    return [InputItem(p, PurePosixPath(Path(os.path.relpath(a, root)).as_posix())) for p, a in zip(paths, absolute)]


def list_inputs(spec: str | os.PathLike, suffixes=IMAGE_SUFFIXES) -> list[InputItem]:
    """The inputs ``spec`` names (a folder, a glob pattern or a ``.txt`` list; see the module docstring),
    sorted by relative name.

    Args:
        spec: ``FOLDER``, ``GLOB`` or ``LIST.txt``.
        suffixes: lower-case extensions a folder or glob picks up (a list file names its files itself).

    Returns:
        The :class:`InputItem` list, sorted by ``rel``.

    Raises:
        InputError: nothing matches, the spec names no folder, pattern or list, or two inputs have the
        same relative name (their outputs would collide).
    """
    text = os.fspath(spec)
    path = Path(text)
    if path.is_dir():
        items, what = _from_folder(path, suffixes), f"the folder {text}"
    elif path.is_file() and path.suffix.lower() == ".txt":
        items, what = _from_list(path), f"the list {text}"
    elif _GLOB_CHARS & set(text):
        items, what = _from_glob(text, suffixes), f"the pattern {text!r}"
    elif path.is_file():
        items, what = [InputItem(path, PurePosixPath(path.name))], text
    else:
        raise InputError(f"--inputs {text}: no such folder, list file (.txt) or file, and not a glob pattern")
    if not items:
        raise InputError(f"--inputs: {what} holds no input file ({', '.join(suffixes)})")
    items.sort(key=lambda item: (str(item.rel), str(item.source)))
    seen: dict[PurePosixPath, Path] = {}
    for item in items:
        if item.rel in seen:
            raise InputError(f"--inputs: {seen[item.rel]} and {item.source} have the same name {item.rel}, so "
                             "their outputs would collide")
        seen[item.rel] = item.source
    return items
