"""Editing a latent: attribute directions, style mixing and domain transfer.

Directions (InterFaceGAN-style, as used by the official demo: ``w+ + s * direction``) are read by
:func:`load_directions` from

* ``.npy``: one array, ``[S]`` / ``[1, S]`` (one vector for every w+ row, e.g. InterFaceGAN's
  ``[1, 512]`` boundaries) or ``[n_latent, S]`` / ``[1, n_latent, S]`` (one vector per row); it is
  named after the file (``smile.npy`` -> ``"smile"``). Object (pickled) arrays are refused;
* ``.npz``: several such arrays, named by their keys;
* ``.pt`` / ``.pth``: a tensor (named after the file) or a dict ``{name: tensor}`` (the official
  ``direction_dics.pt``); read with ``torch.load(weights_only=True)``, so no pickled code runs;
* ``.safetensors``: ``{name: tensor}``.

S is the style dimension (512 for the released models), n_latent the number of w+ rows (18).
Every direction comes back as float32 ``[S]`` or ``[n_latent, S]``; sizes are checked against the
latent when applied.

Style mixing replaces w+ rows (by default 8 and up, the fine "colour/texture" layers) with a mapped
random style times 0.7, as the official demo does, or with the rows of another latent. Domain
transfer decodes the same w+ and f with another generator: ``model.swap_generator(path)``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .errors import DirectionError
from .latent import Latent
from .model import MIX_SCALE, StyleGANEX
from .validation import check_seed, check_strength

__all__ = [
    "MIX_FROM",
    "MIX_SCALE",
    "DirectionError",
    "apply_direction",
    "apply_edits",
    "load_direction",
    "load_directions",
    "parse_layers",
    "select_direction",
    "style_mix",
]

MIX_FROM = 8
"""First w+ row replaced by style mixing in the released demo (rows 8..17 of 18)."""


# ---- reading directions ------------------------------------------------------------------
def _as_direction(value, name: str, where) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise DirectionError(f"{where}: direction {name!r} is an object array, not numbers")
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        raise DirectionError(f"{where}: direction {name!r} is a {type(value).__name__}, not a tensor/array")
    if not (value.is_floating_point() or value.dtype in (torch.int32, torch.int64)):
        raise DirectionError(f"{where}: direction {name!r} has dtype {value.dtype}, expected float")
    t = value.detach().to("cpu", torch.float32)
    while t.ndim > 1 and t.shape[0] == 1:
        t = t[0]
    if t.ndim not in (1, 2) or t.numel() == 0:
        raise DirectionError(f"{where}: direction {name!r} has shape {tuple(value.shape)}; expected "
                             f"[S], [1, S], [n_latent, S] or [1, n_latent, S]")
    if not torch.isfinite(t).all():
        raise DirectionError(f"{where}: direction {name!r} contains NaN or infinite values")
    return t.contiguous()


def load_directions(path) -> dict[str, torch.Tensor]:
    """Read editing directions from a file (formats in the module docstring): ``{name: [S] or
    [n_latent, S]}``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"direction file not found: {path}")
    suffix = path.suffix.lower()
    stem = path.stem
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head[:6] == b"\x93NUMPY":
        suffix = ".npy"
    elif head[:4] == b"PK\x03\x04" and suffix not in (".pt", ".pth", ".npz"):
        suffix = ".pt"
    elif len(head) >= 9 and head[8:9] == b"{":
        suffix = ".safetensors"
    raw: dict
    try:
        if suffix == ".npy":
            raw = {stem: np.load(path, allow_pickle=False)}
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                raw = {k: z[k] for k in z.files}
        elif suffix in (".pt", ".pth", ".bin") or head[:1] == b"\x80":
            obj = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(obj, (torch.Tensor, np.ndarray)):
                raw = {stem: obj}
            elif isinstance(obj, dict):
                raw = {str(k): v for k, v in obj.items()}
            else:
                raise DirectionError(f"{path} holds a {type(obj).__name__}; expected a tensor or "
                                     f"a dict of named tensors")
        elif suffix == ".safetensors":
            from safetensors.torch import load_file
            raw = dict(load_file(str(path)))
        else:
            raise DirectionError(f"{path}: unknown direction format {suffix!r}; use .npy, .npz, .pt "
                                 f"or .safetensors")
    except DirectionError:
        raise
    except Exception as e:  # numpy/torch/safetensors refusals of corrupt or pickled files
        msg = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        raise DirectionError(f"{path} is not a readable direction file: {msg}") from e
    if not raw:
        raise DirectionError(f"{path} holds no directions")
    return {name: _as_direction(v, name, path) for name, v in raw.items()}


