"""The fused Triton kernels (``styleganex.model.kernels``) against the plain-PyTorch reference, on the
CPU under Triton's interpreter (``TRITON_INTERPRET=1``, set here before the kernels are imported; tiny
shapes). fp32 tolerance: 1e-4 absolute (the kernels sum in another order). Skipped without Triton."""

from __future__ import annotations

import importlib
import math
import os

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("triton")
os.environ["TRITON_INTERPRET"] = "1"  # before styleganex.model.kernels.triton_impl is first imported

from styleganex.dev.testing import random_model  # noqa: E402
from styleganex.model import kernels  # noqa: E402
from styleganex.model.fast import fast_mode  # noqa: E402
from styleganex.model.ops import ModulatedConv2d  # noqa: E402

ATOL = 1e-4


@pytest.fixture(autouse=True)
def _interpreted(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    from triton.runtime.interpreter import InterpretedFunction

    from styleganex.model.kernels import triton_impl
    if not isinstance(triton_impl._bias_noise_lrelu, InterpretedFunction):  # imported earlier (e.g. test_docs)
        importlib.reload(triton_impl)  # the kernels again, now as interpreted functions
    assert isinstance(triton_impl._bias_noise_lrelu, InterpretedFunction)


@pytest.mark.parametrize("noise_batch", [None, 1, 2], ids=["no noise", "shared noise", "noise per image"])
def test_bias_noise_lrelu_is_the_reference(noise_batch):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 7, 9, generator=g)
    bias = torch.randn(5, generator=g)
    weight = torch.tensor([0.3])
    noise = None if noise_batch is None else torch.randn(noise_batch, 1, 7, 9, generator=g)
    got = kernels.bias_noise_lrelu(x, bias, noise, None if noise is None else weight)
    ref = x + bias.view(1, -1, 1, 1) + (0 if noise is None else weight * noise)
    ref = F.leaky_relu(ref, 0.2) * math.sqrt(2)
    assert got.shape == x.shape and got.dtype == x.dtype
    torch.testing.assert_close(got, ref, atol=ATOL, rtol=0)
    assert (got < 0).any() and (got > 0).any()  # both sides of the activation are exercised


@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_weight_is_the_reference(demodulate):
    torch.manual_seed(0)
    conv = ModulatedConv2d(6, 4, 3, 8, demodulate=demodulate)
    style = torch.randn(3, 8)
    ref = conv.modulated_weight(style)  # the reference path (kernels not enabled)
    s = conv.modulation(style) * conv.scale
    got = kernels.modulated_weight(conv.weight[0], s, demodulate)
    assert got.shape == ref.shape == (3, 4, 6, 3, 3) and got.dtype == torch.float32
    torch.testing.assert_close(got, ref, atol=ATOL, rtol=0)


@pytest.mark.parametrize("noise", ["zero", "stored"])
def test_decoder_with_the_kernels_is_the_reference(noise, monkeypatch):
    """The whole decoder on a fast plan with kernels only (as on CUDA when no compiled graph runs): every
    StyledConv takes the fused epilogue, modulation is fused, and the image is the reference's within 1e-4."""
    from styleganex.model import fast

    m = random_model("inversion", seed=3, size=256)
    g = torch.Generator().manual_seed(2)
    with fast_mode("0"):
        latent = m.encode(torch.rand(1, 3, 16, 16, generator=g) * 2 - 1)
        ref = m.decode(latent, noise=noise)
    calls = []
    original = kernels.bias_noise_lrelu
    monkeypatch.setattr(kernels, "bias_noise_lrelu", lambda *a: calls.append(1) or original(*a))
    monkeypatch.setattr(fast, "fast_plan", lambda *a, **k: fast.FastPlan(kernels=True))
    got = m.decode(latent, noise=noise)
    assert len(calls) == m.decoder.num_layers  # every StyledConv took the fused path
    torch.testing.assert_close(got, ref, atol=ATOL, rtol=0)


def test_kernels_stay_off_by_default_and_with_autograd():
    x = torch.zeros(1, 1, 2, 2)
    assert not kernels.wanted(x)
    with kernels.enabled(True):
        assert kernels.wanted(x)  # interpreted: CPU tensors allowed
        assert not kernels.wanted(x.requires_grad_(True))
