"""The StyleGANEX generator: StyleGAN2 (rosinality layout) with dilated shallow layers.

The first layer takes a feature map ``f`` of any size ``[B, C4, h, w]``; the four shallow levels
(nominal 4, 8, 16, 32) keep that size by replacing upsampling with dilation, and from level 64 on the
network is plain StyleGAN2. The output is ``[B, 3, h * size/32, w * size/32]``.

Module and parameter names follow the official checkpoints (``decoder.*`` keys) so they load as is.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..base.errors import InputError
from .config import ModelConfig
from .ops import EqualLinear, PixelNorm, StyledConv, ToRGB

NOISE_MODES = ("zero", "random", "stored")


class ConstantInput(nn.Module):
    """Learned constant ``input`` [1, C, 4, 4] (used when no ``f`` is given)."""

    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int):
        return self.input.expand(batch, -1, -1, -1)


def level_dilations(level: int) -> tuple[int, int]:
    """(dilation of the 'upsampling' conv and ToRGB, dilation of the plain conv) at level i >= 3."""
    return max(1, 32 // 2 ** (level - 1)), max(1, 32 // 2 ** level)


class Generator(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        c = config
        self.config = c
        self.size, self.style_dim = c.size, c.style_dim
        self.log_size = c.log_size
        self.n_latent = c.n_latent
        self.num_layers = (self.log_size - 2) * 2 + 1
        ch = c.gen_channels

        self.style = nn.Sequential(PixelNorm(), *[
            EqualLinear(c.style_dim, c.style_dim, lr_mul=c.lr_mlp, activation=True)
            for _ in range(c.n_mlp)])
        self.input = ConstantInput(ch[4])
        self.conv1 = StyledConv(ch[4], ch[4], 3, c.style_dim, blur_kernel=c.blur_kernel, dilation=8)
        self.to_rgb1 = ToRGB(ch[4], c.style_dim, upsample=False)

        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            r = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, r, r))
        in_ch = ch[4]
        for level in range(3, self.log_size + 1):
            out_ch = ch[2 ** level]
            d_up, d_plain = level_dilations(level)
            self.convs.append(StyledConv(in_ch, out_ch, 3, c.style_dim, upsample=True,
                                         blur_kernel=c.blur_kernel, dilation=d_up))
            self.convs.append(StyledConv(out_ch, out_ch, 3, c.style_dim,
                                         blur_kernel=c.blur_kernel, dilation=d_plain))
            self.to_rgbs.append(ToRGB(out_ch, c.style_dim, blur_kernel=c.blur_kernel, dilation=d_up))
            in_ch = out_ch

    # ------------------------------------------------------------------------------------
    def stored_noise(self) -> list[torch.Tensor]:
        return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]

    def map(self, z: torch.Tensor) -> torch.Tensor:
        """Mapping network z [B, S] -> w [B, S]."""
        return self.style(z)

    def mean_latent(self, n: int = 4096, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn(n, self.style_dim, generator=generator).to(self.input.input)
        return self.style(z).mean(0, keepdim=True)

    def _noise_list(self, noise, batch_like: torch.Tensor):
        """Normalise the noise argument into a per-layer list (False = no noise, None = random)."""
        if isinstance(noise, str):
            if noise not in NOISE_MODES:
                raise InputError(f"noise must be one of {NOISE_MODES} or a list of maps, got {noise!r}")
            if noise == "zero":
                return [False] * self.num_layers
            if noise == "random":
                return [None] * self.num_layers
            return self.stored_noise()
        noise = list(noise)
        if len(noise) != self.num_layers:
            raise InputError(f"expected {self.num_layers} noise maps, got {len(noise)}")
        return noise

    def synthesize(self, wplus: torch.Tensor, f: torch.Tensor | None = None, noise="zero",
                   skips: Sequence[torch.Tensor] | None = None, fusion: nn.ModuleList | None = None,
                   editing_w: torch.Tensor | None = None, rgb_skip: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        """Render w+ [B, n_latent, S] (+ f [B, C4, h, w]) to an image [B, 3, h*size/32, w*size/32].

        ``noise``: "zero", "random", "stored" or a list of ``num_layers`` maps (pooled to fit).
        ``skips``/``fusion``: encoder skip features and the fusion layers that merge them before
        stage k. ``editing_w`` [B, n_latent, S] is added to w+ (and conditions attention fusion).
        ``rgb_skip``: when given with ``f``, f enters after conv1/to_rgb1 (official
        ``first_layer_feature_ind != 0``).
        """
        latent = wplus if editing_w is None else wplus + editing_w
        noise = self._noise_list(noise, latent)
        if f is None:
            out = F.adaptive_avg_pool2d(self.input(latent.shape[0]), 32)
        else:
            out = f
        if f is None or rgb_skip is None:
            out = self.conv1(out, latent[:, 0], noise[0], generator)
            skip = self.to_rgb1(out, latent[:, 1])
        else:
            skip = rgb_skip
        i = 1
        for k, (conv_up, conv, to_rgb) in enumerate(zip(self.convs[::2], self.convs[1::2], self.to_rgbs)):
            if skips and fusion is not None and k < len(skips) and k < len(fusion):
                cond = None if editing_w is None else editing_w[:, i]
                out, skip = fusion[k](skips[k], out, skip, cond)
            out = conv_up(out, latent[:, i], noise[i], generator)
            out = conv(out, latent[:, i + 1], noise[i + 1], generator)
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
        return skip.contiguous()

    def forward(self, styles, input_is_latent=False, noise=None, randomize_noise=True,
                first_layer_feature=None, first_layer_feature_ind=0, skip_layer_feature=None,
                fusion_block=None, zero_noise=False, editing_w=None, truncation=1.0,
                truncation_latent=None, inject_index=None, return_latents=False, generator=None):
        """Official ``Generator.forward`` signature; returns ``(image, latent or None)``."""
        if not input_is_latent:
            styles = [self.style(s) for s in styles]
        if truncation < 1:
            styles = [truncation_latent + truncation * (s - truncation_latent) for s in styles]
        if len(styles) < 2:
            latent = styles[0] if styles[0].ndim == 3 else styles[0].unsqueeze(1).repeat(1, self.n_latent, 1)
        else:
            if inject_index is None:
                inject_index = int(torch.randint(1, self.n_latent, (1,), generator=generator))
            latent = torch.cat([styles[0].unsqueeze(1).repeat(1, inject_index, 1),
                                styles[1].unsqueeze(1).repeat(1, self.n_latent - inject_index, 1)], 1)
        if zero_noise:
            mode = "zero"
        elif noise is not None:
            mode = noise
        else:
            mode = "random" if randomize_noise else "stored"
        f = rgb = None
        if first_layer_feature is not None:
            f = first_layer_feature[0]
            if first_layer_feature_ind != 0:
                rgb = first_layer_feature[1]
        image = self.synthesize(latent, f, mode, skip_layer_feature, fusion_block, editing_w, rgb,
                                generator)
        full_latent = latent if editing_w is None else latent + editing_w
        return image, (full_latent if return_latents else None)
