"""The latent of one or more frames in the joint W+-F space.

A :class:`Latent` is what ``model.encode`` gives and ``model.decode`` takes, what the inversion
optimises and edits change, and what latent files store (``styleganex.pipelines.latent_files``). Batches of
latents are joined and split with :meth:`Latent.cat` and :meth:`Latent.select`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import torch

from ..base.errors import InputError
from .padding import SizeRecord

if TYPE_CHECKING:  # the crop record is face work: the model only carries it along
    from ..faces.crop_info import CropInfo


@dataclass
class Latent:
    """The latent of a batch of B frames.

    wplus: ``[B, n_latent, S]`` (latent_avg included).
    f: ``[B, C4, h, w]``, the first-layer feature (``h, w`` = frame size / 8).
    skips: encoder skip features for the fusion layers (translation / video models), or None.
    noise: per-layer noise maps ``[B or 1, 1, hi, wi]`` (from the inversion), or None.
    crop: where the frames were cropped from (:class:`~styleganex.faces.CropInfo`), for paste-back.
    size_record: how the encoded frames were padded to multiples of 8
        (:class:`~styleganex.faces.SizeRecord`); decoding removes that padding again.
    meta: free-form JSON-serialisable notes (source model, inversion settings, ...).
    """

    wplus: torch.Tensor
    f: torch.Tensor
    skips: list | None = None
    noise: list | None = None
    crop: CropInfo | None = None
    size_record: SizeRecord | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.size_record, dict):
            self.size_record = SizeRecord.from_dict(self.size_record)
        if self.crop is not None and not hasattr(self.crop, "select"):
            raise InputError(f"crop must be a faces.CropInfo (latent files convert their dicts), got "
                             f"{type(self.crop).__name__}")
        if self.crop is not None and self.crop.batch != self.wplus.shape[0]:
            raise InputError(f"the crop info is for {self.crop.batch} images but the latent holds "
                             f"{self.wplus.shape[0]}")
        if self.wplus.ndim != 3:
            raise InputError(f"wplus must be [B, n_latent, style_dim], got {tuple(self.wplus.shape)}")
        if self.f.ndim != 4:
            raise InputError(f"f must be [B, C, h, w], got {tuple(self.f.shape)}")
        if self.wplus.shape[0] != self.f.shape[0]:
            raise InputError(f"batch mismatch: wplus has {self.wplus.shape[0]}, f has {self.f.shape[0]}")

    @property
    def batch(self) -> int:
        return self.wplus.shape[0]

    def check_compatible(self, model, skips: bool = True) -> None:
        """Raise ValueError when this latent cannot drive ``model`` (another n_latent, S or C4; with
        ``skips``, skip features that do not fit the model's fusion layers)."""
        c = model.config
        want_w = (c.n_latent, c.style_dim)
        if tuple(self.wplus.shape[1:]) != want_w:
            raise InputError(f"latent w+ is {tuple(self.wplus.shape[1:])} but this model needs "
                             f"{want_w}: it comes from a model of another size")
        if self.f.shape[1] != c.gen_channels[4]:
            raise InputError(f"latent f has {self.f.shape[1]} channels but this model needs "
                             f"{c.gen_channels[4]}: it comes from a model of another width")
        if self.f.shape[2] == 0 or self.f.shape[3] == 0:
            raise InputError(f"latent f is empty: shape {tuple(self.f.shape)}")
        for name, t in (("wplus", self.wplus), ("f", self.f)):
            if not torch.isfinite(t).all():
                raise InputError(f"latent {name} contains NaN or infinite values")
        if skips and self.skips is not None and model.has_fusion:
            self._check_skips(c, self.skips)

    def _check_skips(self, c, skips: list) -> None:
        """The skip features the model's fusion layers use: fusion layer k takes skip k with the
        encoder's channels at that level, at f's size times max(1, 2^(k+2) / 32)."""
        widths = c.fusion_channels()
        if len(skips) < len(widths):
            raise InputError(f"the latent carries {len(skips)} skip features but this model's "
                             f"fusion layers need {len(widths)}: it comes from another model")
        fh, fw = self.f.shape[2:]
        for k, (channels, _) in enumerate(widths):
            s = skips[k]
            m = max(1, 2 ** (k + 2) // 32)
            want = (self.batch, channels, fh * m, fw * m)
            if not isinstance(s, torch.Tensor) or tuple(s.shape) != want:
                raise InputError(f"latent skip feature {k} is {tuple(getattr(s, 'shape', ()))} but this model "
                                 f"needs {list(want)} for an f of {fh}x{fw}: it comes from another model "
                                 f"or another frame")
            if not torch.isfinite(s).all():
                raise InputError(f"latent skip feature {k} contains NaN or infinite values")

    def with_wplus(self, wplus: torch.Tensor) -> Latent:
        return replace(self, wplus=wplus, meta=dict(self.meta))

    def _map(self, fn) -> Latent:
        """A new latent with ``fn`` applied to every tensor."""
        each = lambda xs: None if xs is None else [fn(x) for x in xs]  # noqa: E731
        return replace(self, wplus=fn(self.wplus), f=fn(self.f), skips=each(self.skips), noise=each(self.noise),
                       meta=dict(self.meta))

    def detach(self) -> Latent:
        return self._map(torch.Tensor.detach)

    def clone(self) -> Latent:
        """A copy whose tensors share no memory with this one (e.g. a starting point to optimise)."""
        return self._map(lambda t: t.detach().clone())

    def to(self, *args, **kwargs) -> Latent:
        return self._map(lambda t: t.to(*args, **kwargs))

    def select(self, index: int) -> Latent:
        """The latent of frame ``index`` alone (noise maps shared by the batch stay shared)."""
        if not -self.batch <= index < self.batch:
            raise InputError(f"frame {index} asked for, but the latent holds {self.batch}")
        pick = slice(index, index + 1 if index != -1 else None)
        per_frame = lambda xs: None if xs is None else [x[pick] if x.shape[0] > 1 else x for x in xs]  # noqa: E731
        return replace(self, wplus=self.wplus[pick], f=self.f[pick], skips=per_frame(self.skips),
                       noise=per_frame(self.noise), crop=None if self.crop is None else self.crop.select(index),
                       meta=dict(self.meta))

    @classmethod
    def cat(cls, parts: list[Latent]) -> Latent:
        """One latent for the frames of ``parts`` in order. They must agree on which optional parts
        they carry and on the padding record; meta is the first one's."""
        if not parts:
            raise InputError("no latents to join")
        if len(parts) == 1:
            return parts[0]
        first = parts[0]

        def joined(name):
            lists = [getattr(p, name) for p in parts]
            if all(x is None for x in lists):
                return None
            if any(x is None for x in lists) or len({len(x) for x in lists}) != 1:
                raise InputError(f"cannot join latents: some carry {name} and others do not (or other counts)")
            return [torch.cat([x.expand(p.batch, *x.shape[1:]) for x, p in zip(maps, parts)])
                    for maps in zip(*lists)]

        crops = [p.crop for p in parts if p.crop is not None]
        if crops and len(crops) != len(parts):
            raise InputError("cannot join latents: some carry crop info and others do not")
        if any(p.size_record != first.size_record for p in parts):
            raise InputError("cannot join latents encoded from frames of different sizes")
        return cls(wplus=torch.cat([p.wplus for p in parts]), f=torch.cat([p.f for p in parts]),
                   skips=joined("skips"), noise=joined("noise"),
                   crop=type(crops[0]).cat(crops) if crops else None, size_record=first.size_record,
                   meta=dict(first.meta))