def select_direction(directions: dict[str, torch.Tensor], name: str | None = None,
                     where: str = "the direction file") -> torch.Tensor:
    """One direction out of :func:`load_directions`' dict: the one called ``name``, or the only one.

    Raises ``DirectionError`` for an unknown name, or when no name is given for a file of several."""
    if name is not None:
        if name not in directions:
            raise DirectionError(f"{where} has no direction {name!r}; it has {sorted(directions)}")
        return directions[name]
    if len(directions) > 1:
        raise DirectionError(f"{where} holds {len(directions)} directions {sorted(directions)}: choose one by name")
    return next(iter(directions.values()))


def load_direction(path, name: str | None = None) -> torch.Tensor:
    """:func:`select_direction` of :func:`load_directions` ``(path)``."""
    return select_direction(load_directions(path), name, str(path))


# ---- applying ----------------------------------------------------------------------------
def parse_layers(layers, n_latent: int) -> list[int]:
    """Sorted unique w+ rows from None (all), an int, an iterable of ints, or a string such as
    ``"0-7"`` or ``"0,2,4-6"`` (ranges inclusive). Negative indices count from the end."""
    if layers is None:
        return list(range(n_latent))
    if isinstance(layers, str):
        rows = []
        for part in layers.replace(" ", "").split(","):
            m = re.fullmatch(r"(\d+)-(\d+)", part)
            if m:
                lo, hi = int(m.group(1)), int(m.group(2))
                if hi < lo:
                    raise DirectionError(f"layer range {part!r} is empty (end before start)")
                if hi >= n_latent:
                    raise DirectionError(f"layer range {part!r} is out of range: this latent has rows 0..{n_latent - 1}")
                rows.extend(range(lo, hi + 1))
            elif re.fullmatch(r"-?\d+", part):
                rows.append(int(part))
            elif part:
                raise DirectionError(f"cannot read layers {layers!r}: use e.g. '0-7' or '0,2,4-6'")
        layers = rows
    elif isinstance(layers, (int, np.integer)) and not isinstance(layers, bool):
        layers = [int(layers)]
    try:
        layers = list(layers)
    except TypeError:
        raise DirectionError(f"layers must be None, an int, a list of ints or a string like '0-7', "
                             f"got {layers!r}") from None
    out = set()
    for i in layers:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise DirectionError(f"layers must be whole numbers, got {i!r}")
        j = int(i) + n_latent if int(i) < 0 else int(i)
        if not 0 <= j < n_latent:
            raise DirectionError(f"layer {int(i)} is out of range: this latent has rows 0..{n_latent - 1}")
        out.add(j)
    if not out:
        raise DirectionError("no layers selected")
    return sorted(out)


def _direction_rows(direction, latent: Latent) -> torch.Tensor:
    n, s = latent.wplus.shape[1:]
    d = _as_direction(direction, "direction", "apply_direction")
    if d.ndim == 1:
        if d.shape[0] != s:
            raise DirectionError(f"direction has {d.shape[0]} values but this latent's style "
                                 f"dimension is {s}: it is for another model")
        d = d.expand(n, s)
    elif tuple(d.shape) != (n, s):
        raise DirectionError(f"direction has shape {tuple(d.shape)} but this latent needs [{s}] or "
                             f"[{n}, {s}]: it is for another model")
    return d.to(latent.wplus.device, latent.wplus.dtype)


