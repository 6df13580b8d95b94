"""What kind of file a path holds, from its first bytes (never its name): the one test the checkpoint,
latent and direction readers use before choosing a safe loader.

>>> import numpy as np
>>> np.save("v.npy", np.zeros(3))
>>> sniff("v.npy")[0]
'npy'
"""

from __future__ import annotations

import zipfile
from pathlib import Path

__all__ = ["KINDS", "sniff", "zip_names"]

KINDS = ("empty", "zip", "npy", "safetensors", "pickle", "unknown")
"""What :func:`sniff` tells apart: zip (PyTorch's format and ``.npz``), ``.npy``, ``.safetensors``, a legacy
(non-zip) ``torch.save`` pickle, and anything else."""


def sniff(path) -> tuple[str, bytes]:
    """``(kind, first 16 bytes)`` of a file; ``kind`` is one of :data:`KINDS`."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(16)
    if not head:
        return "empty", head
    if head[:4] == b"PK\x03\x04":
        return "zip", head
    if head[:6] == b"\x93NUMPY":
        return "npy", head
    if len(head) >= 9 and head[8:9] == b"{":
        # safetensors: an 8-byte little-endian header length, then the JSON header. That length may start
        # with 0x80 like a pickle; a pickle's bytes read as a length are far beyond the file's size.
        if head[:1] != b"\x80" or int.from_bytes(head[:8], "little") + 8 <= path.stat().st_size:
            return "safetensors", head
    if head[:1] == b"\x80":
        return "pickle", head
    return "unknown", head


def zip_names(path) -> list[str] | None:
    """The member names of a zip file (PyTorch's format, ``.npz``), or None when it is truncated or corrupt."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except zipfile.BadZipFile:
        return None
