"""Editing directions from every public source, recognised from the file's content and read safely.

A direction is a w+ offset: editing adds ``strength * vector`` to some w+ rows. Each source comes
with the strength range and the rows its authors use (:data:`SOURCES`), which become the defaults of
the :class:`Direction` objects read from its files:

============  ==================================================================  =========  ========
source        what the file holds (S = style width, 512; n = w+ rows, 18)        strength   rows
============  ==================================================================  =========  ========
official      ``direction_dics.pt`` of the StyleGANEX web demo: a dict             -2..2      all
              ``{name: tensor}``, each ``[S]``, ``[1, S]``, ``[n, S]`` or
              ``[1, n, S]`` (used as ``w+ + s * d``)
interfacegan  one vector ``[S]`` / ``[1, S]`` (the same offset on every row) or    -3..3      all
              per-row ``[n, S]`` / ``[1, n, S]``: InterFaceGAN ``*_boundary.npy``
              (float64 ``[1, 512]``), the e4e / PTI / StyleGAN-NADA ``.pt`` tensors,
              a ``.npz`` or ``.safetensors`` of such arrays
lowrankgan    LowRankGAN ``directions/ffhq1024/*.npy``: float64 ``[1, S]`` of unit   -4..4      4-7
              norm. InterFaceGAN's boundaries have the same layout; they are told
              apart by name (InterFaceGAN's are ``*boundary*.npy``)
ganspace      a PCA dict ``comp [C, 1, S]`` or ``[C, S]``, ``mean [1, S]`` or       -10..10    all
              ``[S]``, ``std [C]`` (e4e's ``ganspace_pca/*.pt``; GANSpace's own
              ``.npz`` names them ``lat_comp``, ``lat_mean``, ``lat_stdev``).
              Component k is the direction ``pc<k>`` = ``comp[k] * std[k]``; the
              strength is GANSpace's sigma (in standard deviations), used as
              e4e / PTI do (``editings/ganspace.py``, mode ``"e4e"``): the
              w+ coordinate along the component is moved *to* ``s * std``
              (``s = 0``: to the mean); mode ``"add"`` adds ``s * std * comp``
sefa          top eigenvectors of the generator's modulation weights                -15..15   the rows
              (:mod:`styleganex.pipelines.sefa`), unit norm ``[S]``                                      factorised
============  ==================================================================  =========  ========

Our own ``.safetensors`` (written by :func:`save_directions`, e.g. by ``python -m styleganex sefa``)
holds ``{name: [S] or [n, S]}`` float32 tensors and, in its metadata, each direction's source,
strength range and rows, which are read back as they were saved.

Files are untrusted: ``.pt`` files are read with ``torch.load(weights_only=True)``, ``.npy``/``.npz``
with ``allow_pickle=False`` and ``.safetensors`` with ``safetensors``, so no pickled code ever runs; a zip
(``.npz``, ``.pt``) is refused from the sizes its central directory declares before any member is unpacked
(``base.filetypes.zip_size_problem``). Names with control characters (NUL, BEL, ESC, carriage return, ...)
are refused and notes are escaped, so nothing from a file acts on a terminal or a list it is shown in.
InterFaceGAN's published ``*_boundary.npy`` files were made for PGGAN and StyleGAN1 (Z space unless the
name ends in ``_w``): they are read, with a :class:`~styleganex.base.errors.StyleGANEXWarning` naming the
file and the generator it was made for. A stored strength range is clamped to what an edit accepts
(``base.validation.MAX_STRENGTH``).
The container is recognised from the first bytes (not the file name's suffix); shapes, dtypes
(floating point only) and values (finite) are checked, and anything else is one
:class:`~styleganex.base.errors.DirectionError` naming the file and saying what was found.

>>> import torch
>>> torch.save({"smile": torch.randn(18, 512), "pose": torch.randn(1, 512)}, "direction_dics.pt")
>>> dirs = read_directions("direction_dics.pt")
>>> list(dirs), dirs["smile"].source, dirs["smile"].strength_range, dirs["smile"].layers
(['smile', 'pose'], 'official', (-2.0, 2.0), None)
>>> tuple(dirs["pose"].vector.shape)
(512,)
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from types import EllipsisType
from typing import Any, Iterable

import numpy as np
import torch

from ..base.catalogue import DIRECTIONS_FILE, DIRECTIONS_LICENSE, DIRECTIONS_URL
from ..base.errors import DirectionError, StyleGANEXWarning
from ..base.filetypes import describe_bytes, safe_torch_load, sniff, zip_names, zip_size_problem
from ..base.schema import as_float, as_int, as_list, has_control, parse_json, shown_text
from ..base.validation import MAX_STRENGTH

__all__ = [
    "DIRECTION_EXTENSIONS",
    "FORMAT",
    "MODES",
    "OFFICIAL_FILE",
    "OFFICIAL_NAMES",
    "OFFICIAL_URL",
    "SOURCES",
    "Direction",
    "DirectionError",
    "Source",
    "as_vector",
    "interfacegan_origin",
    "read_directions",
    "save_directions",
]

FORMAT = "styleganex-directions"
FORMAT_VERSION = "1"
DIRECTION_EXTENSIONS = (".npy", ".npz", ".pt", ".pth", ".safetensors")
"""File name suffixes of direction files (the content decides the format; these are what folders list)."""

OFFICIAL_NAMES = ("smile", "open_eye", "open_mouth", "pose", "reduce_age", "glasses", "light_hair_color", "slender")
"""The directions of the web demo's ``direction_dics.pt`` (hub repo ``PKUWilliamYang/StyleGANEX``)."""
OFFICIAL_FILE, OFFICIAL_URL, OFFICIAL_LICENSE = DIRECTIONS_FILE, DIRECTIONS_URL, DIRECTIONS_LICENSE

