"""SeFa (Shen and Zhou, "Closed-Form Factorization of Latent Semantics in GANs", CVPR 2021): editing
directions computed from the loaded generator's own weights, with no data and no download.

A w+ row reaches the image only through the style modulation (an equalised linear map S -> C_in) of
the layers that read it. For the chosen rows, SeFa stacks these weight matrices into ``A``
(``[sum of C_in, S]``), normalises every row of ``A`` to unit length, and takes the eigenvectors of
``A^T A`` with the largest eigenvalues: the directions of w that change the modulations most. As in
SeFa's StyleGAN2 code, row i uses the modulated convolution that reads it (``conv1`` for row 0,
``convs[i-1]`` for the next ones) and the last row, read only by the last ToRGB, uses that ToRGB.
Eigenvectors are unit vectors; each one's sign is fixed so that its largest entry (in absolute value)
is positive. Edits apply them to the rows they were computed from, at strengths -15..15 by default
(SeFa's StyleGAN2 range).

Results are cached per generator and row set, keyed on the content of the weights (a digest of the
stacked matrix), so weights changed in place (``.data`` written, as ComfyUI's patches do) are
factorised again; NaN or infinite weights are refused every time.

>>> dirs = sefa_directions(model, layers="0-7", top_k=3)
>>> list(dirs)
['sefa0', 'sefa1', 'sefa2']
>>> d = dirs["sefa0"]
>>> d.source, d.layers, round(float(d.vector.norm()), 4)
('sefa', (0, 1, 2, 3, 4, 5, 6, 7), 1.0)
"""

from __future__ import annotations

import hashlib
import threading
import weakref

import torch

from ..base.errors import DirectionError
from ..io.directions import Direction
from ..model.generator import Generator
from ..model.network import StyleGANEX
from .editing import parse_layers

__all__ = ["factorize", "modulations", "sefa_directions", "stacked_weights"]

_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _generator(model) -> Generator:
    if isinstance(model, StyleGANEX):
        return model.decoder
    if isinstance(model, Generator):
        return model
    raise TypeError(f"SeFa needs a StyleGANEX model or its Generator, got {type(model).__name__}")


def modulations(generator: Generator) -> list:
    """The style-modulation layer (``EqualLinear``) SeFa uses for each w+ row, in row order."""
    layers = [generator.conv1.conv.modulation] + [c.conv.modulation for c in generator.convs]
    layers.append(generator.to_rgbs[-1].conv.modulation)
    if len(layers) != generator.n_latent:  # pragma: no cover - a generator of another layout
        raise DirectionError(f"this generator has {len(layers)} modulated rows for {generator.n_latent} w+ rows")
    return layers


def stacked_weights(model, layers=None) -> torch.Tensor:
    """SeFa's matrix A for the rows ``layers``: the modulation weights (with their equalised-lr scale)
    stacked, each row normalised to unit length. Returns float64 ``[sum of C_in, S]`` on the CPU."""
    gen = _generator(model)
    mods = modulations(gen)
    rows = parse_layers(layers, len(mods))
    blocks = [mods[i].weight.detach().to("cpu", torch.float64) * mods[i].scale for i in rows]
    a = torch.cat(blocks)
    norms = a.norm(dim=1, keepdim=True)
    if not torch.isfinite(a).all() or bool((norms == 0).any()):
        raise DirectionError("the generator's modulation weights hold zero rows, NaN or infinite values")
    return a / norms


def _fix_signs(vectors: torch.Tensor) -> torch.Tensor:
    idx = vectors.abs().argmax(dim=1, keepdim=True)
    signs = torch.sign(vectors.gather(1, idx))
    return vectors * torch.where(signs == 0, torch.ones_like(signs), signs)


def factorize(model, layers=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (descending, float64 ``[S]``) and unit eigenvectors (rows, float64 ``[S, S]``, signs
    fixed) of ``A^T A`` for the rows ``layers`` (None or "all": every row). Cached per generator."""
    gen = _generator(model)
    mods = modulations(gen)
    rows = tuple(parse_layers(layers, len(mods)))
    a = stacked_weights(gen, list(rows))  # checks the weights (finite, no zero rows) on every call
    key = hashlib.blake2b(a.numpy().data, digest_size=16).digest()
    with _lock:
        hit = _cache.get(gen, {}).get(rows)
    if hit is not None and hit[0] == key:
        return hit[1], hit[2]
    values, vectors = torch.linalg.eigh(a.T @ a)  # ascending; columns are eigenvectors
    values, vectors = values.flip(0), _fix_signs(vectors.flip(1).T.contiguous())
    with _lock:
        _cache.setdefault(gen, {})[rows] = (key, values, vectors)
    return values, vectors


def sefa_directions(model, layers=None, top_k: int = 5) -> dict[str, Direction]:
    """The ``top_k`` SeFa directions of a model's generator for the rows ``layers``.

    Args:
        model: a :class:`~styleganex.model.StyleGANEX` (or its ``Generator``).
        layers: rows to factorise and, by default, to edit (None or "all": every row; "0-7", ...).
        top_k: how many directions, strongest first (1..S).

    Returns:
        ``{"sefa0": Direction, ...}``: unit-norm float32 ``[S]`` vectors with source "sefa", default
        rows ``layers`` and the eigenvalue in ``note``.
    """
    gen = _generator(model)
    s = gen.style_dim
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= s:
        raise DirectionError(f"top_k must be a whole number in 1..{s} (the style width), got {top_k!r}")
    values, vectors = factorize(gen, layers)
    rows = parse_layers(layers, gen.n_latent)
    return {f"sefa{k}": Direction.of(vectors[k].float(), f"sefa{k}", "sefa", layers=rows,
                                     note=f"eigenvalue {float(values[k]):.4g}") for k in range(top_k)}