def _strength(strength, name: str = "strength") -> float:
    """A finite strength within +-``validation.MAX_STRENGTH``."""
    return check_strength(strength, name, DirectionError)


def _check_wplus(latent) -> None:
    if not isinstance(latent, Latent):
        raise TypeError(f"expected a styleganex.Latent, got {type(latent).__name__}")
    if not torch.isfinite(latent.wplus).all():
        raise DirectionError("the latent's w+ contains NaN or infinite values")


def apply_direction(latent: Latent, direction, strength: float, layers=None) -> Latent:
    """A new latent with ``w+[:, l] += strength * direction[l]`` for the rows ``l`` in ``layers``
    (None: all; see :func:`parse_layers`). ``direction`` is ``[S]`` (same vector for every row) or
    ``[n_latent, S]``. Other rows, f, noise and crop are left as they are. ``|strength|`` must be at most
    ``validation.MAX_STRENGTH`` (DirectionError otherwise)."""
    _check_wplus(latent)
    rows = parse_layers(layers, latent.wplus.shape[1])
    d = _direction_rows(direction, latent)
    s = _strength(strength)
    wplus = latent.wplus.detach().clone()
    if s != 0.0:
        wplus[:, rows] = wplus[:, rows] + s * d[rows]
        if not torch.isfinite(wplus).all():
            raise DirectionError(f"strength {s:g} times this direction overflows w+ (NaN or infinite values): the "
                                 "direction's values are far too large")
    return replace(latent, wplus=wplus, meta=dict(latent.meta))


def apply_edits(latent: Latent, edits) -> Latent:
    """Apply several ``(direction, strength[, layers])`` edits in order."""
    for k, edit in enumerate(edits):
        if not isinstance(edit, (tuple, list)) or len(edit) not in (2, 3):
            raise DirectionError(f"edit {k} must be (direction, strength) or (direction, strength, layers)")
        latent = apply_direction(latent, edit[0], edit[1], edit[2] if len(edit) == 3 else None)
    return latent


def style_mix(model: StyleGANEX, latent: Latent, layers=None, seed: int = 0, scale: float = MIX_SCALE,
              source=None) -> Latent:
    """Replace w+ rows ``layers`` (default ``range(8, n_latent)``) of every frame.

    Without ``source``: with ``scale`` times the mapped style of one random z drawn from ``seed``
    (the same style for every frame of the batch), as the official demo does. With ``source`` (a
    ``Latent`` or a w+ tensor ``[1 or B, n_latent, S]``): with that latent's rows (``scale`` unused).
    """
    _check_wplus(latent)
    n, s = latent.wplus.shape[1:]
    if (n, s) != (model.n_latent, model.config.style_dim):
        raise DirectionError(f"latent w+ is {(n, s)} but this model needs "
                             f"{(model.n_latent, model.config.style_dim)}")
    rows = parse_layers(range(min(MIX_FROM, n), n) if layers is None else layers, n)
    wplus = latent.wplus.detach().clone()
    if source is None:
        sc = _strength(scale, "scale")
        gen = torch.Generator().manual_seed(check_seed(seed))
        mixed = model.mixing_styles(1, sc, generator=gen)
    else:
        mixed = source.wplus if isinstance(source, Latent) else source
        if not isinstance(mixed, torch.Tensor) or mixed.ndim != 3 or tuple(mixed.shape[1:]) != (n, s) \
                or mixed.shape[0] not in (1, latent.batch):
            raise DirectionError(f"style source must be a Latent or w+ [1 or {latent.batch}, {n}, {s}], "
                                 f"got {tuple(getattr(mixed, 'shape', ()))}")
        if not torch.isfinite(mixed).all():
            raise DirectionError("style source contains NaN or infinite values")
    mixed = mixed.detach().to(wplus.device, wplus.dtype).expand(latent.batch, -1, -1)
    wplus[:, rows] = mixed[:, rows]
    return replace(latent, wplus=wplus, meta=dict(latent.meta))