MAX_FILE_BYTES = 512 * 2 ** 20
MAX_STYLE_DIM = 8192
MAX_ROWS = 64
MAX_DIRECTIONS = 10_000
MAX_NAME = 200
MAX_NOTE = 200
MODES = ("add", "e4e")
"""How a direction edits: ``"add"``: ``w+ += s * vector`` on its rows; ``"e4e"`` (GANSpace components, as
e4e / PTI's ``editings/ganspace.py``): the coordinate of w+ row 0, centred by the PCA ``mean``, along the
unit component is moved to ``s`` standard deviations, the same offset added to every chosen row."""


@dataclass(frozen=True)
class Source:
    """Where a kind of direction comes from, and how its authors use it."""

    name: str
    title: str
    strength_range: tuple[float, float]
    layers: tuple[int, ...] | None  # None: every w+ row
    shapes: str


SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("official", "StyleGANEX web demo (direction_dics.pt)", (-2.0, 2.0), None,
           "dict {name: [S] | [1, S] | [n, S] | [1, n, S]}"),
    Source("interfacegan", "InterFaceGAN-style vector (InterFaceGAN, e4e, PTI, StyleGAN-NADA)", (-3.0, 3.0), None,
           "[S] | [1, S] (every row) or [n, S] | [1, n, S] (per row); .npy, .pt, .npz, .safetensors"),
    Source("lowrankgan", "LowRankGAN", (-4.0, 4.0), (4, 5, 6, 7),
           ".npy float64 [1, S], unit norm (not named *boundary*)"),
    Source("ganspace", "GANSpace PCA component (x its standard deviation)", (-10.0, 10.0), None,
           "comp [C, 1, S] | [C, S], mean [1, S] | [S], std [C] (.pt dict; .npz lat_comp/lat_mean/lat_stdev)"),
    Source("sefa", "SeFa closed-form factorisation of the generator", (-15.0, 15.0), None,
           "computed from the model (styleganex.pipelines.sefa); unit-norm [S]"),
    Source("model", "the checkpoint's own editing vector (styleganex_edit_age / edit_hair)", (-2.0, 2.0), None,
           "editing_w[0] of the checkpoint, [n, S]"),
)}


