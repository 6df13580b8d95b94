"""The front doors of direction files, face selection, paste-back labels, latent fields, downloads and
messages, tried as a hostile or careless user would (issue 24): each through the door a user meets
(the library, the command line as a subprocess; the nodes in test_nodes.py), checking the error type,
that the message names the input, that nothing outside the output was written or changed, and that no
code in a file ran.

Models are small random ones (``styleganex.dev.testing.random_model``).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from styleganex.base.errors import DirectionError, InputError, StyleGANEXWarning
from styleganex.io.paths import fetch_official

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args, cwd=None):
    """``python -m styleganex ARGS`` in a subprocess: (status, stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "styleganex", *map(str, args)], capture_output=True, text=True,
                       env=env, cwd=cwd, timeout=300)
    return r.returncode, r.stdout, r.stderr


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


class _Evil:
    """Pickles to a call of ``os.system`` that would create the file ``PWNED`` (it must never run)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# ---- downloads ---------------------------------------------------------------------------------------
@pytest.fixture
def hub(tmp_path):
    d = tmp_path / "hub"
    d.mkdir()
    (d / "faceparsing.pth").write_bytes(b"weights" * 1000)
    return d


def test_download_never_writes_through_a_planted_link(hub, tmp_path):
    dest = tmp_path / "models"
    dest.mkdir()
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    # links at the old fixed temporary name and at the target itself, both pointing outside the folder
    (dest / ".faceparsing.pth.download.partial").symlink_to(outside)
    (dest / "faceparsing.pth").symlink_to(outside)
    path = fetch_official("faceparsing.pth", dest, base_url=hub.as_uri() + "/")
    assert outside.read_text() == "keep me"
    assert path == dest.resolve() / "faceparsing.pth" and not path.is_symlink() and path.is_file()
    assert path.read_bytes() == (hub / "faceparsing.pth").read_bytes()
    # the planted link is left alone (not followed, not written through); no temporary file is left
    assert sorted(p.name for p in dest.iterdir()) == [".faceparsing.pth.download.partial", "faceparsing.pth"]
    assert (dest / ".faceparsing.pth.download.partial").is_symlink()


def test_download_temporary_file_is_created_exclusively(hub, tmp_path, monkeypatch):
    import styleganex.io.paths as paths

    dest = tmp_path / "models"
    dest.mkdir()
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    seen = []
    real_open = os.open

    def spying_open(path, flags, *rest):
        seen.append((Path(path), flags))
        return real_open(path, flags, *rest)

    monkeypatch.setattr(paths.os, "open", spying_open)
    fetch_official("faceparsing.pth", dest, base_url=hub.as_uri() + "/")
    (tmp_file, flags), = seen
    assert tmp_file.parent == dest.resolve() and tmp_file.name.endswith(".download.partial")
    assert flags & os.O_CREAT and flags & os.O_EXCL and flags & os.O_NOFOLLOW
    assert outside.read_text() == "keep me"
