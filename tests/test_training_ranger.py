"""Ranger (RAdam + Lookahead + gradient centralisation) against a step-by-step numpy computation of the
formulas of Ranger 20.4.11, and its state_dict round trip (a resumed run continues bit for bit)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

from styleganex.base.errors import InputError
from styleganex.training.ranger import Ranger


def _numpy_ranger(params, grads_of, steps, lr, alpha, k, b1, b2, eps, wd, use_gc):
    """Reference: plain numpy, float64, written from the formulas (not from the class)."""
    p = [x.copy() for x in params]
    m = [np.zeros_like(x) for x in p]
    v = [np.zeros_like(x) for x in p]
    slow = [x.copy() for x in p]
    for t in range(1, steps + 1):
        grads = grads_of(p)
        for i, g in enumerate(grads):
            g = g.copy()
            if use_gc and g.ndim > 1:
                g = g - g.mean(axis=tuple(range(1, g.ndim)), keepdims=True)
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            rho_inf = 2.0 / (1.0 - b2) - 1.0
            rho = rho_inf - 2.0 * t * b2 ** t / (1.0 - b2 ** t)
            p[i] = p[i] * (1 - wd * lr)
            if rho > 5:
                r = math.sqrt((1 - b2 ** t) * (rho - 4) * (rho - 2) * rho_inf
                              / ((rho_inf - 4) * (rho_inf - 2) * rho)) / (1 - b1 ** t)
                p[i] = p[i] - lr * r * m[i] / (np.sqrt(v[i]) + eps)
            else:
                p[i] = p[i] - lr * m[i] / (1 - b1 ** t)
            if t % k == 0:
                slow[i] = slow[i] + alpha * (p[i] - slow[i])
                p[i] = slow[i].copy()
    return p


def _problem(seed=0):
    """A tiny least-squares problem with a matrix, a 4-D (conv-like) tensor and a bias vector."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(3, 4))
    C = rng.normal(size=(2, 3, 2, 2))
    b = rng.normal(size=(3,))
    A = rng.normal(size=(5, 4))
    Y = rng.normal(size=(5, 3))
    X = rng.normal(size=(5, 12))
    Z = rng.normal(size=(5, 2))

    def grads(p):
        w, c, bb = p
        r1 = A @ w.T + bb - Y  # loss 0.5 |A w^T + b - Y|^2 + 0.5 |X c_flat^T - Z|^2 + 0.1 sum(c^3)
        r2 = X @ c.reshape(2, -1).T - Z
        return [r1.T @ A, (r2.T @ X).reshape(c.shape) + 0.3 * c ** 2, r1.sum(0)]

    def torch_loss(w, c, bb):
        r1 = torch.as_tensor(A) @ w.T + bb - torch.as_tensor(Y)
        r2 = torch.as_tensor(X) @ c.reshape(2, -1).T - torch.as_tensor(Z)
        return 0.5 * (r1 ** 2).sum() + 0.5 * (r2 ** 2).sum() + 0.1 * (c ** 3).sum()

    return [W, C, b], grads, torch_loss


@pytest.mark.parametrize("use_gc,wd", [(True, 0.0), (False, 0.0), (True, 0.01)])
def test_matches_numpy_reference(use_gc, wd):
    """14 steps cover the momentum-only start (rho_t <= 5 for t <= 5), the rectified steps and two
    Lookahead syncs (k=6); float64 parameters, so the tolerance is 1e-10."""
    init, grads_of, torch_loss = _problem()
    lr, alpha, k, betas, eps = 1e-2, 0.5, 6, (0.95, 0.999), 1e-5
    ref = _numpy_ranger(init, grads_of, 14, lr, alpha, k, *betas, eps, wd, use_gc)
    params = [torch.nn.Parameter(torch.tensor(x)) for x in init]
    opt = Ranger(params, lr=lr, alpha=alpha, k=k, betas=betas, eps=eps, weight_decay=wd, use_gc=use_gc)
    for _ in range(14):
        opt.zero_grad()
        torch_loss(*params).backward()
        opt.step()
    for got, want in zip(params, ref):
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-10, atol=1e-12)
    # and the run moved: the reference is not the starting point
    assert max(np.abs(w - x).max() for w, x in zip(ref, init)) > 1e-2