@dataclass(frozen=True, eq=False)
class Direction:
    """One editing direction and how to use it by default.

    Attributes:
        vector: float32 ``[S]`` (the same offset on every chosen row) or ``[n_latent, S]`` (per row).
        name: its name in the file (or the file's stem for a single vector).
        source: a key of :data:`SOURCES`.
        strength_range: the strengths the source's authors use, ``(low, high)``.
        layers: the w+ rows edited by default, or None for every row.
        note: free text (e.g. a SeFa eigenvalue).
        mode: one of :data:`MODES` (``"add"`` but for GANSpace components read from a PCA file).
        mean: for ``"e4e"``: the PCA mean, float32 ``[S]``.
        std: for ``"e4e"``: the component's standard deviation (``vector`` is the unit component times it).
    """

    vector: torch.Tensor
    name: str = "direction"
    source: str = "interfacegan"
    strength_range: tuple[float, float] = SOURCES["interfacegan"].strength_range
    layers: tuple[int, ...] | None = None
    note: str = ""
    mode: str = "add"
    mean: torch.Tensor | None = None
    std: float | None = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise DirectionError(f"direction {shown_text(self.name)!r}: mode must be one of {MODES}, got {self.mode!r}")
        if self.mode == "e4e":
            ok = (isinstance(self.mean, torch.Tensor) and self.vector.ndim == 1
                  and tuple(self.mean.shape) == tuple(self.vector.shape) and self.std is not None
                  and math.isfinite(self.std) and self.std > 0)
            if not ok:
                raise DirectionError(f"direction {shown_text(self.name)!r}: mode 'e4e' needs a [S] vector, the PCA "
                                     "mean [S] and a positive std")

    def with_mode(self, mode: str) -> Direction:
        """The same direction editing by ``mode`` (:data:`MODES`): e.g. ``"add"`` for a GANSpace component
        moved by ``s * std * comp`` instead of to ``s * std``."""
        if mode == self.mode:
            return self
        if mode == "e4e" and self.mean is None:
            raise DirectionError(f"direction {shown_text(self.name)!r} has no PCA mean: only GANSpace components "
                                 "read from their PCA file edit in mode 'e4e'")
        return replace(self, mode=mode)

    @classmethod
    def of(cls, vector, name: str, source: str, layers: Iterable[int] | None | EllipsisType = ...,
           note: str = "") -> Direction:
        """A direction with ``source``'s defaults (``layers`` given: those rows instead)."""
        src = SOURCES[source]
        rows = src.layers if layers is ... else (None if layers is None else tuple(int(i) for i in layers))
        return cls(as_vector(vector, name, "direction"), name, source, src.strength_range, rows, shown_text(note))

    @property
    def style_dim(self) -> int:
        return int(self.vector.shape[-1])

    def describe(self) -> str:
        """One line: name, source, shape, default strengths and rows."""
        rows = "all rows" if self.layers is None else f"rows {_rows_text(self.layers)}"
        lo, hi = self.strength_range
        extra = f", {shown_text(self.note)}" if self.note else ""
        extra += ", moves the component's coordinate to s x std (e4e)" if self.mode == "e4e" else ""
        return (f"{shown_text(self.name)}: {self.source}, shape {list(self.vector.shape)}, strength {lo:g}..{hi:g}, "
                f"{rows}{extra}")


def _rows_text(rows) -> str:
    rows = list(rows)
    if rows and rows == list(range(rows[0], rows[-1] + 1)):
        return f"{rows[0]}-{rows[-1]}" if len(rows) > 1 else str(rows[0])
    return ",".join(map(str, rows))


# ---- one vector --------------------------------------------------------------------------------
def as_vector(value: Any, name: str, where: Any) -> torch.Tensor:
    """``value`` (tensor or array) as a float32 ``[S]`` or ``[n, S]`` direction, checked.

    Leading size-1 dimensions are dropped (``[1, S]`` -> ``[S]``, ``[1, n, S]`` -> ``[n, S]``).
    Raises ``DirectionError`` for object arrays, non-float dtypes, other shapes and NaN/inf.
    """
    if isinstance(value, np.ndarray):
        if value.dtype.kind != "f":
            raise DirectionError(f"{where}: direction {name!r} is a {value.dtype} array; expected floating point")
        if value.ndim == 0:  # np.ascontiguousarray would make it [1]
            raise DirectionError(f"{where}: direction {name!r} is a single number (a 0-d array); expected [S], "
                                 "[1, S], [n, S] or [1, n, S]")
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        raise DirectionError(f"{where}: direction {name!r} is a {type(value).__name__}, not a tensor or array")
    if not value.is_floating_point():
        raise DirectionError(f"{where}: direction {name!r} has dtype {value.dtype}; expected floating point")
    shape = tuple(value.shape)
    t = value.detach()
    while t.ndim > 1 and t.shape[0] == 1:
        t = t[0]
    ok = t.ndim in (1, 2) and 1 <= t.shape[-1] <= MAX_STYLE_DIM and (t.ndim == 1 or t.shape[0] <= MAX_ROWS)
    if not ok or t.numel() == 0:
        raise DirectionError(f"{where}: direction {name!r} has shape {list(shape)}; expected [S], [1, S], "
                             f"[n, S] or [1, n, S] (S = style width, n = w+ rows)")
    t = t.to("cpu", torch.float32)
    if not torch.isfinite(t).all():
        raise DirectionError(f"{where}: direction {name!r} contains NaN or infinite values")
    return t.contiguous().clone()


