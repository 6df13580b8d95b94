"""The StyleGAN2 discriminator: rosinality's key layout at full size, finite gradients, the losses, and
the R1 penalty against finite differences of the discriminator itself (no autograd in the reference)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from styleganex.base.errors import InputError
from styleganex.training.discriminator import Discriminator, d_logistic_loss, d_r1_loss, g_nonsaturating_loss


def _rosinality_shapes(size: int, cm: int) -> dict[str, tuple]:
    """Key -> shape of rosinality's stylegan2-pytorch Discriminator(size, cm), written out from its source
    facts (channels table, ConvLayer = [Blur] + EqualConv2d + FusedLeakyReLU, ResBlock conv1/conv2/skip)."""
    ch = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm, 512: 32 * cm,
          1024: 16 * cm}
    s = {"convs.0.0.weight": (ch[size], 3, 1, 1), "convs.0.1.bias": (ch[size],)}
    log = int(math.log2(size))
    c_in = ch[size]
    for n, i in enumerate(range(log, 2, -1), start=1):
        c_out = ch[2 ** (i - 1)]
        s[f"convs.{n}.conv1.0.weight"] = (c_in, c_in, 3, 3)
        s[f"convs.{n}.conv1.1.bias"] = (c_in,)
        s[f"convs.{n}.conv2.0.kernel"] = (4, 4)
        s[f"convs.{n}.conv2.1.weight"] = (c_out, c_in, 3, 3)
        s[f"convs.{n}.conv2.2.bias"] = (c_out,)
        s[f"convs.{n}.skip.0.kernel"] = (4, 4)
        s[f"convs.{n}.skip.1.weight"] = (c_out, c_in, 1, 1)
        c_in = c_out
    s["final_conv.0.weight"] = (ch[4], c_in + 1, 3, 3)
    s["final_conv.1.bias"] = (ch[4],)
    s["final_linear.0.weight"] = (ch[4], ch[4] * 16)
    s["final_linear.0.bias"] = (ch[4],)
    s["final_linear.1.weight"] = (1, ch[4])
    s["final_linear.1.bias"] = (1,)
    return s


@pytest.mark.parametrize("size", [1024, 256])
def test_full_size_keys_and_shapes_match_rosinality(size):
    with torch.device("meta"):
        d = Discriminator(size, channel_multiplier=2)
    got = {k: tuple(v.shape) for k, v in d.state_dict().items()}
    assert got == _rosinality_shapes(size, 2)


def _tiny(size=16, widths=4, dtype=torch.float32):
    torch.manual_seed(0)
    return Discriminator(size, widths=widths).to(dtype)


def test_blur_kernel_buffer_is_the_stylegan2_kernel():
    d = _tiny()
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    want = k[:, None] * k[None, :] / 64.0
    assert torch.equal(d.convs[1].conv2[0].kernel, want)


def test_forward_shape_and_finite_gradients():
    d = _tiny(16, widths={4: 8, 8: 6, 16: 4})
    img = torch.rand(6, 3, 16, 16) * 2 - 1  # 6: not a multiple of the stddev group of 4
    img.requires_grad_(True)
    out = d(img)
    assert out.shape == (6, 1)
    (d_logistic_loss(out, -out) + g_nonsaturating_loss(out)).backward()
    grads = [p.grad for p in d.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert all(g.abs().sum() > 0 for g in grads)
    assert torch.isfinite(img.grad).all() and img.grad.abs().sum() > 0


def test_downsampling_matches_an_explicit_fir_blur():
    """conv2 of a ResBlock: pad 2, 4x4 FIR blur, 3x3 stride-2 conv (rosinality's upfirdn2d path),
    written here as a plain conv2d chain."""
    d = _tiny()
    layer = d.convs[1].conv2
    x = torch.randn(2, 4, 16, 16)
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k2 = (k[:, None] * k[None, :] / 64.0).expand(4, 1, 4, 4)
    blurred = F.conv2d(F.pad(x, (2, 2, 2, 2)), k2, groups=4)
    conv = layer[1]
    y = F.conv2d(blurred, conv.weight / math.sqrt(4 * 9), stride=2)
    want = F.leaky_relu(y + layer[2].bias.view(1, -1, 1, 1), 0.2) * math.sqrt(2)
    torch.testing.assert_close(layer(x), want, rtol=1e-5, atol=1e-6)
    assert layer(x).shape == (2, 4, 8, 8)


def test_minibatch_stddev_groups_samples_b_over_g_apart():
    """Group size 4 over a batch of 8: samples n and n+2, n+4, n+6 share a deviation; changing sample 1
    leaves the logits of the group of sample 0 (0, 2, 4, 6) unchanged."""
    d = _tiny()
    img = torch.rand(8, 3, 16, 16) * 2 - 1
    a = d(img)
    img2 = img.clone()
    img2[1] = -img2[1]
    b = d(img2)
    assert torch.equal(a[0::2], b[0::2])
    assert not torch.allclose(a[1::2], b[1::2])


def test_larger_images_are_judged_on_a_random_window():
    d = _tiny(16)
    big = torch.rand(2, 3, 24, 20) * 2 - 1
    g = torch.Generator().manual_seed(5)
    out = d(big, generator=g)
    g = torch.Generator().manual_seed(5)
    i = int(torch.randint(0, 9, (1,), generator=g))
    j = int(torch.randint(0, 5, (1,), generator=g))
    torch.testing.assert_close(out, d(big[:, :, i:i + 16, j:j + 16]), rtol=0, atol=0)
    with pytest.raises(InputError, match="16x16"):
        d(torch.rand(2, 3, 8, 16))


def test_losses_against_their_formulas():
    real, fake = torch.tensor([[0.3], [-1.2]]), torch.tensor([[2.0], [0.1]])
    sp = lambda t: math.log1p(math.exp(t))  # noqa: E731
    want_d = (sp(-0.3) + sp(1.2)) / 2 + (sp(2.0) + sp(0.1)) / 2
    assert float(d_logistic_loss(real, fake)) == pytest.approx(want_d, rel=1e-6)
    assert float(g_nonsaturating_loss(fake)) == pytest.approx((sp(-2.0) + sp(-0.1)) / 2, rel=1e-6)


def test_r1_against_finite_differences():
    """R1 = mean_b |d sum D(x) / d x_b|^2, the gradient taken by central differences in float64 (the
    minibatch deviation couples the samples, so the whole batch is perturbed one value at a time)."""
    d = _tiny(8, widths=3, dtype=torch.float64)
    x = (torch.rand(2, 3, 8, 8, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    r1 = d_r1_loss(d(x), x)
    h = 1e-6
    flat = x.detach().clone().view(-1)
    grad = torch.empty_like(flat)
    with torch.no_grad():
        for n in range(flat.numel()):
            up, down = flat.clone(), flat.clone()
            up[n] += h
            down[n] -= h
            grad[n] = (d(up.view_as(x)).sum() - d(down.view_as(x)).sum()) / (2 * h)
    want = grad.view(2, -1).pow(2).sum(1).mean()
    assert float(r1.detach()) == pytest.approx(float(want), rel=1e-6)
    assert float(r1.detach()) > 0
    r1.backward()  # create_graph: the penalty trains the discriminator
    grads = dict(d.named_parameters())
    # the last bias shifts D but not its input gradient (hence the release's `+ 0 * real_pred[0]`)
    assert grads.pop("final_linear.1.bias").grad is None
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in grads.values())
    assert d.final_conv[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("kwargs", [dict(size=12), dict(size=2), dict(size=16, widths={4: 4, 8: 4}),
                                    dict(size=2048)])
def test_bad_sizes(kwargs):
    with pytest.raises(InputError):
        Discriminator(**kwargs)


def _reference_forward(sd: dict, size: int, img: torch.Tensor) -> torch.Tensor:
    """rosinality's Discriminator.forward, functionally from the state dict (upfirdn2d blur as a padded
    depthwise conv with the flipped kernel, equalised-lr scales, minibatch stddev with group 4)."""
    def act(x, b):
        return F.leaky_relu(x + b.view(1, -1, 1, 1), 0.2) * math.sqrt(2)

    def conv(x, w, stride=1, pad=0):
        return F.conv2d(x, w * (1 / math.sqrt(w.shape[1] * w.shape[2] * w.shape[3])), stride=stride, padding=pad)

    def blur(x, k, pad):
        c = x.shape[1]
        return F.conv2d(F.pad(x, (pad, pad, pad, pad)), k.flip(0, 1).expand(c, 1, 4, 4), groups=c)

    x = act(conv(img, sd["convs.0.0.weight"]), sd["convs.0.1.bias"])
    for n in range(1, int(math.log2(size)) - 1):
        p = f"convs.{n}"
        out = act(conv(x, sd[f"{p}.conv1.0.weight"], pad=1), sd[f"{p}.conv1.1.bias"])
        out = act(conv(blur(out, sd[f"{p}.conv2.0.kernel"], 2), sd[f"{p}.conv2.1.weight"], stride=2),
                  sd[f"{p}.conv2.2.bias"])
        skip = conv(blur(x, sd[f"{p}.skip.0.kernel"], 1), sd[f"{p}.skip.1.weight"], stride=2)
        x = (out + skip) / math.sqrt(2)
    b, c, h, w = x.shape
    g = min(b, 4)
    s = x.view(g, -1, 1, c, h, w)
    s = torch.sqrt(s.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
    x = torch.cat([x, s.repeat(g, 1, h, w)], 1)
    x = act(conv(x, sd["final_conv.0.weight"], pad=1), sd["final_conv.1.bias"]).view(b, -1)
    w0, w1 = sd["final_linear.0.weight"], sd["final_linear.1.weight"]
    x = F.leaky_relu(F.linear(x, w0 / math.sqrt(w0.shape[1])) + sd["final_linear.0.bias"], 0.2) * math.sqrt(2)
    return F.linear(x, w1 / math.sqrt(w1.shape[1]), sd["final_linear.1.bias"])


def test_forward_matches_a_functional_rosinality_forward():
    d = _tiny(32, widths={4: 6, 8: 5, 16: 4, 32: 3})
    with torch.no_grad():
        for p in d.parameters():  # non-zero biases so that every term shows
            p.add_(0.1 * torch.randn_like(p))
    img = torch.rand(8, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(d(img), _reference_forward(d.state_dict(), 32, img), rtol=1e-4, atol=1e-5)
