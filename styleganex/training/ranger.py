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
    """

    def __init__(self, params: Iterable, lr: float = 1e-4, alpha: float = 0.5, k: int = 6,
                 betas: tuple[float, float] = (0.95, 0.999), eps: float = 1e-5, weight_decay: float = 0,
                 use_gc: bool = True, n_sma_threshold: float = 5, gc_conv_only: bool = False):
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
                        use_gc=use_gc, n_sma_threshold=n_sma_threshold, gc_conv_only=gc_conv_only)
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

    @torch.no_grad()
    def step(self, closure=None):
        """One update of every parameter that has a gradient. Returns ``closure()``'s loss, if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
            gc_min_dim = 3 if group["gc_conv_only"] else 1
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise InputError("Ranger does not support sparse gradients")
                dt = torch.promote_types(p.dtype, torch.float32)
                grad = p.grad.to(dt, copy=True)
                work = p.detach().to(dt, copy=True)
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(work)
                    state["exp_avg_sq"] = torch.zeros_like(work)
                    state["slow_buffer"] = p.detach().clone()
                exp_avg = state["exp_avg"] = state["exp_avg"].to(dt)
                exp_avg_sq = state["exp_avg_sq"] = state["exp_avg_sq"].to(dt)

                if group["use_gc"] and grad.dim() > gc_min_dim:
                    grad.sub_(grad.mean(dim=tuple(range(1, grad.dim())), keepdim=True))

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
                p.copy_(work)

                if t % group["k"] == 0:
                    slow = state["slow_buffer"]
                    slow.add_(p - slow, alpha=group["alpha"])
                    p.copy_(slow)
        return loss