def _check_name(name: Any, where) -> str:
    if not isinstance(name, str) or not name or len(name) > MAX_NAME or has_control(name):
        raise DirectionError(f"{where}: direction names must be one-line strings of 1..{MAX_NAME} characters "
                             f"without control characters, found {shown_text(str(name)[:60])!r}")
    return name


# ---- reading containers ------------------------------------------------------------------------
def _container(path: Path) -> str:
    """'npy', 'npz', 'torch' or 'safetensors', from the first bytes."""
    kind, head = sniff(path)
    if kind == "empty":
        raise DirectionError(f"{path} is empty, not a direction file")
    if kind == "zip":
        names = zip_names(path)
        if names is None:
            raise DirectionError(f"{path} is a truncated or corrupt zip file")
        problem = zip_size_problem(path, MAX_FILE_BYTES)
        if problem:
            raise DirectionError(problem)
        if any(n.endswith("data.pkl") for n in names):
            return "torch"
        if names and all(n.endswith(".npy") for n in names):
            return "npz"
        raise DirectionError(f"{path} is a zip archive ({len(names)} members) but neither a PyTorch file nor a .npz")
    if kind in ("npy", "safetensors"):
        return kind
    if kind == "pickle":
        return "torch"  # legacy (non-zip) torch.save
    raise DirectionError(f"{path} is not a direction file: it is none of .npy, .npz, .pt or .safetensors "
                         f"({describe_bytes(path, head)})")


def _read_raw(path: Path, kind: str) -> tuple[Any, dict]:
    """The file's object (array/tensor or dict of them) and its safetensors metadata."""
    try:
        if kind == "npy":
            return np.load(path, allow_pickle=False), {}
        if kind == "npz":
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}, {}
        if kind == "safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
                return {k: fh.get_tensor(k) for k in fh.keys()}, meta
        return safe_torch_load(path, DirectionError, MAX_FILE_BYTES), {}
    except DirectionError:
        raise
    except Exception as e:  # numpy / safetensors refusals of pickled or corrupt files
        # the libraries' messages may quote the file: only our own words
        if "pickle" in str(e).lower():
            raise DirectionError(f"refused to read {path}: it holds pickled Python objects, not only numbers "
                                 "(loading it could run code)") from None
        raise DirectionError(f"{path} is not a readable direction file (truncated or corrupt: "
                             f"{type(e).__name__})") from None


def _found(obj: Any) -> str:
    """A short description of what a file holds, for error messages."""
    if isinstance(obj, (torch.Tensor, np.ndarray)):
        return f"a {type(obj).__name__} of shape {list(obj.shape)}"
    if isinstance(obj, dict):
        parts = []
        for k, v in list(obj.items())[:8]:
            what = list(v.shape) if isinstance(v, (torch.Tensor, np.ndarray)) else type(v).__name__
            parts.append(f"{str(k)[:40]!r}: {what}")
        more = ", ..." if len(obj) > 8 else ""
        return f"a dict {{{', '.join(parts)}{more}}}"
    return f"a {type(obj).__name__}"


# ---- recognising the source --------------------------------------------------------------------
_GANSPACE_KEYS = (("comp", "mean", "std"), ("lat_comp", "lat_mean", "lat_stdev"))


