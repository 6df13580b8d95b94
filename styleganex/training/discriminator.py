"""The StyleGAN2 discriminator of the adversarial loss, and its losses (logistic, non-saturating, lazy R1).

The layout is rosinality's ``stylegan2-pytorch`` ``Discriminator``, which the release trains beside the
encoder (``Discriminator(1024, channel_multiplier=2)``) and saves under the checkpoint's
``discriminator`` key, so its state-dict keys are::

    convs.0.0.weight, convs.0.1.bias                    1x1 conv from RGB + bias/leaky ReLU
    convs.N.conv1.{0.weight, 1.bias}                    ResBlock: 3x3 conv
    convs.N.conv2.{0.kernel, 1.weight, 2.bias}          blur, 3x3 stride-2 conv
    convs.N.skip.{0.kernel, 1.weight}                   blur, 1x1 stride-2 conv (no bias)
    final_conv.{0.weight, 1.bias}                       3x3 conv on features + minibatch stddev
    final_linear.{0.weight, 0.bias, 1.weight, 1.bias}   EqualLinear(16 C -> C, leaky ReLU), EqualLinear(C -> 1)

Like the release's copy, an image larger than ``size`` is judged on one random ``size x size`` window
(drawn from the global torch RNG, or ``generator``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import autograd, nn

from ..base.errors import InputError
from ..model.ops import Blur, EqualLinear, FusedLeakyReLU, fused_leaky_relu

BLUR_TAPS = (1, 3, 3, 1)


def stylegan2_widths(size: int, channel_multiplier: int = 2) -> dict[int, int]:
    """Channels per resolution of the StyleGAN2 discriminator (rosinality's table), from 4 up to ``size``."""
    table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
             256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    return {r: c for r, c in table.items() if r <= size}


class EqualConv2d(nn.Module):
    """Conv2d with equalised learning rate. Parameters ``weight`` [out, in, k, k], optional ``bias`` [out]."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channel, in_channel, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channel)) if bias else None
        self.scale = 1.0 / math.sqrt(in_channel * kernel_size ** 2)
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class ScaledLeakyReLU(nn.Module):
    """leaky_relu(x, 0.2) * sqrt(2), for a convolution without bias that is still activated."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, None)


class ConvLayer(nn.Sequential):
    """[blur] + EqualConv2d (stride 2 after the blur when ``downsample``) + [bias, leaky ReLU * sqrt 2].

    Module indices are rosinality's: with ``downsample`` the blur is ``0`` and the conv ``1``; the
    activation (holding the bias) follows the conv.
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, downsample: bool = False,
                 bias: bool = True, activate: bool = True):
        layers: list[nn.Module] = []
        if downsample:
            p = (len(BLUR_TAPS) - 2) + (kernel_size - 1)
            layers.append(Blur(BLUR_TAPS, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_channel, out_channel, kernel_size, stride=stride, padding=padding,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channel) if bias else ScaledLeakyReLU())
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Two 3x3 convs (the second halving the size) plus a 1x1 skip, summed and divided by sqrt(2)."""

    def __init__(self, in_channel: int, out_channel: int):
        super().__init__()
        self.conv1 = ConvLayer(in_channel, in_channel, 3)
        self.conv2 = ConvLayer(in_channel, out_channel, 3, downsample=True)
        self.skip = ConvLayer(in_channel, out_channel, 1, downsample=True, activate=False, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


def _stddev_group(batch: int, preferred: int) -> int:
    """Largest group size <= ``preferred`` dividing ``batch`` (rosinality uses min(batch, 4), which
    fails for a batch such as 6; where it works the two agree)."""
    for g in range(min(batch, preferred), 0, -1):
        if batch % g == 0:
            return g
    return 1


class Discriminator(nn.Module):
    """StyleGAN2 discriminator, rosinality's layout (see the module docstring for the keys).

    Args:
        size: the resolution it judges (a power of two >= 4); larger images are judged on a random window.
        channel_multiplier: StyleGAN2's multiplier of the widths at 64 px and above (2 for FFHQ models).
        widths: channels per resolution instead of StyleGAN2's table: an int (every resolution) or a
            mapping {4: c4, 8: c8, ..., size: c_size} (reduced models for tests).

    ``forward(img)``: ``img`` [B, 3, H, W] in -1..1 with H, W >= ``size`` -> logits [B, 1].
    """

    stddev_group = 4
    stddev_feat = 1

    def __init__(self, size: int, channel_multiplier: int = 2, widths: int | Mapping[int, int] | None = None):
        super().__init__()
        if not (isinstance(size, int) and size >= 4 and size & (size - 1) == 0):
            raise InputError(f"the discriminator size must be a power of two >= 4, got {size}")
        resolutions = [2 ** i for i in range(2, int(math.log2(size)) + 1)]
        if widths is None:
            widths = stylegan2_widths(size, channel_multiplier) if size <= 1024 else None
            if widths is None:
                raise InputError(f"StyleGAN2's width table stops at 1024 px; give widths for size {size}")
        elif isinstance(widths, int):
            widths = {r: widths for r in resolutions}
        missing = [r for r in resolutions if not (isinstance(widths.get(r), int) and widths[r] >= 1)]
        if missing:
            raise InputError(f"discriminator widths: no channel count for resolution(s) {missing}")
        self.size = size
        self.widths = {r: int(widths[r]) for r in resolutions}
        convs: list[nn.Module] = [ConvLayer(3, self.widths[size], 1)]
        in_channel = self.widths[size]
        for r in reversed(resolutions[:-1]):  # size/2 ... 4
            convs.append(ResBlock(in_channel, self.widths[r]))
            in_channel = self.widths[r]
        self.convs = nn.Sequential(*convs)
        c4 = self.widths[4]
        self.final_conv = ConvLayer(in_channel + 1, c4, 3)
        self.final_linear = nn.Sequential(EqualLinear(c4 * 4 * 4, c4, activation=True), EqualLinear(c4, 1))

    def crop(self, img: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The ``size x size`` window judged: the image itself, or a random window of a larger one."""
        if img.ndim != 4 or img.shape[1] != 3:
            raise InputError(f"the discriminator takes images [B, 3, H, W], got {tuple(img.shape)}")
        h, w = img.shape[-2:]
        if h < self.size or w < self.size:
            raise InputError(f"the discriminator judges {self.size}x{self.size} px; the image is only {w}x{h}")
        if h == self.size and w == self.size:
            return img
        i = int(torch.randint(0, h - self.size + 1, (1,), generator=generator))
        j = int(torch.randint(0, w - self.size + 1, (1,), generator=generator))
        return img[:, :, i:i + self.size, j:j + self.size]

    def forward(self, img: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        out = self.convs(self.crop(img, generator))
        b, c, h, w = out.shape
        group = _stddev_group(b, self.stddev_group)
        # sample n = g * (b / group) + m: the deviation is taken over g for each m
        s = out.view(group, -1, self.stddev_feat, c // self.stddev_feat, h, w)
        s = torch.sqrt(s.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
        out = torch.cat([out, s.repeat(group, 1, h, w)], 1)
        return self.final_linear(self.final_conv(out).view(b, -1))


def d_logistic_parts(real_pred: torch.Tensor, fake_pred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(softplus(-D(real)).mean(), softplus(D(fake)).mean()): the two halves of the logistic loss."""
    return F.softplus(-real_pred).mean(), F.softplus(fake_pred).mean()


def d_logistic_loss(real_pred: torch.Tensor, fake_pred: torch.Tensor) -> torch.Tensor:
    """Discriminator logistic loss: softplus(-D(real)).mean() + softplus(D(fake)).mean() (a scalar)."""
    real, fake = d_logistic_parts(real_pred, fake_pred)
    return real + fake


def g_nonsaturating_loss(fake_pred: torch.Tensor) -> torch.Tensor:
    """Generator (here: encoder) non-saturating loss softplus(-D(fake)).mean() (a scalar)."""
    return F.softplus(-fake_pred).mean()


def d_r1_loss(real_pred: torch.Tensor, real_img: torch.Tensor) -> torch.Tensor:
    """R1 penalty: mean over the batch of |d sum(D(real)) / d real_img|^2, differentiable (create_graph).

    ``real_img`` must have ``requires_grad`` set before ``real_pred = D(real_img)``. The lazy schedule of
    StyleGAN2 adds ``r1 / 2 * d_r1_loss(...) * d_reg_every`` every ``d_reg_every`` steps.
    """
    grad, = autograd.grad(outputs=real_pred.sum(), inputs=real_img, create_graph=True)
    return grad.pow(2).reshape(grad.shape[0], -1).sum(1).mean()