@pytest.mark.parametrize("use_gc,wd", [(True, 0.0), (True, 0.01)])
def test_float32_multi_tensor_path_matches_numpy_reference(use_gc, wd):
    """float32 parameters take the multi-tensor (foreach) path; the same reference, float32 tolerances."""
    init, grads_of, torch_loss = _problem()
    ref = _numpy_ranger(init, grads_of, 14, 1e-2, 0.5, 6, 0.95, 0.999, 1e-5, wd, use_gc)
    params = [torch.nn.Parameter(torch.tensor(x, dtype=torch.float32)) for x in init]
    opt = Ranger(params, lr=1e-2, weight_decay=wd, use_gc=use_gc, foreach=True)
    for _ in range(14):
        opt.zero_grad()
        torch_loss(*(p.double() for p in params)).float().backward()
        opt.step()
    for got, want in zip(params, ref):
        np.testing.assert_allclose(got.detach().double().numpy(), want, rtol=1e-4, atol=1e-5)


def test_multi_tensor_and_per_parameter_updates_are_bit_equal(monkeypatch):
    """foreach=True (multi-tensor kernels, here in chunks of about two tensors) and foreach=False (the
    release's loop, the CPU default) give the same bits."""
    monkeypatch.setattr(Ranger, "FOREACH_CHUNK", 20)
    a, b = _model(), _model()
    opt_a = Ranger(a.parameters(), lr=1e-2, weight_decay=0.01, foreach=True)
    opt_b = Ranger(b.parameters(), lr=1e-2, weight_decay=0.01, foreach=False)
    _train(a, opt_a, 14, seed=4)
    _train(b, opt_b, 14, seed=4)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    sa, sb = opt_a.state_dict()["state"], opt_b.state_dict()["state"]
    assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)


def test_rectification_switches_at_step_six():
    """rho_t for b2 = 0.999: 1.0 at t=1, crosses 5 between t=5 and t=6 (the release's threshold)."""
    assert [Ranger.rectification(t, (0.95, 0.999), 5)[0] for t in range(1, 8)] == [False] * 5 + [True] * 2
    adaptive, size = Ranger.rectification(1, (0.95, 0.999), 5)
    assert not adaptive and size == pytest.approx(1 / 0.05)


def _train(model, opt, steps, seed):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(8, 6, generator=g)
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))


def test_state_dict_resume_is_bit_exact():
    """7 steps, save model + optimiser through bytes, load into fresh objects, 8 more steps == 15 straight
    (the split is not a multiple of k, so the Lookahead slow copy must travel in the state)."""
    straight = _model()
    opt = Ranger(straight.parameters(), lr=1e-2)
    _train(straight, opt, 7, seed=1)
    _train(straight, opt, 8, seed=2)

    first = _model()
    opt1 = Ranger(first.parameters(), lr=1e-2)
    _train(first, opt1, 7, seed=1)
    buf = io.BytesIO()
    torch.save({"model": first.state_dict(), "opt": opt1.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)

    resumed = _model()
    torch.nn.init.zeros_(resumed[0].weight)  # make sure the load, not the init, decides
    resumed.load_state_dict(saved["model"])
    opt2 = Ranger(resumed.parameters(), lr=5.0)  # hyper-parameters come back from the state too
    opt2.load_state_dict(saved["opt"])
    assert opt2.param_groups[0]["lr"] == 1e-2
    _train(resumed, opt2, 8, seed=2)
    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(a, b)
    assert {"step", "exp_avg", "exp_avg_sq", "slow_buffer"} <= set(opt2.state_dict()["state"][0])


def test_lookahead_changes_the_result():
    """k=1, alpha=1 is plain RAdam + GC; the default Lookahead must give something else."""
    a, b = _model(), _model()
    _train(a, Ranger(a.parameters(), lr=1e-2, k=1, alpha=1.0), 12, seed=3)
    _train(b, Ranger(b.parameters(), lr=1e-2), 12, seed=3)
    assert not torch.allclose(a[0].weight, b[0].weight)


@pytest.mark.parametrize("kwargs", [dict(alpha=1.5), dict(k=0), dict(lr=0.0), dict(eps=0.0),
                                    dict(betas=(0.9, 1.0)), dict(weight_decay=-1.0)])
def test_bad_options(kwargs):
    with pytest.raises(InputError):
        Ranger(_model().parameters(), **kwargs)
