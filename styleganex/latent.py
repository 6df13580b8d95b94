"""The latent of one or more frames in the joint W+-F space."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch


@dataclass
class Latent:
    """wplus [B, n_latent, S] (latent_avg included), f [B, C4, h, w] (the first-layer feature),
    optional encoder skip features (fusion models), optional per-layer noise maps (from inversion)
    and an optional crop record (a JSON-serialisable dict) for pasting back into the full frame."""

    wplus: torch.Tensor
    f: torch.Tensor
    skips: list | None = None
    noise: list | None = None
    crop: dict | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.wplus.ndim != 3:
            raise ValueError(f"wplus must be [B, n_latent, style_dim], got {tuple(self.wplus.shape)}")
        if self.f.ndim != 4:
            raise ValueError(f"f must be [B, C, h, w], got {tuple(self.f.shape)}")
        if self.wplus.shape[0] != self.f.shape[0]:
            raise ValueError(f"batch mismatch: wplus has {self.wplus.shape[0]}, f has {self.f.shape[0]}")

    @property
    def batch(self) -> int:
        return self.wplus.shape[0]

    def check_compatible(self, model, skips: bool = True) -> None:
        """Raise ValueError when this latent cannot drive ``model`` (another n_latent, S or C4; with
        ``skips``, skip features that do not fit the model's fusion layers)."""
        c = model.config
        want_w = (c.n_latent, c.style_dim)
        if tuple(self.wplus.shape[1:]) != want_w:
            raise ValueError(f"latent w+ is {tuple(self.wplus.shape[1:])} but this model needs "
                             f"{want_w}: it comes from a model of another size")
        if self.f.shape[1] != c.gen_channels[4]:
            raise ValueError(f"latent f has {self.f.shape[1]} channels but this model needs "
                             f"{c.gen_channels[4]}: it comes from a model of another width")
        if self.f.shape[2] == 0 or self.f.shape[3] == 0:
            raise ValueError(f"latent f is empty: shape {tuple(self.f.shape)}")
        for name, t in (("wplus", self.wplus), ("f", self.f)):
            if not torch.isfinite(t).all():
                raise ValueError(f"latent {name} contains NaN or infinite values")
        if skips and self.skips is not None and model.has_fusion:
            self._check_skips(c)

    def _check_skips(self, c) -> None:
        """The skip features the model's fusion layers use: fusion layer k takes skip k with the
        encoder's channels at that level, at f's size times max(1, 2^(k+2) / 32)."""
        widths = c.fusion_channels()
        if len(self.skips) < len(widths):
            raise ValueError(f"the latent carries {len(self.skips)} skip features but this model's "
                             f"fusion layers need {len(widths)}: it comes from another model")
        fh, fw = self.f.shape[2:]
        for k, (channels, _) in enumerate(widths):
            s = self.skips[k]
            m = max(1, 2 ** (k + 2) // 32)
            want = (self.batch, channels, fh * m, fw * m)
            if not isinstance(s, torch.Tensor) or tuple(s.shape) != want:
                raise ValueError(f"latent skip feature {k} is {tuple(getattr(s, 'shape', ()))} but this model "
                                 f"needs {list(want)} for an f of {fh}x{fw}: it comes from another model "
                                 f"or another frame")
            if not torch.isfinite(s).all():
                raise ValueError(f"latent skip feature {k} contains NaN or infinite values")

    def with_wplus(self, wplus: torch.Tensor) -> "Latent":
        return replace(self, wplus=wplus)

    def detach(self) -> "Latent":
        d = lambda xs: None if xs is None else [x.detach() for x in xs]  # noqa: E731
        return replace(self, wplus=self.wplus.detach(), f=self.f.detach(), skips=d(self.skips),
                       noise=d(self.noise))

    def to(self, *args, **kwargs) -> "Latent":
        m = lambda xs: None if xs is None else [x.to(*args, **kwargs) for x in xs]  # noqa: E731
        return replace(self, wplus=self.wplus.to(*args, **kwargs), f=self.f.to(*args, **kwargs),
                       skips=m(self.skips), noise=m(self.noise))
