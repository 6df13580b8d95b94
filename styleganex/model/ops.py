"""Low-level layers shared by the generator and the encoder.

Everything here is plain PyTorch. The FIR filters of StyleGAN2 (rosinality's ``upfirdn2d``) are
expressed as single depthwise (transposed) convolutions, so no permute/pad chains are needed, and
modulation is applied to the activations instead of building one weight per sample (exact, and
fast for any batch size).

Shapes: feature maps are ``[B, C, H, W]``; styles are ``[B, style_dim]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..base.errors import InputError
from . import kernels

SQRT2 = math.sqrt(2.0)


def make_kernel(taps) -> torch.Tensor:
    """Separable FIR taps -> normalised 2-D kernel (sums to 1)."""
    k = torch.as_tensor(taps, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def binomial3x3() -> torch.Tensor:
    """The fixed 3x3 kernel [1,2,1]^T [1,2,1] / 16 of the dilated layers, shaped [1, 1, 3, 3]."""
    k = torch.tensor([1.0, 2.0, 1.0])
    return (k[:, None] * k[None, :] / 16.0).view(1, 1, 3, 3)


def depthwise(kernel: torch.Tensor, channels: int, like: torch.Tensor) -> torch.Tensor:
    """Repeat a [kh, kw] (or [1, 1, kh, kw]) kernel into a depthwise weight [C, 1, kh, kw]."""
    k = kernel.reshape(1, 1, kernel.shape[-2], kernel.shape[-1])
    return k.to(dtype=like.dtype, device=like.device).expand(channels, 1, -1, -1)


def nhwc(x: torch.Tensor) -> torch.Tensor:
    """A single CPU image as channels_last with canonical strides (oneDNN then keeps NHWC, which
    makes its depthwise and transposed convolutions several times faster). Others pass through."""
    if x.device.type != "cpu" or x.shape[0] != 1 or x.ndim != 4:
        return x
    c, h, w = x.shape[1:]
    canonical = (c * h * w, 1, w * c, c)
    if x.stride() == canonical:
        return x
    if x.is_contiguous(memory_format=torch.channels_last):  # only the size-1 batch stride is odd
        return x.as_strided(x.shape, canonical)
    return x.contiguous(memory_format=torch.channels_last)


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor | None, slope: float = 0.2,
                     scale: float = SQRT2) -> torch.Tensor:
    """leaky_relu(x + bias) * scale, bias broadcast over channel dim 1."""
    if bias is not None:
        x = x + bias.view(1, -1, *([1] * (x.ndim - 2)))
    return F.leaky_relu(x, slope) * scale


class FusedLeakyReLU(nn.Module):
    """Bias + leaky ReLU(0.2) + gain sqrt(2). Parameter: ``bias`` [C]."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        return fused_leaky_relu(x, self.bias)


class PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate. Parameters ``weight`` [out, in], ``bias`` [out]."""

    def __init__(self, in_dim: int, out_dim: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x):
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class Blur(nn.Module):
    """FIR blur after a stride-2 transposed conv (upfirdn2d with up=down=1).

    Buffer ``kernel`` [k, k] (the official checkpoints store it). ``pad`` = (pad0, pad1) zero
    padding on each side before the valid convolution with the flipped kernel.
    """

    kernel: torch.Tensor

    def __init__(self, taps, pad: tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        self.register_buffer("kernel", make_kernel(taps) * upsample_factor ** 2)
        self.pad = pad

    def forward(self, x, bias=None):
        p0, p1 = self.pad
        if p0 == p1:
            pad = p0
        else:
            x, pad = F.pad(x, (p0, p1, p0, p1)), 0
        w = depthwise(self.kernel.flip(0, 1), x.shape[1], x)
        return F.conv2d(x, w, bias, padding=pad, groups=x.shape[1])


class Upsample(nn.Module):
    """2x FIR upsampling (upfirdn2d up=2) as one depthwise transposed conv.

    Buffer ``kernel`` [k, k] = normalised kernel * 4. With rosinality's padding
    (pad0 = (p+1)//2 + 1, pad1 = p//2, p = k-2) the result is a stride-2 transposed
    convolution with padding ``k - 1 - pad0`` and the kernel used as stored.
    """

    kernel: torch.Tensor

    def __init__(self, taps, factor: int = 2):
        super().__init__()
        if len(taps) != 4 or factor != 2:
            raise InputError("only the 4-tap StyleGAN2 blur kernel with 2x upsampling is supported")
        kernel = make_kernel(taps) * factor ** 2
        self.register_buffer("kernel", kernel)
        self.factor = factor
        p = kernel.shape[0] - factor
        self.pad0 = (p + 1) // 2 + factor - 1
        self.pad1 = p // 2

    def forward(self, x):
        # upfirdn2d convolves with the flipped kernel; a transposed conv correlates with the kernel
        # reversed in index order, so the stored kernel is used flipped twice, i.e. as is.
        k = self.kernel.shape[0]
        w = depthwise(self.kernel, x.shape[1], x)
        return F.conv_transpose2d(x, w, stride=self.factor, padding=k - 1 - self.pad0,
                                  groups=x.shape[1])


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated convolution with the StyleGANEX dilation.

    Parameters: ``weight`` [1, out, in, k, k], ``modulation`` (EqualLinear style_dim -> in).
    Modes:
      * plain (``upsample=False``): conv with padding (k-1)/2 * dilation, dilation ``dilation``;
      * ``upsample=True, dilation=1``: stride-2 transposed conv then FIR blur (``blur``), 2x size;
      * ``upsample=True, dilation=d>1``: StyleGANEX's size-preserving replacement: a depthwise
        binomial 3x3 blur (buffer ``blur_weight``) at dilation d/2 growing the map by d, then the
        transposed conv at dilation d/2 with padding d. Both are written as ordinary convolutions.

    Each sample's style scales the weight (never the activations, which are far larger at high
    resolution) and demodulation normalises it; samples run as groups of one convolution.
    ``bias`` [out], when given, is added inside the last convolution (free).
    """

    blur_weight: torch.Tensor  # only at dilated upsampling levels

    def __init__(self, in_channel, out_channel, kernel_size, style_dim, demodulate=True,
                 upsample=False, blur_kernel=(1, 3, 3, 1), dilation=1):
        super().__init__()
        self.in_channel, self.out_channel, self.kernel_size = in_channel, out_channel, kernel_size
        self.upsample, self.demodulate, self.dilation = upsample, demodulate, dilation
        self.scale = 1.0 / math.sqrt(in_channel * kernel_size ** 2)
        self.padding = (kernel_size - 1) // 2 * dilation
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1.0)
        if upsample:
            p = (len(blur_kernel) - 2) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + 1, p // 2 + 1), upsample_factor=2)
            if dilation > 1:
                self.register_buffer("blur_weight", binomial3x3())

    def modulated_weight(self, style: torch.Tensor) -> torch.Tensor:
        """Per-sample weights [B, out, in, k, k] (scaled, modulated, demodulated), at least float32.

        w[b,o,i] = W[o,i] * scale * s[b,i] * d[b,o] with d = rsqrt(sum_i,k (W scale s)^2 + 1e-8);
        the demodulation sum is taken as a small matrix product, so the full weight is touched
        twice (W^2 and the final product) instead of once per factor.
        """
        with torch.autocast(style.device.type, enabled=False):  # styles and demodulation stay fp32
            dt = torch.promote_types(self.weight.dtype, torch.float32)  # low precision -> float32
            s = self.modulation(style.to(self.modulation.weight.dtype)).to(dt) * self.scale  # [B, in]
            weight = self.weight[0].to(dt)  # [out, in, k, k]
            if kernels.wanted(s):  # the fused kernel (CUDA fast path); the lines below are the reference
                return kernels.modulated_weight(weight, s, self.demodulate)
            factor = s[:, None, :]  # [B, 1, in]
            if self.demodulate:
                wsq = weight.square().sum((2, 3))  # [out, in]
                d = torch.rsqrt(s.square() @ wsq.t() + 1e-8)  # [B, out]
                factor = factor * d[:, :, None]  # [B, out, in]
            return weight[None] * factor[..., None, None]

    def forward(self, x: torch.Tensor, style: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        b, c, h, wd = x.shape
        k = self.kernel_size
        w = self.modulated_weight(style).to(x.dtype)  # [B, out, in, k, k]
        # samples as groups of one convolution; one sample is a plain NHWC convolution on CPU
        xg = nhwc(x) if b == 1 else x.reshape(1, b * c, h, wd)
        bias_g = None if bias is None else bias.to(x.dtype).repeat(b)
        if not self.upsample:
            out = F.conv2d(xg, w.reshape(b * self.out_channel, c, k, k), bias_g, padding=self.padding,
                           dilation=self.dilation, groups=b)
        elif self.dilation > 1:
            half = self.dilation // 2
            xg = F.conv2d(xg, depthwise(self.blur_weight.flip(2, 3), b * c, x), padding=2 * half,
                          dilation=half, groups=b * c)
            # transposed conv (stride 1, padding d, dilation d/2) == conv with the flipped kernel,
            # padding dilation*(k-1) - d = 0
            out = F.conv2d(xg, w.flip(3, 4).reshape(b * self.out_channel, c, k, k), bias_g,
                           padding=half * (k - 1) - self.dilation, dilation=half, groups=b)
        else:
            wt = w.transpose(1, 2).reshape(b * c, self.out_channel, k, k)
            out = F.conv_transpose2d(xg, wt, stride=2, groups=b)
            out = self.blur(nhwc(out), bias_g)
        return out.reshape(b, self.out_channel, *out.shape[2:])


class NoiseInjection(nn.Module):
    """out = x + weight * noise; a noise map of another size is adaptive-average-pooled to fit."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x, noise=None, generator=None):
        if noise is None:  # fresh random noise at the real size
            noise = torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype,
                                generator=generator)
        elif noise.shape[-2:] != x.shape[-2:]:
            noise = F.adaptive_avg_pool2d(noise, x.shape[-2:])
        return x + self.weight.to(x.dtype) * noise.to(x.dtype)


class StyledConv(nn.Module):
    """ModulatedConv2d -> NoiseInjection -> FusedLeakyReLU. ``noise=False`` skips noise (zero)."""

    def __init__(self, in_channel, out_channel, kernel_size, style_dim, upsample=False,
                 blur_kernel=(1, 3, 3, 1), dilation=1):
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim,
                                    upsample=upsample, blur_kernel=blur_kernel, dilation=dilation)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x, style, noise=None, generator=None):
        # conv + bias (fused), + weight * noise, leaky ReLU * sqrt(2): the official order up to
        # the (exact in real arithmetic) swap of the two additions. In place unless autograd
        # needs the intermediate (inversion).
        if kernels.wanted(x):  # the fast path: one fused pass for bias + noise + activation
            return self._fused(x, style, noise, generator)
        out = self.conv(x, style, bias=self.activate.bias)
        if noise is not False:
            out = self.noise(out, noise, generator)
        if out.requires_grad:
            return F.leaky_relu(out, 0.2) * SQRT2
        return F.leaky_relu_(out, 0.2).mul_(SQRT2)

    def _fused(self, x, style, noise, generator):
        """The conv without bias, then :func:`kernels.bias_noise_lrelu` (noise maps as NoiseInjection)."""
        out = self.conv(x, style)
        maps = None
        if noise is not False:
            if noise is None:
                maps = torch.randn(out.shape[0], 1, *out.shape[2:], device=out.device, dtype=out.dtype,
                                   generator=generator)
            elif noise.shape[-2:] != out.shape[-2:]:
                maps = F.adaptive_avg_pool2d(noise, out.shape[-2:])
            else:
                maps = noise
        return kernels.bias_noise_lrelu(out, self.activate.bias, maps, None if maps is None else self.noise.weight)


class ToRGB(nn.Module):
    """1x1 modulated conv (no demodulation) to RGB + bias, added to the upsampled running RGB.

    The running RGB is upsampled with the FIR ``upsample`` at normal levels; at dilated levels
    (``dilation`` d > 1) it keeps its size and is blurred with the binomial 3x3 at dilation d/2.
    """

    blur_weight: torch.Tensor  # only at dilated levels

    def __init__(self, in_channel, style_dim, upsample=True, blur_kernel=(1, 3, 3, 1), dilation=1):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.dilation = dilation
        if dilation > 1:
            self.register_buffer("blur_weight", binomial3x3())

    def forward(self, x, style, skip=None):
        out = self.conv(x, style, bias=self.bias.view(3))
        if skip is not None:
            if self.dilation == 1:
                skip = self.upsample(skip)
            else:
                half = self.dilation // 2
                skip = F.conv2d(skip, depthwise(self.blur_weight.flip(2, 3), skip.shape[1], skip),
                                padding=half, dilation=half, groups=skip.shape[1])
            out = out + skip
        return out
