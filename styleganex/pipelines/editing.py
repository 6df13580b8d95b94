"""Editing a latent: attribute directions, composed edits, strength sweeps, style mixing and domain
transfer.

Directions come from files of every public source (:mod:`styleganex.io.directions`: the official
``direction_dics.pt``, InterFaceGAN, LowRankGAN, GANSpace, our ``.safetensors``) or from the generator
itself (:mod:`styleganex.pipelines.sefa`). An edit adds ``strength * direction`` to some w+ rows, as the official
demo does (``w+ + s * d``); a :class:`~styleganex.io.directions.Direction` brings its source's default
rows, a bare tensor edits every row unless told otherwise.

>>> from styleganex.io.directions import Direction
>>> latent = model.encode(torch.zeros(1, 3, 64, 64))
>>> smile = Direction.of(torch.randn(model.config.style_dim), "smile", "official")
>>> pose = Direction.of(torch.randn(model.config.style_dim), "pose", "lowrankgan")   # rows 4-7
>>> both = apply_edits(latent, [Edit(smile, 1.5), Edit(pose, -2.0, "4-5")])
>>> one_by_one = apply_direction(apply_direction(latent, smile, 1.5), pose, -2.0, "4-5")
>>> torch.equal(both.wplus, one_by_one.wplus)
True
>>> strengths = sweep_strengths(*smile.strength_range, frames=5)     # [-2.0, -1.0, 0.0, 1.0, 2.0]
>>> sweep(model, latent, smile, strengths).shape                      # a filmstrip, decode only
torch.Size([5, 3, 256, 256])

Style mixing replaces w+ rows (by default 8 and up, the fine "colour/texture" layers) with a mapped
random style times 0.7, as the official demo does, or with the rows of another latent. Domain
transfer decodes the same w+ and f with another generator: ``model.swap_generator(path)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
import torch

from ..base.catalogue import NADA_GENERATORS, NADA_LICENSE, NADA_REPO  # noqa: F401 (re-exported)
from ..base.errors import DirectionError, InputError, check_cancel
from ..base.schema import shown_text
from ..base.validation import check_seed, check_strength
from ..io.directions import Direction, as_vector, read_directions
from ..model.latent import Latent
from ..model.network import MIX_SCALE, StyleGANEX

__all__ = [
    "MIX_FROM",
    "MIX_SCALE",
    "NADA_GENERATORS",
    "NADA_REPO",
    "DirectionError",
    "Edit",
    "apply_direction",
    "apply_edits",
    "e4e_offset",
    "ganspace_edit",
    "load_direction",
    "load_directions",
    "model_direction",
    "parse_layers",
    "select_direction",
    "style_mix",
    "sweep",
    "sweep_strengths",
]

MIX_FROM = 8
"""First w+ row replaced by style mixing in the released demo (rows 8..17 of 18)."""
MAX_SWEEP_FRAMES = 256
"""Most frames one sweep renders."""


# ---- reading directions ------------------------------------------------------------------------
def load_directions(path) -> dict[str, torch.Tensor]:
    """The vectors of a direction file: ``{name: [S] or [n_latent, S]}`` (float32).

    :func:`styleganex.io.directions.read_directions` gives the same with each source's defaults."""
    return {name: d.vector for name, d in read_directions(path).items()}


def model_direction(model: StyleGANEX) -> Direction:
    """The editing vector of an edit model (``editing_w[0]``, as ``video_editing.py`` adds it) as a
    direction of every row; InputError for a model without one (inversion, toonify, translation)."""
    if model.editing_w is None:
        raise InputError(f"this {model.variant} model has no editing vector (editing_w): it needs "
                         "styleganex_edit_age.pt or styleganex_edit_hair.pt")
    return Direction.of(model.editing_w[0].detach().to("cpu", torch.float32), "editing_w", "model")


