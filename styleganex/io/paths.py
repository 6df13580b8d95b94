"""Where model files live, and how to get the official ones.

Search order for a file name: an explicit path; ``$STYLEGANEX_MODELS``; ``./models/styleganex``.
In ComfyUI the pack registers ``ComfyUI/models/styleganex`` instead.
"""

from __future__ import annotations

import os
import stat
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

    The temporary file is created exclusively (``O_CREAT | O_EXCL | O_NOFOLLOW``, a fresh random name)
    inside the folder, so a file or link placed there beforehand is never opened or written through;
    after the rename the model file must be the very file written (a regular file, not a link).

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
    folder = dest.resolve()
    target = folder / name
    tmp = _exclusive_temp(folder, name)
    written = None
    try:
        with os.fdopen(tmp[1], "wb") as out:
            with urllib.request.urlopen((base_url or HUB_FILES_URL) + name, timeout=60) as response:
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
            out.flush()
            written = os.fstat(out.fileno())
        if total and done != total:
            raise OSError(f"download of {name} stopped at {done} of {total} bytes")
        os.replace(tmp[0], target)
    finally:
        if written is None or os.path.lexists(tmp[0]):
            _remove_own(tmp[0], written)
    _check_renamed(target, folder, written)
    return target


def _exclusive_temp(folder: Path, name: str) -> tuple[Path, int]:
    """A new temporary file in ``folder``: ``(path, fd)``; never an existing file or link."""
    import secrets

    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(16):
        path = folder / f".{name}.{secrets.token_hex(8)}.download.partial"
        try:
            return path, os.open(path, flags, 0o644)
        except FileExistsError:
            continue
    raise OSError(f"cannot create a temporary file for {name} in {folder}")


def _remove_own(path: Path, written) -> None:
    """Remove the temporary ``path`` if it is still the file this download created (or a leftover of it)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if written is None or (st.st_dev, st.st_ino) == (written.st_dev, written.st_ino) or stat.S_ISLNK(st.st_mode):
        os.unlink(path)  # unlinks a link itself, never what it points to


def _check_renamed(target: Path, folder: Path, written) -> None:
    """After the rename: ``target`` is the regular file just written, inside ``folder``."""
    st = os.lstat(target)
    same = written is not None and (st.st_dev, st.st_ino) == (written.st_dev, written.st_ino)
    if not stat.S_ISREG(st.st_mode) or not same or target.resolve().parent != folder:
        if stat.S_ISLNK(st.st_mode) or same:
            os.unlink(target)
        raise InputError(f"the download of {target.name} into {folder} was replaced while it was written "
                         "(the folder is changed by someone else); nothing was kept")
