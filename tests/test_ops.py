"""Fast ops against straightforward reference formulations written here independently."""

import pytest
import torch
import torch.nn.functional as F

from styleganex.model.ops import Blur, ModulatedConv2d, ToRGB, Upsample, make_kernel


def upfirdn_ref(x, k, up=1, pad=(0, 0)):
    """Zero-insert by `up`, zero-pad (pad0, pad1), true convolution with k (one channel at a time)."""
    b, c, h, w = x.shape
    u = torch.zeros(b, c, h * up, w * up)
    u[:, :, ::up, ::up] = x
    u = F.pad(u, (pad[0], pad[1], pad[0], pad[1]))
    kk = torch.flip(k, [0, 1])[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(u, kk, groups=c)


def modconv_ref(m, x, style):
    """The per-sample weight formulation: w_b = W * s_b, demodulated, grouped conv."""
    b, cin, h, wd = x.shape
    s = m.modulation(style).view(b, 1, cin, 1, 1)
    w = m.scale * m.weight * s
    if m.demodulate:
        w = w * torch.rsqrt(w.pow(2).sum([2, 3, 4]) + 1e-8).view(b, -1, 1, 1, 1)
    k = m.kernel_size
    if not m.upsample:
        out = F.conv2d(x.reshape(1, b * cin, h, wd), w.view(-1, cin, k, k), padding=m.padding,
                       dilation=m.dilation, groups=b)
        return out.view(b, -1, *out.shape[2:])
    wt = w.transpose(1, 2).reshape(b * cin, -1, k, k)
    xi = x.reshape(1, b * cin, h, wd)
    if m.dilation > 1:
        d = m.dilation
        blur = m.blur_weight.repeat(b * cin, 1, 1, 1)
        out = F.conv_transpose2d(xi, blur, padding=0, groups=b * cin, dilation=d // 2)
        out = F.conv_transpose2d(out, wt, padding=d, groups=b, dilation=d // 2)
        return out.view(b, -1, *out.shape[2:])
    out = F.conv_transpose2d(xi, wt, stride=2, groups=b)
    out = out.view(b, -1, *out.shape[2:])
    return upfirdn_ref(out, m.blur.kernel, pad=m.blur.pad)


def test_upsample_equals_upfirdn():
    x = torch.randn(2, 3, 7, 9)
    up = Upsample([1, 3, 3, 1])
    ref = upfirdn_ref(x, up.kernel, up=2, pad=(up.pad0, up.pad1))
    assert up(x).shape == (2, 3, 14, 18)
    torch.testing.assert_close(up(x), ref, atol=1e-6, rtol=1e-5)


def test_blur_equals_upfirdn():
    x = torch.randn(1, 4, 10, 6)
    bl = Blur([1, 3, 3, 1], pad=(2, 1), upsample_factor=2)
    torch.testing.assert_close(bl(x), upfirdn_ref(x, bl.kernel, pad=(2, 1)), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("upsample,dilation", [(False, 1), (False, 4), (True, 1), (True, 2), (True, 8)])
def test_modulated_conv_matches_per_sample_weights(upsample, dilation):
    torch.manual_seed(0)
    m = ModulatedConv2d(6, 5, 3, 8, upsample=upsample, dilation=dilation)
    x, s = torch.randn(3, 6, 9, 11), torch.randn(3, 8)
    out = m(x, s)
    ref = modconv_ref(m, x, s)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, atol=2e-5, rtol=1e-4)
    expect = (18, 22) if upsample and dilation == 1 else (9, 11)
    assert out.shape[-2:] == expect


def test_batch_items_are_independent():
    m = ModulatedConv2d(4, 4, 3, 8, upsample=True, dilation=4)
    x, s = torch.randn(3, 4, 8, 8), torch.randn(3, 8)
    both = m(x, s)
    for i in range(3):
        torch.testing.assert_close(both[i:i + 1], m(x[i:i + 1], s[i:i + 1]), atol=1e-6, rtol=1e-5)


def test_dilated_torgb_skip_is_binomial_blur():
    rgb = ToRGB(4, 8, dilation=4)
    skip = torch.zeros(1, 3, 9, 9)
    skip[0, :, 4, 4] = 1.0
    out = rgb(torch.zeros(1, 4, 9, 9), torch.zeros(1, 8), skip) - rgb.bias
    # an impulse spreads to the 3x3 binomial pattern at spacing d/2 = 2
    expect = torch.zeros(9, 9)
    k = make_kernel([1, 2, 1])
    expect[2:7:2, 2:7:2] = k
    torch.testing.assert_close(out[0, 0], expect, atol=1e-6, rtol=0)


@pytest.mark.parametrize("dtype,tol", [(torch.bfloat16, 5e-2), (torch.float16, 1e-2)])
def test_low_precision_close_to_float32(dtype, tol, tiny_inversion):
    import copy
    m32 = tiny_inversion
    m = copy.deepcopy(m32).to(dtype)
    frame = torch.rand(1, 3, 48, 64) * 2 - 1
    if dtype == torch.float16:  # CPU half convs may be unsupported on some builds
        try:
            out = m.decode(m.encode(frame))
        except RuntimeError as e:
            pytest.skip(f"float16 conv not available on this CPU build: {e}")
    else:
        out = m.decode(m.encode(frame))
    ref = m32.decode(m32.encode(frame))
    err = (out.float() - ref).abs().max() / ref.abs().max()
    assert err < tol, f"relative error {err:.3g}"


@pytest.mark.parametrize("upsample,dilation", [(False, 2), (True, 1), (True, 4)])
def test_styled_conv_gradients_match_finite_differences(upsample, dilation):
    """Inversion differentiates through the decoder: the in-place fast path must not be taken."""
    from styleganex.model.ops import StyledConv
    torch.manual_seed(0)
    layer = StyledConv(3, 2, 3, 4, upsample=upsample, dilation=dilation).double()
    with torch.no_grad():
        layer.noise.weight.fill_(0.3)
        layer.activate.bias.normal_()
    x = torch.randn(1, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    s = torch.randn(1, 4, dtype=torch.float64, requires_grad=True)
    noise = torch.randn(1, 1, 1, 1, dtype=torch.float64)
    fn = lambda x, s: layer(x, s, noise.expand(1, 1, *layer(x, s, False).shape[2:]))  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, s), eps=1e-6, atol=1e-5)


def test_decoder_backward_through_whole_generator(tiny_inversion):
    w = torch.randn(1, 18, 16, requires_grad=True)
    f = torch.randn(1, 32, 4, 5, requires_grad=True)
    out = tiny_inversion.decoder.synthesize(w, f, noise="stored")
    out.square().mean().backward()
    assert torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0 and f.grad.abs().sum() > 0
