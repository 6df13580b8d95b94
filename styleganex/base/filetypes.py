"""What kind of file a path holds, from its first bytes (never its name): the one test the checkpoint,
latent and direction readers use before choosing a safe loader.

>>> import numpy as np
>>> np.save("v.npy", np.zeros(3))
>>> sniff("v.npy")[0]
'npy'
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

__all__ = ["KINDS", "MAX_UNPACK_RATIO", "describe_bytes", "file_kind", "pickle_globals", "safe_torch_load", "sniff",
           "torch_load_message", "zip_names", "zip_size_problem"]

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


MAX_UNPACK_RATIO = 16
"""Most bytes a zip's members may unpack to per byte of the file (beyond :data:`MIN_UNPACK_ALLOWANCE`): PyTorch
files and ``np.savez`` store their members uncompressed (ratio 1), ``np.savez_compressed`` of real numbers
reaches about 1.1; a zip bomb reaches 1000."""
MIN_UNPACK_ALLOWANCE = 64 * 2 ** 20
"""Bytes any zip may unpack to whatever its size."""


def zip_size_problem(path, max_bytes: int | None = None) -> str | None:
    """Why the zip at ``path`` must not be unpacked, judged from the sizes its central directory declares
    (read before any member is), or None when it may be.

    Refused: members that would unpack to more than ``max_bytes`` in all, or to more than
    :data:`MAX_UNPACK_RATIO` times the file's size (beyond :data:`MIN_UNPACK_ALLOWANCE`). The readers
    (``zipfile``, hence ``np.load``) stop a member at its declared size, so these are the most that
    reading can unpack.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            declared = [info.file_size for info in archive.infolist()]
    except (zipfile.BadZipFile, ValueError):
        return None  # the readers report a corrupt zip themselves
    size = os.path.getsize(path)
    total = sum(declared)
    limit = max(MIN_UNPACK_ALLOWANCE, MAX_UNPACK_RATIO * size)
    if max_bytes is not None:
        limit = min(limit, max_bytes)
    if total > limit:
        return (f"{path} is a {size / 2 ** 20:.3g} MiB zip archive whose {len(declared)} member(s) would unpack to "
                f"{total / 2 ** 20:,.0f} MiB, more than the {limit / 2 ** 20:,.0f} MiB it may (refused before "
                "unpacking anything)")
    return None


def safe_torch_load(path, error: type[Exception] = ValueError, max_bytes: int | None = None):
    """``torch.load(path, map_location="cpu", weights_only=True)``, the one way the package reads ``.pt`` files.

    A zip-based file is first checked with :func:`zip_size_problem` (``max_bytes``: the most its members may
    unpack to), and torch's own warnings (e.g. about a file's pickle protocol) are silenced: a refusal is one
    ``error(message)`` (:func:`torch_load_message`), nothing else.
    """
    import warnings

    import torch

    if sniff(path)[0] == "zip":
        problem = zip_size_problem(path, max_bytes)
        if problem:
            raise error(problem)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torch(\.|$)")
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # weights_only refusals and torch's corrupt-file errors
            raise error(torch_load_message(path, e)) from e