def _ganspace_keys(obj: dict) -> tuple[str, str, str] | None:
    for keys in _GANSPACE_KEYS:
        if all(k in obj for k in keys):
            return keys
    return None


def _ganspace(obj: dict, keys, path) -> dict[str, Direction]:
    comp_k, mean_k, std_k = keys
    comp, mean, std = (_float_tensor(obj[k], k, path) for k in keys)
    if comp.ndim == 3 and comp.shape[1] == 1:
        comp = comp[:, 0]
    if comp.ndim != 2 or not 1 <= comp.shape[0] <= MAX_DIRECTIONS or not 1 <= comp.shape[1] <= MAX_STYLE_DIM:
        raise DirectionError(f"{path}: GANSpace '{comp_k}' has shape {list(obj[comp_k].shape)}; expected "
                             f"[C, 1, S] or [C, S]")
    c, s = comp.shape
    if tuple(std.reshape(-1).shape) != (c,):
        raise DirectionError(f"{path}: GANSpace '{std_k}' has shape {list(std.shape)}; expected [{c}] "
                             f"(one per component of '{comp_k}')")
    if mean.numel() != s:
        raise DirectionError(f"{path}: GANSpace '{mean_k}' has shape {list(mean.shape)}; expected [1, {s}] or [{s}]")
    std = std.reshape(-1)
    bad = [k for k in range(c) if not float(std[k]) > 0]
    if bad:
        raise DirectionError(f"{path}: GANSpace '{std_k}' is {float(std[bad[0]]):g} for component {bad[0]} "
                             f"({len(bad)} component(s) in all): a standard deviation must be positive, or the "
                             "component edits nothing")
    mean = mean.reshape(-1).contiguous()
    src = SOURCES["ganspace"]
    out = {}
    for k in range(c):
        name = f"pc{k}"
        vector = as_vector(comp[k] * std[k], name, f"{path} ('{comp_k}' x '{std_k}')")
        out[name] = Direction(vector, name, "ganspace", src.strength_range, src.layers,
                              f"component {k}, std {float(std[k]):.4g}", "e4e", mean, float(std[k]))
    return out


def _float_tensor(value, name, path) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        if value.dtype.kind != "f":
            raise DirectionError(f"{path}: '{name}' is a {value.dtype} array; expected floating point")
        value = torch.from_numpy(np.ascontiguousarray(value)) if value.ndim else torch.from_numpy(value.copy())
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        raise DirectionError(f"{path}: '{name}' is {_found(value)}; expected a floating-point tensor")
    if value.ndim == 0:
        raise DirectionError(f"{path}: '{name}' is a single number (a 0-d array); expected an array")
    t = value.detach().to("cpu", torch.float32)
    if not torch.isfinite(t).all():
        raise DirectionError(f"{path}: '{name}' contains NaN or infinite values")
    return t


def interfacegan_origin(stem: str) -> str | None:
    """The generator and latent space an InterFaceGAN boundary file was made for, from its name
    (``pggan_celebahq_smile_boundary``, ``stylegan_ffhq_age_w_boundary``, ...), or None for other names.

    InterFaceGAN published boundaries for PGGAN and StyleGAN1 only, in Z space unless the name ends in
    ``_w`` (StyleGAN1's W); none is a StyleGAN2 w+ direction.
    """
    words = stem.lower()
    if not words.endswith("boundary") or words.startswith("stylegan2"):
        return None
    space = "W" if words.endswith("_w_boundary") else "Z"
    dataset = words.split("_")[1].upper().replace("CELEBAHQ", "CelebA-HQ") if words.count("_") >= 2 else ""
    on = f" ({dataset})" if dataset else ""
    if words.startswith("pggan"):
        return f"PGGAN{on}, Z space"
    if words.startswith("stylegan"):
        return f"StyleGAN1{on}, {space} space"
    return "PGGAN or StyleGAN1 (InterFaceGAN's published boundaries), Z space unless the name ends in _w"


