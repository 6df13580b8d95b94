"""Writing results so that nothing half-written, broken or unexpected is ever left behind.

Every file is first written to a hidden temporary name beside its target; only when all files of
a result are written are they renamed into place. On any error (or Ctrl-C) the temporary files are
removed and no target is touched.

Images are written in the format their extension names (:data:`IMAGE_FORMATS`; any other extension is
refused, never silently written as PNG) and never when they hold NaN or infinite values. Front ends
check their output paths before the work starts (:func:`check_output_file`, :func:`check_output_folder`)
and refuse outputs that name one of their inputs (:func:`check_not_inputs`) unless asked to overwrite;
an input is then replaced only by the complete new file (the rename at the end).

>>> image_format("result.jpg")
'JPEG'
>>> image_format("result.gif")
Traceback (most recent call last):
...
styleganex.base.errors.OutputPathError: result.gif: images are written as .bmp, ..., .webp; '.gif' is not one of them
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable, Iterable

from .errors import OutputPathError

IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF",
                 ".bmp": "BMP"}
"""Image extensions the writers produce, and the Pillow format each is written in."""


def format_for(path, formats: dict[str, str], what: str = "images") -> str:
    """The format ``formats`` gives ``path``'s extension; OutputPathError listing the extensions otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in formats:
        shown = f"'{suffix}'" if suffix else "no extension"
        raise OutputPathError(f"{path}: {what} are written as {', '.join(sorted(formats))}; {shown} is not one of them")
    return formats[suffix]


def image_format(path) -> str:
    """The Pillow format for ``path``'s extension; OutputPathError for an extension not in :data:`IMAGE_FORMATS`."""
    return format_for(path, IMAGE_FORMATS)


def _check_folder_writable(folder: Path) -> None:
    """The nearest existing ancestor of ``folder`` is a folder we may write in (missing ones are created)."""
    probe = folder if str(folder) else Path(".")
    while not probe.exists():
        if probe.is_symlink():
            raise OutputPathError(f"cannot create the folder {folder}: {probe} is a broken link")
        probe = probe.parent
    if not probe.is_dir():
        raise OutputPathError(f"cannot create the folder {folder}: {probe} is a file")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot write in {probe}: permission denied (a read-only folder?)")


def check_output_file(path, kind: str = "file") -> Path:
    """Check before any work that ``path`` can be written as a file: not an existing folder, and its folder
    exists or can be created. ``kind="image"`` also checks the extension (:func:`image_format`)."""
    p = Path(path)
    if p.is_dir():
        raise OutputPathError(f"{p} is a folder; give a file name")
    if kind == "image":
        image_format(p)
    _check_folder_writable(p.parent)
    return p


def check_output_folder(path) -> Path:
    """Check before any work that ``path`` is a folder, or can be created as one."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise OutputPathError(f"{p} is a file; give a folder for the outputs")
    _check_folder_writable(p)
    return p


def check_not_inputs(outputs: Iterable, inputs: Iterable, overwrite: bool = False) -> None:
    """Refuse outputs that are one of the inputs (after resolving links), unless ``overwrite``.

    With ``overwrite`` the input is replaced only once the new file is complete (``write_all`` renames)."""
    if overwrite:
        return
    sources = {os.path.realpath(p): p for p in inputs if p is not None and os.path.exists(p)}
    for out in outputs:
        if out is not None and os.path.realpath(out) in sources:
            raise OutputPathError(f"the output {out} is the input {sources[os.path.realpath(out)]}: it would be "
                                  "overwritten. Choose another output name, or pass --overwrite (overwrite=True) to "
                                  "replace it once the new file is complete")


def write_all(items: Iterable[tuple[Path, Callable[[Path], None]]]) -> None:
    """``items``: (target path, write(temporary path)). All targets appear together, or none."""
    done = []
    try:
        for path, write in items:
            path = Path(path)
            if path.is_dir():
                raise OutputPathError(f"{path} is a folder; give a file name")
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
            done.append((tmp, path))
            write(tmp)
        for tmp, path in done:
            os.replace(tmp, path)
    finally:
        for tmp, _ in done:
            if tmp.exists():
                tmp.unlink()
