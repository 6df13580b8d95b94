"""The static inversion loop of the fast paths: the reference loop's result bit for bit (fp32, CPU), no
host read inside a step, cancel checked before every step; and its compiled step (slow tier)."""

from __future__ import annotations

import pytest
import torch

from styleganex.base.errors import Cancelled, StyleGANEXWarning
from styleganex.dev.testing import random_model
from styleganex.model import fast
from styleganex.model.fast import FastPlan
from styleganex.pipelines import inversion
from styleganex.pipelines.inversion import READBACK_STEPS, StaticAdam, optimize
from styleganex.pipelines.lpips import load_lpips

STATIC = FastPlan(static_loop=True)


@pytest.fixture(scope="module")
def setup():
    model = random_model("inversion", seed=4, size=256)
    g = torch.Generator().manual_seed(3)
    frames = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    return model, frames, load_lpips(random_backbone=True)


def _run(model, frame, lpips, plan, steps=12, **kw):
    calls = []
    result = optimize(model, frame, steps=steps, seed=7, lpips=lpips, fast=plan,
                      progress=lambda d, t, info: calls.append((d, t, info)), **kw)
    return result, calls


def _same(a, b):
    la, lb = a.latent, b.latent
    assert torch.equal(la.wplus, lb.wplus) and torch.equal(la.f, lb.f)
    assert len(la.noise) == len(lb.noise) and all(torch.equal(x, y) for x, y in zip(la.noise, lb.noise))
    assert a.history == b.history and a.steps_run == b.steps_run


@pytest.mark.parametrize("kw", [dict(), dict(mse_weight=0.5), dict(latent_noise=0.5, lr=0.2),
                                dict(steps=3 * READBACK_STEPS, latent_noise=0.5)],
                         ids=["lpips", "lpips+mse", "strong latent noise", "noise over three read-back blocks"])
def test_static_loop_is_the_reference_bit_for_bit(setup, kw):
    model, frames, lpips = setup
    ref, ref_calls = _run(model, frames[:1], lpips, "0", **kw)
    new, new_calls = _run(model, frames[:1], lpips, STATIC, **kw)
    _same(ref, new)
    assert new_calls == ref_calls  # the same progress reports (lr, parts, loss), step by step
    assert ref.latent.meta["inversion"] == new.latent.meta["inversion"]
    assert not torch.equal(ref.latent.f, model.encode(frames[:1]).f)  # it did optimise


def test_static_loop_batch_and_early_stopping_as_the_reference(setup):
    model, frames, lpips = setup
    kw = dict(steps=40, early_stop_patience=2, lr=0.5)
    ref, _ = _run(model, frames, lpips, "0", **kw)
    new, _ = _run(model, frames, lpips, STATIC, **kw)
    assert ref.stopped_early and ref.steps_run < 40  # the case is exercised
    _same(ref, new)
    assert new.stopped_early


def test_static_adam_is_torch_adam_bit_for_bit():
    g = torch.Generator().manual_seed(0)
    start = [torch.randn(3, 37, generator=g), torch.randn(2, 1, 16, 16, generator=g)]
    grads = [[torch.randn(p.shape, generator=g) for p in start] for _ in range(15)]
    lrs = [0.05 * min(1.0, (i + 1) / 4) for i in range(15)]
    a = [p.clone().requires_grad_(True) for p in start]
    b = [p.clone().requires_grad_(True) for p in start]
    opt, static = torch.optim.Adam(a, lr=lrs[0]), StaticAdam(b, lrs)
    for i in range(15):
        for p, q, gr in zip(a, b, grads[i]):
            p.grad, q.grad = gr.clone(), gr.clone()
        opt.param_groups[0]["lr"] = lrs[i]
        opt.step()
        static.step()
        assert all(torch.equal(p, q) for p, q in zip(a, b)), i
        assert all(float(q.grad.abs().max()) == 0.0 for q in b)  # zeroed in place: static grad buffers
    assert int(static.index) == 15


class HostReads:
    """Counts the Python-level ways of reading a tensor's values back to the host."""

    NAMES = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "numpy")

    def __init__(self, monkeypatch):
        self.count = 0
        for name in self.NAMES:
            original = getattr(torch.Tensor, name)

            def wrapped(self_, *a, _original=original, **k):
                self.count += 1
                return _original(self_, *a, **k)
            monkeypatch.setattr(torch.Tensor, name, wrapped)