def select_direction(directions: dict, name: str | None = None, where: str = "the direction file"):
    """One direction out of a dict of them: the one called ``name``, or the only one.

    Raises ``DirectionError`` for an unknown name, or when no name is given for a file of several."""
    if name is not None:
        if name not in directions:
            shown = list(directions)[:20]
            raise DirectionError(f"{where} has no direction {name!r}; it has {shown}"
                                 f"{' ...' if len(directions) > 20 else ''}")
        return directions[name]
    if len(directions) > 1:
        raise DirectionError(f"{where} holds {len(directions)} directions {list(directions)[:20]}: choose one by name")
    return next(iter(directions.values()))


def load_direction(path, name: str | None = None) -> Direction:
    """One :class:`~styleganex.io.directions.Direction` of a file (see :func:`select_direction`)."""
    return select_direction(read_directions(path), name, str(path))


# ---- applying ----------------------------------------------------------------------------
def parse_layers(layers, n_latent: int) -> list[int]:
    """Sorted unique w+ rows from None or ``"all"`` (every row), an int, an iterable of ints, or a string
    such as ``"0-7"`` or ``"0,2,4-6"`` (ranges inclusive). Negative indices count from the end."""
    if layers is None or (isinstance(layers, str) and layers.strip().lower() == "all"):
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
                    raise DirectionError(f"layer range {part!r} is out of range: "
                                         f"this latent has rows 0..{n_latent - 1}")
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


def _vector(direction) -> torch.Tensor:
    if isinstance(direction, Direction):
        return direction.vector
    return as_vector(direction, "direction", "apply_direction")


def _direction_rows(direction, latent: Latent) -> torch.Tensor:
    n, s = latent.wplus.shape[1:]
    d = _vector(direction)
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


def _default_layers(direction, layers):
    if layers is None and isinstance(direction, Direction):
        return None if direction.layers is None else list(direction.layers)
    return layers


def apply_direction(latent: Latent, direction, strength: float, layers=None) -> Latent:
    """A new latent with ``w+[:, l] += strength * direction[l]`` for the rows ``l`` in ``layers``
    (a direction in mode ``"e4e"``, a GANSpace component: see :func:`e4e_offset`).

    Args:
        latent: the latent to edit (not modified).
        direction: a :class:`~styleganex.io.directions.Direction`, or a tensor/array ``[S]`` (the same
            vector for every row) or ``[n_latent, S]``.
        strength: the factor s, ``|s| <= validation.MAX_STRENGTH`` (DirectionError otherwise).
        layers: rows to edit (see :func:`parse_layers`); None: the direction's default rows (every
            row for a bare tensor).

    Returns:
        A new :class:`~styleganex.model.latent.Latent`; f, noise and crop are shared with the input.
    """
    _check_wplus(latent)
    rows = parse_layers(_default_layers(direction, layers), latent.wplus.shape[1])
    d = _direction_rows(direction, latent)
    s = _strength(strength)
    wplus = latent.wplus.detach().clone()
    if isinstance(direction, Direction) and direction.mode == "e4e":
        wplus[:, rows] = wplus[:, rows] + e4e_offset(latent.wplus, direction, s)[:, None]
    elif s != 0.0:
        wplus[:, rows] = wplus[:, rows] + s * d[rows]
    if not torch.isfinite(wplus).all():
        name = f" {shown_text(direction.name)!r}" if isinstance(direction, Direction) else ""
        raise DirectionError(f"strength {s:g} times the direction{name} overflows w+ (NaN or infinite values): "
                             "the direction's values are far too large")
    return replace(latent, wplus=wplus, meta=dict(latent.meta))


def e4e_offset(wplus: torch.Tensor, direction: Direction, strength: float) -> torch.Tensor:
    """The offset e4e / PTI (``editings/ganspace.py``) add to the chosen rows for a GANSpace component:
    the coordinate of w+ row 0, centred by the PCA mean, along the unit component ``comp = vector / std``
    is measured in standard deviations, ``c = <w0 - mean, comp> / std``, and moved to ``strength``:
    ``(strength - c) * std * comp``.

    Args:
        wplus: ``[B, n_latent, S]``.
        direction: a direction in mode ``"e4e"`` (``vector`` = ``comp * std``, ``mean``, ``std``).
        strength: the target coordinate, in standard deviations.

    Returns:
        ``[B, S]``, one offset per latent of the batch, in ``wplus``'s dtype.
    """
    v = direction.vector.to(wplus.device, torch.float64)
    mean = direction.mean.to(wplus.device, torch.float64)
    coord = (wplus[:, 0].double() - mean) @ v / direction.std ** 2
    return ((float(strength) - coord)[:, None] * v).to(wplus.dtype)


