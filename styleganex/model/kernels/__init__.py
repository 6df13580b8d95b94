"""Fused Triton kernels for the decoder's eager path on CUDA (optional: Triton is imported on first use).

* :func:`bias_noise_lrelu` — the modulated convolution's epilogue in one pass over the map:
  ``leaky_relu(x + bias[c] + noise_weight * noise, 0.2) * sqrt(2)`` (the reference makes three);
* :func:`modulated_weight` — modulation and demodulation of a ModulatedConv2d weight in one kernel:
  ``w[b,o,i,k] = W[o,i,k] s[b,i] d[b,o]``, ``d = rsqrt(sum_{i,k} (W s)^2 + 1e-8)``, in fp32.

They run where :func:`wanted` says so: inside a :func:`enabled` block (the model opens one when the
fast plan has ``kernels``, i.e. CUDA with Triton), outside any ``torch.compile`` region (inductor fuses
these itself), without autograd. The reference path stays the plain-PyTorch code of ``model.ops`` and
is what runs everywhere else. Under ``TRITON_INTERPRET=1`` the kernels also run on CPU tensors (how the
tests check them against the reference).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
from typing import Iterator

import torch

SLOPE = 0.2
GAIN = math.sqrt(2.0)
BLOCK = 1024

_ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("styleganex_kernels", default=False)


def available() -> bool:
    """Whether Triton can be imported here."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def interpreted() -> bool:
    """Triton's interpreter is on (``TRITON_INTERPRET=1``): kernels run on CPU tensors, slowly."""
    return os.environ.get("TRITON_INTERPRET", "") == "1"


@contextlib.contextmanager
def enabled(on: bool = True) -> Iterator[None]:
    """The kernels are used (where :func:`wanted`) within the block."""
    token = _ENABLED.set(bool(on))
    try:
        yield
    finally:
        _ENABLED.reset(token)


def wanted(x: torch.Tensor) -> bool:
    """Use the kernels for ``x``: enabled, not compiling, no autograd, on CUDA (or interpreted)."""
    if torch.compiler.is_compiling() or not _ENABLED.get():
        return False
    if torch.is_grad_enabled() and x.requires_grad:
        return False
    return (x.is_cuda or interpreted()) and x.dtype in (torch.float32, torch.float16, torch.bfloat16)


def _impl():
    from . import triton_impl  # noqa: PLC0415 - Triton only when a kernel runs
    return triton_impl


def bias_noise_lrelu(x: torch.Tensor, bias: torch.Tensor, noise: torch.Tensor | None,
                     noise_weight: torch.Tensor | None) -> torch.Tensor:
    """``leaky_relu(x + bias + noise_weight * noise, 0.2) * sqrt(2)`` in one pass, computed in fp32.

    Args:
        x: [B, C, H, W] (any memory format; made contiguous).
        bias: [C].
        noise: [B or 1, 1, H, W] or None (no noise).
        noise_weight: the one-element noise strength (read on the device: no host sync), or None.
    Returns:
        [B, C, H, W] in ``x``'s dtype, contiguous.
    """
    return _impl().bias_noise_lrelu(x, bias, noise, noise_weight)


def modulated_weight(weight: torch.Tensor, style: torch.Tensor, demodulate: bool) -> torch.Tensor:
    """The per-sample weights of a modulated convolution, fp32.

    Args:
        weight: [out, in, k, k] (the layer's weight, fp32).
        style: [B, in], the modulation output times the layer's scale (fp32).
        demodulate: divide each output channel by its norm (plus 1e-8 under the square root).
    Returns:
        [B, out, in, k, k] float32.
    """
    return _impl().modulated_weight(weight, style, demodulate)