def test_no_host_read_inside_a_step(setup, monkeypatch):
    """Host reads of a whole run grow by one per READBACK_STEPS steps in the static loop (the setup's
    reads cancel out between two lengths of run), and by at least one per step in the reference loop."""
    model, frames, lpips = setup
    reads = HostReads(monkeypatch)

    def count(plan, steps):
        reads.count = 0
        optimize(model, frames[:1], steps=steps, seed=1, lpips=lpips, fast=plan)
        return reads.count

    short, long = READBACK_STEPS, 3 * READBACK_STEPS
    assert count(STATIC, long) - count(STATIC, short) == 2  # two more read-backs, nothing per step
    assert count("0", long) - count("0", short) >= long - short  # the counter does see per-step reads


def test_cancel_is_checked_before_every_step(setup):
    model, frames, lpips = setup
    asked = []

    def cancel():
        asked.append(1)
        return len(asked) > 4

    with pytest.raises(Cancelled):
        optimize(model, frames[:1], steps=30, seed=1, lpips=lpips, fast=STATIC, cancel=cancel)
    assert len(asked) == 5  # four steps ran, the fifth was refused


@pytest.mark.parametrize("plan", ["0", STATIC], ids=["reference", "static"])
def test_non_finite_loss_names_the_step(setup, plan):
    """A loss that turns NaN at step 3 (an id loss that does so): both loops name step 3, although
    the static loop reads the losses back only after step READBACK_STEPS."""
    model, frames, lpips = setup
    calls = []

    def id_loss(out, frame):
        calls.append(1)
        return out.mean(dim=(1, 2, 3)) * (float("nan") if len(calls) == 3 else 0.0)

    with pytest.raises(FloatingPointError, match="at step 3;"):
        optimize(model, frames[:1], steps=12, seed=1, lpips=lpips, fast=plan, id_weight=1.0, id_loss=id_loss)


@pytest.mark.slow
def test_compiled_step_matches_the_reference(setup):
    """The step's forward + backward compiled with fullgraph=True (strict: a graph break raises): after a
    few steps w+, f and the noise maps agree with the reference loop within fp32 rounding (1e-4 absolute
    + 1e-4 relative: inductor sums in another order), the losses within 1e-5 relative."""
    model, frames, lpips = setup
    ref, ref_calls = _run(model, frames[:1], lpips, "0", steps=4, mse_weight=0.5)
    new, new_calls = _run(model, frames[:1], lpips, FastPlan(compile=True, static_loop=True, strict=True),
                          steps=4, mse_weight=0.5)
    assert len(fast.compiled_keys(model, "inversion step")) == 1
    for a, b in [(ref.latent.wplus, new.latent.wplus), (ref.latent.f, new.latent.f),
                 *zip(ref.latent.noise, new.latent.noise)]:
        torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)
    assert new.history == pytest.approx(ref.history, rel=1e-5)
    assert [c[:2] for c in new_calls] == [c[:2] for c in ref_calls]
    assert inversion.READBACK_STEPS > 1


class _FailingBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("a compiled backward that does not work here")


def test_failing_compiled_backward_falls_back_to_the_eager_step(setup, monkeypatch):
    """Setting "auto" (not strict): a compiled step whose backward fails is run again eagerly, with one
    warning, and the result is the reference loop's bit for bit."""
    model, frames, lpips = setup
    ref, _ = _run(model, frames[:1], lpips, "0", steps=5)
    attempts = []

    def compiled_call(owner, name, fn, key, args, reference, strict=False, mode=None):
        attempts.append(name)
        loss, row = reference(*args)
        return _FailingBackward.apply(loss), row
    monkeypatch.setattr(fast, "compiled_call", compiled_call)
    with pytest.warns(StyleGANEXWarning, match="compiled inversion step failed"):
        new, _ = _run(model, frames[:1], lpips, FastPlan(compile=True, static_loop=True), steps=5)
    assert attempts == ["inversion step"]  # once: the eager step from then on
    _same(ref, new)