@dataclass(frozen=True)
class Edit:
    """One edit: ``strength`` times ``direction`` on ``layers`` (None: the direction's default rows)."""

    direction: Any
    strength: float
    layers: Any = None


def _as_edit(edit, k: int) -> Edit:
    if isinstance(edit, Edit):
        return edit
    if isinstance(edit, (tuple, list)) and len(edit) in (2, 3):
        return Edit(*edit)
    raise DirectionError(f"edit {k} must be an Edit, (direction, strength) or (direction, strength, layers)")


def apply_edits(latent: Latent, edits) -> Latent:
    """Apply several edits in order, each with its own strength and rows.

    Args:
        latent: the latent to edit (not modified).
        edits: :class:`Edit` objects or ``(direction, strength[, layers])`` tuples.

    Returns:
        The same latent as :func:`apply_direction` applied once per edit, one after the other.
    """
    for k, edit in enumerate(edits):
        e = _as_edit(edit, k)
        latent = apply_direction(latent, e.direction, e.strength, e.layers)
    return latent


def ganspace_edit(directions: dict, component: int, start: int, stop: int, strength: float,
                  mode: str = "e4e") -> Edit:
    """The GANSpace edit ``(component, start, stop, strength)`` of a PCA file's directions.

    As in GANSpace and e4e, ``stop`` is exclusive (``(54, 7, 8, 20)`` edits row 7 only) and the
    strength is in standard deviations of the component.

    Args:
        directions: :func:`~styleganex.io.directions.read_directions` of a GANSpace PCA file.
        component, start, stop, strength: the edit as GANSpace's papers and e4e's notebooks list it.
        mode: ``"e4e"`` (default, as e4e / PTI's ``editings/ganspace.py``): the latent's coordinate
            along the component is moved *to* ``strength`` standard deviations (:func:`e4e_offset`);
            ``"add"``: ``w += strength * std[c] * comp[c]``.
    """
    d = select_direction(directions, f"pc{int(component)}", "the GANSpace file")
    if not 0 <= int(start) < int(stop):
        raise DirectionError(f"GANSpace rows {start}..{stop} (stop exclusive) select nothing")
    return Edit(d.with_mode(mode), strength, list(range(int(start), int(stop))))


# ---- sweeps ------------------------------------------------------------------------------------
def sweep_strengths(low: float, high: float, frames: int) -> list[float]:
    """``frames`` strengths evenly from ``low`` to ``high`` (both included)."""
    low, high = _strength(low), _strength(high)
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or not 1 <= frames <= MAX_SWEEP_FRAMES:
        raise DirectionError(f"frames must be a whole number in 1..{MAX_SWEEP_FRAMES}, got {frames!r}")
    if frames == 1:
        return [low]
    return [low + (high - low) * i / (frames - 1) for i in range(int(frames))]