def _single(value, path: Path) -> dict[str, Direction]:
    """A file holding one array: InterFaceGAN-style, or LowRankGAN (float64 unit-norm [1, S])."""
    name = shown_text(path.stem)[:MAX_NAME] or "direction"
    source = "interfacegan"
    shape = tuple(value.shape)
    if isinstance(value, np.ndarray) and value.dtype == np.float64 and len(shape) == 2 and shape[0] == 1:
        norm = float(np.linalg.norm(value))
        if abs(norm - 1.0) < 1e-4 and "boundary" not in name.lower():
            source = "lowrankgan"
    vector = as_vector(value, name, path)
    note = ""
    origin = interfacegan_origin(name)
    if origin is not None:
        note = f"InterFaceGAN boundary for {origin}, not StyleGAN2 w+"
        warnings.warn(f"{path} looks like an InterFaceGAN boundary, made for {origin}: not for the StyleGAN2 "
                      "w+ space of StyleGANEX. It is read as a w+ direction, but the edit may not change what "
                      "its name says", StyleGANEXWarning, stacklevel=3)
    return {name: Direction.of(vector, name, source, note=note)}


def _vectors(obj: dict, path: Path, source: str) -> dict[str, Direction]:
    if not obj:
        raise DirectionError(f"{path} holds no directions (an empty dict)")
    if len(obj) > MAX_DIRECTIONS:
        raise DirectionError(f"{path} holds {len(obj)} entries, more than {MAX_DIRECTIONS}")
    out = {}
    for key, value in obj.items():
        name = _check_name(key, path)
        if not isinstance(value, (torch.Tensor, np.ndarray)):
            raise DirectionError(f"{path} is not a direction file: it holds {_found(obj)}; expected "
                                 f"{{name: tensor}} (as direction_dics.pt), a GANSpace PCA dict "
                                 f"(comp/mean/std) or one tensor")
        out[name] = Direction.of(as_vector(value, name, path), name, source)
    widths = {d.style_dim for d in out.values()}
    if len(widths) > 1:
        raise DirectionError(f"{path}: its directions have different style widths {sorted(widths)}")
    return out


def _ours(obj: dict, meta: dict, path: Path) -> dict[str, Direction]:
    where = f"{path} (directions metadata)"
    info = parse_json(meta.get("directions", ""), where)
    if not isinstance(info, dict):
        raise DirectionError(f"{where} must be a JSON object, found {type(info).__name__}")
    if set(info) != set(obj):
        raise DirectionError(f"{where} describes {sorted(info)[:8]} but the file holds tensors {sorted(obj)[:8]}")
    out = {}
    for name, entry in info.items():  # the saved order (safetensors sorts its tensors by name)
        _check_name(name, path)
        tensor = obj[name]
        if not isinstance(entry, dict):
            raise DirectionError(f"{where}: entry {name!r} must be an object, found {type(entry).__name__}")
        source = entry.get("source")
        if source not in SOURCES:
            raise DirectionError(f"{where}: entry {name!r} has source {source!r}; expected one of {list(SOURCES)}")
        try:
            lo, hi = (as_float(v, f"{name}.strength[{i}]", where, -1e4, 1e4)
                      for i, v in enumerate(as_list(entry.get("strength"), f"{name}.strength", where, 2)))
            layers = entry.get("layers")
            if layers is not None:
                layers = tuple(as_int(v, f"{name}.layers[{i}]", where, 0, MAX_ROWS - 1)
                               for i, v in enumerate(as_list(layers, f"{name}.layers", where, max_length=MAX_ROWS)))
        except DirectionError:
            raise
        except ValueError as e:  # schema's InputError is a ValueError but not a DirectionError
            raise DirectionError(str(e)) from None
        lo, hi = max(lo, -MAX_STRENGTH), min(hi, MAX_STRENGTH)  # what an edit accepts
        if not lo < hi:
            raise DirectionError(f"{where}: entry {name!r} has strength range {lo:g}..{hi:g} (within the "
                                 f"edit's +-{MAX_STRENGTH:g}); low must be below high")
        note = shown_text(str(entry.get("note", ""))[:MAX_NOTE])
        vector = as_vector(tensor, name, path)
        mode, mean, std = _read_mode(entry, name, vector, where)
        out[name] = Direction(vector, name, source, (lo, hi), tuple(sorted(set(layers))) if layers else None, note,
                              mode, mean, std)
    if not out:
        raise DirectionError(f"{path} holds no directions")
    return out