def zip_names(path) -> list[str] | None:
    """The member names of a zip file (PyTorch's format, ``.npz``), or None when it is truncated or corrupt."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except zipfile.BadZipFile:
        return None


_SIGNATURES = (
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"RIFF", "a RIFF file (WEBP, WAV, AVI)"), (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"),
    (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", "a gzip archive"), (b"\x93NUMPY", "a NumPy .npy array"),
)
_TEXT_SIGNATURES = ((b"{", "a JSON file"), (b"<", "an HTML/XML/SVG text file"))


def file_kind(path, head: bytes | None = None) -> str | None:
    """The kind of file its first bytes (``head``, read when not given) show, e.g. ``"a PNG image"``,
    or None when they show none we know."""
    if head is None:
        with open(path, "rb") as fh:
            head = fh.read(64)
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    if head[4:8] == b"ftyp":
        return "an MP4/MOV video"
    for signature, kind in _TEXT_SIGNATURES:
        if head.lstrip().startswith(signature):
            return kind
    return None


def describe_bytes(path, head: bytes | None = None) -> str:
    """What a file is, for messages about a file that is not what was expected: its size and, where
    recognised from its first bytes (``head``, read when not given), its kind. Never its bytes (a message
    may be shown to whoever named the file).

    >>> from pathlib import Path
    >>> _ = Path("note.txt").write_text("hello")
    >>> describe_bytes("note.txt")
    '5 bytes of text'
    """
    size = os.path.getsize(path)
    if size == 0:
        return "the file is empty"
    if head is None:
        with open(path, "rb") as fh:
            head = fh.read(64)
    kind = file_kind(path, head)
    if kind is not None:
        return f"{size:,} bytes, it looks like {kind}"
    try:
        head.decode("utf-8")
        return f"{size:,} bytes of text"
    except UnicodeDecodeError:
        return f"{size:,} bytes of binary data"


_DATA_GLOBALS = ("torch.", "collections.OrderedDict", "builtins.set", "builtins.frozenset", "builtins.bytearray",
                 "_codecs.encode")
"""Python globals a tensor file's pickle may name (rebuilding tensors, storages and plain containers)."""


def pickle_globals(path, limit: int = 100_000) -> list[str] | None:
    """The Python globals (``module.name``) the pickles of a torch file ask for, read with ``pickletools``
    (opcodes are parsed, nothing is executed), or None when its bytes do not parse as a pickle at all.

    Reads a legacy (non-zip) file's pickles one after the other, or a zip file's ``data.pkl`` (call it
    only after :func:`zip_size_problem`); at most ``limit`` opcodes.
    """
    import io
    import pickletools

    try:
        if sniff(path)[0] == "zip":
            with zipfile.ZipFile(path) as archive:
                member = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
                if member is None:
                    return None
                stream = io.BytesIO(archive.read(member))
        else:
            with open(path, "rb") as fh:
                stream = io.BytesIO(fh.read(64 * 2 ** 20))
    except (OSError, zipfile.BadZipFile, ValueError):
        return None
    found: list[str] = []
    strings: list[str] = []
    parsed = False
    count = 0
    while count < limit:
        try:
            for op, arg, _ in pickletools.genops(stream):
                count += 1
                if op.name in ("GLOBAL", "INST"):
                    found.append(str(arg).replace(" ", "."))
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    found.append(".".join(strings[-2:]))
                elif isinstance(arg, str):
                    strings.append(arg)
                if count >= limit:
                    break
            parsed = True
        except Exception:  # noqa: BLE001 - not (or no longer) pickle opcodes: raw tensor data or damage
            break
    return found if parsed or found else None


def torch_load_message(path, e: Exception) -> str:
    """The message for a ``torch.load(weights_only=True)`` failure, without anything quoted from the file
    other than the name of a refused Python global (a dotted identifier): a file that asks for a Python
    global other than tensors' (which could run code) is told apart from one whose bytes are damaged."""
    msg = str(e)
    found = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([A-Za-z_][\w.]{0,120})", msg)
    asked = None
    if not found and "Unsupported global" not in msg and ("Weights only load failed" in msg
                                                          or "Unpickling" in type(e).__name__):
        # torch stopped at an opcode it does not read: look at the globals the pickle names without running it
        names = pickle_globals(path) or []
        asked = next((n for n in names if not n.startswith(_DATA_GLOBALS)), None)
    if found or "Unsupported global" in msg or asked:
        name = found.group(1) if found else asked
        valid = name is not None and re.fullmatch(r"[A-Za-z_][\w.]{0,120}", name)
        detail = f" (it asks for {name})" if valid else ""
        return (f"refused to load {path}: it contains pickled Python objects other than tensors and plain "
                f"containers{detail}; loading it could run code. StyleGANEX files hold only tensors and plain "
                f"dicts, lists and numbers")
    return (f"{path} is a truncated or corrupt PyTorch file: its data cannot be read as tensors "
            f"({type(e).__name__})")
