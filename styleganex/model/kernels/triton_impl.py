"""The Triton kernels behind :mod:`styleganex.model.kernels` (imported only when one runs)."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import BLOCK, GAIN, SLOPE


@triton.jit
def _bias_noise_lrelu(x_ptr, bias_ptr, noise_ptr, nw_ptr, out_ptr, C, HW, noise_batch_stride,
                      slope, gain, HAS_NOISE: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    row = tl.program_id(0)  # b * C + c
    offs = tl.program_id(1) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < HW
    b = row // C
    c = row % C
    base = row.to(tl.int64) * HW  # 64-bit: B * C * H * W passes 2**31 at batch 8, 64 channels, 2048^2
    v = tl.load(x_ptr + base + offs, mask=mask, other=0.0).to(tl.float32)
    v = v + tl.load(bias_ptr + c).to(tl.float32)
    if HAS_NOISE:
        n = tl.load(noise_ptr + b * noise_batch_stride + offs, mask=mask, other=0.0).to(tl.float32)
        v = v + tl.load(nw_ptr).to(tl.float32) * n
    v = tl.where(v >= 0, v, v * slope) * gain
    tl.store(out_ptr + base + offs, v.to(out_ptr.dtype.element_ty), mask=mask)


def bias_noise_lrelu(x, bias, noise, noise_weight):
    x = x.contiguous()
    b, c, h, w = x.shape
    out = torch.empty_like(x)
    has_noise = noise is not None and noise_weight is not None
    if has_noise:
        noise = noise.to(x.dtype).contiguous()
        stride = noise.stride(0) if noise.shape[0] > 1 else 0
    else:
        noise, noise_weight, stride = x, bias, 0  # unused pointers
    grid = (b * c, triton.cdiv(h * w, BLOCK))
    _bias_noise_lrelu[grid](x, bias.contiguous(), noise, noise_weight, out, c, h * w, stride, SLOPE, GAIN,
                            HAS_NOISE=has_noise, BLOCK_SIZE=BLOCK)
    return out


@triton.jit
def _add(a, b):
    return a + b


@triton.jit
def _modulated_weight(w_ptr, s_ptr, out_ptr, OUT, IN, KK, DEMOD: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    bo = tl.program_id(0)  # b * OUT + o
    b = bo // OUT
    o = bo % OUT
    n = IN * KK
    acc = tl.full([BLOCK_SIZE], 0.0, tl.float32)
    if DEMOD:
        for start in range(0, n, BLOCK_SIZE):
            e = start + tl.arange(0, BLOCK_SIZE)
            m = e < n
            wv = tl.load(w_ptr + o * n + e, mask=m, other=0.0)
            sv = tl.load(s_ptr + b * IN + e // KK, mask=m, other=0.0)
            acc += (wv * sv) * (wv * sv)
        d = 1.0 / tl.sqrt(tl.reduce(acc, 0, _add) + 1e-8)  # tl.reduce: a builtin (interpretable)
    else:
        d = 1.0
    for start in range(0, n, BLOCK_SIZE):
        e = start + tl.arange(0, BLOCK_SIZE)
        m = e < n
        wv = tl.load(w_ptr + o * n + e, mask=m, other=0.0)
        sv = tl.load(s_ptr + b * IN + e // KK, mask=m, other=0.0)
        tl.store(out_ptr + bo * n + e, wv * sv * d, mask=m)


def modulated_weight(weight, style, demodulate):
    out_c, in_c, kh, kw = weight.shape
    batch = style.shape[0]
    weight = weight.float().contiguous()
    style = style.float().contiguous()
    out = torch.empty(batch, out_c, in_c, kh, kw, device=weight.device, dtype=torch.float32)
    _modulated_weight[(batch * out_c,)](weight, style, out, out_c, in_c, kh * kw, DEMOD=bool(demodulate),
                                        BLOCK_SIZE=BLOCK)
    return out
