"""Ranger: RAdam + Lookahead + gradient centralisation, the optimiser the release trains the encoder with.

The update is the one of the release's ``training/ranger.py`` (Ranger 20.4.11), per parameter ``p`` with
gradient ``g`` at step ``t`` (1, 2, ...):

1. gradient centralisation: for tensors with more than one dimension (``gc_conv_only``: more than three),
   ``g <- g - mean(g over every dimension but the first)``;
2. Adam moments: ``m <- b1 m + (1 - b1) g`` and ``v <- b2 v + (1 - b2) g^2``;
3. RAdam rectification: ``rho_inf = 2 / (1 - b2) - 1``, ``rho_t = rho_inf - 2 t b2^t / (1 - b2^t)``;
   when ``rho_t > n_sma_threshold`` (5)::

       r = sqrt((1 - b2^t) (rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)) / (1 - b1^t)
       p <- p - lr r m / (sqrt(v) + eps)

   otherwise (the first few steps) an un-normalised momentum step ``p <- p - lr m / (1 - b1^t)``;
   weight decay, when set, first scales ``p`` by ``1 - weight_decay lr``;
4. Lookahead: every ``k`` steps the slow copy moves ``slow <- slow + alpha (p - slow)`` and ``p <- slow``.

The slow copy starts as the parameter before its first update. The whole state (step, moments, slow
copy) and every hyper-parameter live in :meth:`state_dict`, so a run resumed from it continues bit for bit
as the uninterrupted one (the release kept a step-size cache outside the state; here it is recomputed).
Arithmetic runs in float32, or in the parameter's dtype when that is wider (float64).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.optim import Optimizer

from ..base.errors import InputError


class Ranger(Optimizer):
    """RAdam + Lookahead + gradient centralisation (Ranger 20.4.11).

    Args:
        params: parameters or parameter groups, as for any ``torch.optim`` optimiser.
        lr: learning rate (the release trains with 1e-4).
        alpha: Lookahead step of the slow weights towards the fast ones, in [0, 1].
        k: Lookahead period in steps (>= 1).
        betas: Adam's (b1, b2).
        eps: added to ``sqrt(v)``.
        weight_decay: multiplicative decay ``1 - weight_decay * lr`` before each update.
        use_gc: gradient centralisation on or off.
        n_sma_threshold: length of the approximated SMA above which the adaptive step is used.
        gc_conv_only: centralise only tensors with more than three dimensions (convolutions).
        foreach: update the float32 parameters of a group with multi-tensor (``torch._foreach_*``) kernels,
            a few launches per chunk of parameters instead of several per parameter (the same arithmetic,
            element by element; temporaries bounded by :attr:`FOREACH_CHUNK` elements); False: one parameter
            at a time, as the release; None (default): multi-tensor on CUDA, where launches dominate, and
            one at a time on the CPU, where it is faster and needs less memory.
    """

    def __init__(self, params: Iterable, lr: float = 1e-4, alpha: float = 0.5, k: int = 6,
                 betas: tuple[float, float] = (0.95, 0.999), eps: float = 1e-5, weight_decay: float = 0,
                 use_gc: bool = True, n_sma_threshold: float = 5, gc_conv_only: bool = False,
                 foreach: bool | None = None):
        if not 0.0 <= alpha <= 1.0:
            raise InputError(f"Ranger: alpha (Lookahead step) must be in [0, 1], got {alpha}")
        if not (isinstance(k, int) and k >= 1):
            raise InputError(f"Ranger: k (Lookahead period) must be a whole number >= 1, got {k}")
        if not lr > 0:
            raise InputError(f"Ranger: the learning rate must be > 0, got {lr}")
        if not eps > 0:
            raise InputError(f"Ranger: eps must be > 0, got {eps}")
        if not all(0.0 <= b < 1.0 for b in betas) or len(betas) != 2:
            raise InputError(f"Ranger: betas must be two numbers in [0, 1), got {betas}")
        if weight_decay < 0:
            raise InputError(f"Ranger: weight_decay must be >= 0, got {weight_decay}")
        defaults = dict(lr=lr, alpha=alpha, k=k, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        use_gc=use_gc, n_sma_threshold=n_sma_threshold, gc_conv_only=gc_conv_only,
                        foreach=foreach)
        super().__init__(params, defaults)

    @staticmethod
    def rectification(step: int, betas: tuple[float, float], n_sma_threshold: float) -> tuple[bool, float]:
        """(adaptive?, step size) of RAdam at ``step`` (1-based): see the module docstring."""
        beta1, beta2 = betas
        beta2_t = beta2 ** step
        n_sma_max = 2 / (1 - beta2) - 1
        n_sma = n_sma_max - 2 * step * beta2_t / (1 - beta2_t)
        if n_sma > n_sma_threshold:
            size = math.sqrt((1 - beta2_t) * (n_sma - 4) / (n_sma_max - 4) * (n_sma - 2) / n_sma
                             * n_sma_max / (n_sma_max - 2)) / (1 - beta1 ** step)
            return True, size
        return False, 1.0 / (1 - beta1 ** step)

    FOREACH_CHUNK = 1 << 24  # elements per multi-tensor chunk (64 MB of float32 temporaries)

    def _init_state(self, p: torch.Tensor) -> dict:
        state = self.state[p]
        if len(state) == 0:
            dt = torch.promote_types(p.dtype, torch.float32)
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p, dtype=dt)
            state["exp_avg_sq"] = torch.zeros_like(p, dtype=dt)
            state["slow_buffer"] = p.detach().clone()
        return state

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient. Returns ``closure()``'s loss, if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if any(p.grad.is_sparse for p in params):
                raise InputError("Ranger does not support sparse gradients")
            states = [self._init_state(p) for p in params]
            same_step = len({st["step"] for st in states}) <= 1
            fast = [p for p in params if p.dtype == torch.float32 and self.state[p]["exp_avg"].dtype == torch.float32]
            foreach = group.get("foreach")
            if foreach is None:
                foreach = bool(params) and all(p.device.type == "cuda" for p in params)
            if foreach and same_step and len(fast) == len(params) and params:
                chunk, size = [], 0
                for p in params:
                    chunk.append(p)
                    size += p.numel()
                    if size >= self.FOREACH_CHUNK:
                        self._step_foreach(group, chunk)
                        chunk, size = [], 0
                if chunk:
                    self._step_foreach(group, chunk)
            else:
                for p in params:
                    self._step_one(group, p)
        return loss

    def _centred(self, group, grad: torch.Tensor) -> torch.Tensor:
        """Gradient centralisation (a new tensor), or the gradient itself when it does not apply."""
        if group["use_gc"] and grad.dim() > (3 if group["gc_conv_only"] else 1):
            return grad - grad.mean(dim=tuple(range(1, grad.dim())), keepdim=True)
        return grad

    def _step_foreach(self, group, params: list[torch.Tensor]) -> None:
        """The update of :meth:`_step_one` for float32 parameters at one step count, with multi-tensor ops."""
        beta1, beta2 = group["betas"]
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        states = [self.state[p] for p in params]
        grads = [self._centred(group, p.grad) for p in params]
        m = [st["exp_avg"] for st in states]
        v = [st["exp_avg_sq"] for st in states]
        for st in states:
            st["step"] += 1
        t = states[0]["step"]
        torch._foreach_mul_(v, beta2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - beta2)
        torch._foreach_mul_(m, beta1)
        torch._foreach_add_(m, grads, alpha=1 - beta1)
        adaptive, step_size = self.rectification(t, (beta1, beta2), group["n_sma_threshold"])
        if wd != 0:
            torch._foreach_add_(params, params, alpha=-wd * lr)
        if adaptive:
            denom = torch._foreach_sqrt(v)
            torch._foreach_add_(denom, eps)
            torch._foreach_addcdiv_(params, m, denom, value=-step_size * lr)
        else:
            torch._foreach_add_(params, m, alpha=-step_size * lr)
        if t % group["k"] == 0:
            slow = [st["slow_buffer"] for st in states]
            torch._foreach_add_(slow, torch._foreach_sub(params, slow), alpha=group["alpha"])
            torch._foreach_copy_(params, slow)

    def _step_one(self, group, p: torch.Tensor) -> None:
        """One parameter's update, in float32 (or the parameter's wider dtype)."""
        beta1, beta2 = group["betas"]
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        dt = torch.promote_types(p.dtype, torch.float32)
        state = self.state[p]
        grad = self._centred(group, p.grad.to(dt))
        inplace = p.dtype == dt  # float32 / float64 parameters are updated in place
        work = p.detach() if inplace else p.detach().to(dt)
        exp_avg = state["exp_avg"] = state["exp_avg"].to(dt)
        exp_avg_sq = state["exp_avg_sq"] = state["exp_avg_sq"].to(dt)
        state["step"] += 1
        t = state["step"]
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
        adaptive, step_size = self.rectification(t, (beta1, beta2), group["n_sma_threshold"])
        if wd != 0:
            work.add_(work, alpha=-wd * lr)
        if adaptive:
            work.addcdiv_(exp_avg, exp_avg_sq.sqrt().add_(eps), value=-step_size * lr)
        else:
            work.add_(exp_avg, alpha=-step_size * lr)
        if not inplace:
            p.copy_(work)
        if t % group["k"] == 0:
            slow = state["slow_buffer"]
            slow.add_(p - slow, alpha=group["alpha"])
            p.copy_(slow)