def sweep(model: StyleGANEX, latent: Latent, direction, strengths, layers=None, *, frame: int = 0,
          noise: str = "auto", seed: int = 0, progress: Callable | None = None,
          cancel: Callable | None = None) -> torch.Tensor:
    """Render one frame of a latent at several strengths of a direction (a filmstrip), decode only.

    Args:
        model: the model that made the latent.
        latent: the (cached) latent; nothing is encoded again.
        direction: as in :func:`apply_direction`.
        strengths: the strengths, one image each (e.g. :func:`sweep_strengths`).
        layers: rows to edit; None: the direction's default rows.
        frame: which frame of the latent's batch.
        noise, seed: as in :func:`~styleganex.pipelines.encode_decode.decode_latent`.
        progress, cancel: called once per image.

    Returns:
        ``[len(strengths), 3, h, w]`` in 0..1 on the CPU.
    """
    from .encode_decode import decode_latent

    strengths = [_strength(s) for s in strengths]
    if not 1 <= len(strengths) <= MAX_SWEEP_FRAMES:
        raise DirectionError(f"a sweep renders 1..{MAX_SWEEP_FRAMES} strengths, got {len(strengths)}")
    _check_wplus(latent)
    if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)) or not 0 <= frame < latent.batch:
        raise DirectionError(f"frame {frame!r} is not in this latent's batch of {latent.batch}")
    one = latent.select(int(frame)) if latent.batch > 1 else latent
    apply_direction(one, direction, 0.0, layers)  # checks the direction and rows before any decoding
    images = []
    for i, s in enumerate(strengths):
        check_cancel(cancel)
        images.append(decode_latent(model, apply_direction(one, direction, s, layers), noise, seed=seed))
        if progress is not None:
            progress(i + 1, len(strengths), {"stage": "sweep", "strength": s})
    return torch.cat(images)


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


MIX_MODES = ("off", "random", "latent")
"""Style mixing of :func:`edit_latent`: none, a mapped random style, or another latent's rows."""
OWN_ROWS = -1
"""``rows_between(OWN_ROWS, OWN_ROWS, n)``: the direction's own rows."""


def rows_between(start: int, end: int, n_latent: int, names: tuple[str, str] = ("the first row", "the last row")
                 ) -> list[int] | None:
    """The inclusive w+ rows ``start..end`` (clipped to the latent), or None (the direction's own rows) when
    both are :data:`OWN_ROWS`: the row choice of the node's two number inputs (``names`` in messages).

    >>> rows_between(4, 7, 18), rows_between(OWN_ROWS, OWN_ROWS, 18), rows_between(10, 30, 18)[-1]
    ([4, 5, 6, 7], None, 17)
    """
    if start == OWN_ROWS and end == OWN_ROWS:
        return None
    if OWN_ROWS in (start, end):
        raise InputError(f"set both {names[0]} and {names[1]} to {OWN_ROWS} (the direction's own rows), or neither")
    lo, hi = min(start, n_latent - 1), min(end, n_latent - 1)
    if hi < lo:
        raise InputError(f"{names[1]} ({end}) is before {names[0]} ({start})")
    return list(range(lo, hi + 1))


def edit_latent(latent: Latent, direction=None, strength: float = 1.0, rows=None, *, model: StyleGANEX | None = None,
                mix: str = "off", mix_rows=None, mix_seed: int = 0, mix_scale: float = MIX_SCALE,
                mix_source: Latent | None = None) -> Latent:
    """One edit as the front ends offer it: a direction, then style mixing (the Apply Edit node and ``edit``).

    Args:
        latent: the latent to edit (not modified).
        direction: a :class:`~styleganex.io.directions.Direction` (or a tensor, see :func:`apply_direction`);
            None: no direction edit (strength 0 is none in mode ``"add"``; a GANSpace component in mode
            ``"e4e"`` is still moved, to the mean).
        strength, rows: as :func:`apply_direction` (rows None: the direction's own rows).
        model: the model the latent was made with; needed for ``mix="random"``.
        mix: one of :data:`MIX_MODES`.
        mix_rows: rows replaced by mixing (see :func:`parse_layers`; default: from :data:`MIX_FROM` to the end).
        mix_seed, mix_scale: the random style of ``mix="random"``.
        mix_source: the latent whose rows ``mix="latent"`` copies.

    Returns:
        A new :class:`~styleganex.model.latent.Latent`.
    """
    if mix not in MIX_MODES:
        raise InputError(f"mix must be one of {MIX_MODES}, got {mix!r}")
    if direction is not None:
        latent = apply_direction(latent, direction, strength, rows)
    if mix == "off":
        return latent
    if model is None:
        raise InputError("style mixing needs the model (the same checkpoint the latent was encoded with)")
    if mix == "latent" and mix_source is None:
        raise InputError("style mixing from a latent needs that latent (the style source)")
    return style_mix(model, latent, layers=mix_rows, seed=mix_seed, scale=mix_scale,
                     source=mix_source if mix == "latent" else None)
