"""Where model files live, and how to get the official ones.

Search order for a file name: an explicit path; ``$STYLEGANEX_MODELS``; ``./models/styleganex``.
In ComfyUI the pack registers ``ComfyUI/models/styleganex`` instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..base.catalogue import HUB_FILES_URL, HUB_FOLDER, HUB_REPO, OFFICIAL_FILES  # noqa: F401 (re-exported)
from ..base.errors import InputError


def models_dir() -> Path:
    return Path(os.environ.get("STYLEGANEX_MODELS", Path.cwd() / "models" / "styleganex"))


def find_model_file(name_or_path) -> Path | None:
    """An existing path, or the file of that name in the models folder; None when absent."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    q = models_dir() / p.name
    return q if q.is_file() else None


def fetch_official(name: str, dest: Path, progress=None, cancel=None, base_url: str | None = None) -> Path:
    """Stream an official file from the hub into ``dest`` (no extra package): written under a temporary
    name and renamed when complete, so a failed or cancelled download leaves nothing behind.

    Args:
        name: one of :data:`OFFICIAL_FILES`.
        dest: the models folder it goes to.
        progress: ``progress(done_bytes, total_bytes)`` (total 0 when the server does not say).
        cancel: returns True to stop (raises :class:`~styleganex.base.errors.Cancelled`).
        base_url: where the files are (default :data:`HUB_FILES_URL`; tests use a local ``file://`` folder).

    Returns:
        The path of the downloaded file. Only on explicit request; tests never reach the hub.
    """
    import urllib.request

    from ..base.errors import check_cancel

    if name not in OFFICIAL_FILES:
        raise InputError(f"{name} is not an official StyleGANEX file; one of {OFFICIAL_FILES}")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / name
    tmp = dest / f".{name}.download.partial"
    try:
        with urllib.request.urlopen((base_url or HUB_FILES_URL) + name, timeout=60) as response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while True:
                check_cancel(cancel)
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        if total and done != total:
            raise OSError(f"download of {name} stopped at {done} of {total} bytes")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