def _read_mode(entry: dict, name: str, vector: torch.Tensor, where: str):
    """``(mode, mean, std)`` of a saved entry (``"add"``, None, None when it has no mode)."""
    mode = entry.get("mode", "add")
    if mode not in MODES:
        raise DirectionError(f"{where}: entry {name!r} has mode {shown_text(mode)!r}; expected one of {MODES}")
    if mode == "add":
        return mode, None, None
    try:
        std = as_float(entry.get("std"), f"{name}.std", where, 0.0, 1e30, low_open=True)
        values = as_list(entry.get("mean"), f"{name}.mean", where, vector.shape[-1], max_length=MAX_STYLE_DIM)
        mean = torch.tensor([as_float(v, f"{name}.mean[{i}]", where) for i, v in enumerate(values)],
                            dtype=torch.float32)
    except DirectionError:
        raise
    except ValueError as e:
        raise DirectionError(str(e)) from None
    if vector.ndim != 1 or not torch.isfinite(mean).all():
        raise DirectionError(f"{where}: entry {name!r} in mode 'e4e' needs a [S] vector and a finite mean")
    return mode, mean, std


def read_directions(path) -> dict[str, Direction]:
    """Every direction in a file, in the file's order, with its source's defaults.

    Args:
        path: a direction file of any source in the module docstring (the suffix does not matter).

    Returns:
        ``{name: Direction}``; one vector alone is named after the file's stem.

    Raises:
        FileNotFoundError: no such file.
        DirectionError: anything that is not a direction file, naming the file and what it holds.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"direction file not found: {path}")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise DirectionError(f"{path} is {size / 2 ** 20:.0f} MiB, more than a direction file can be "
                             f"({MAX_FILE_BYTES // 2 ** 20} MiB)")
    kind = _container(path)
    obj, meta = _read_raw(path, kind)
    if meta.get("format") == FORMAT:
        return _ours(obj, meta, path)
    if isinstance(obj, (torch.Tensor, np.ndarray)):
        return _single(obj, path)
    if isinstance(obj, dict):
        keys = _ganspace_keys(obj)
        if keys is not None:
            return _ganspace(obj, keys, path)
        # a torch dict of named tensors is the layout of the web demo's direction_dics.pt
        return _vectors(obj, path, "official" if kind == "torch" else "interfacegan")
    raise DirectionError(f"{path} is not a direction file: it holds {_found(obj)}; expected one tensor, "
                         f"{{name: tensor}} (as direction_dics.pt) or a GANSpace PCA dict (comp/mean/std)")


# ---- writing our format ------------------------------------------------------------------------
def save_directions(path, directions) -> Path:
    """Write directions as our ``.safetensors`` (atomically), with each one's source, strength range
    and rows in the metadata.

    Args:
        path: the target file.
        directions: ``{name: Direction}`` or a list of :class:`Direction` (names must be unique).

    Returns:
        The path written.
    """
    from safetensors.torch import save_file

    from ..base.outputs import write_all

    items = list(directions.values()) if isinstance(directions, dict) else list(directions)
    if not items:
        raise DirectionError("no directions to save")
    tensors, info = {}, {}
    for d in items:
        if not isinstance(d, Direction):
            raise TypeError(f"save_directions takes styleganex.io.directions.Direction objects, got {type(d).__name__}")
        name = _check_name(d.name, "save_directions")
        if name in tensors:
            raise DirectionError(f"save_directions: two directions are called {name!r}")
        if d.source not in SOURCES:
            raise DirectionError(f"save_directions: {name!r} has unknown source {d.source!r}")
        lo, hi = (float(v) for v in d.strength_range)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise DirectionError(f"save_directions: {name!r} has strength range {lo}..{hi}")
        tensors[name] = as_vector(d.vector, name, "save_directions")
        entry: dict[str, Any] = {"source": d.source, "strength": [lo, hi],
                                 "layers": None if d.layers is None else [int(i) for i in d.layers], "note": d.note}
        if d.mode == "e4e" and d.mean is not None and d.std is not None:
            entry.update(mode="e4e", std=float(d.std), mean=[float(v) for v in d.mean.tolist()])
        info[name] = entry
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "directions": json.dumps(info)}
    path = Path(path)
    write_all([(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))])
    return path

