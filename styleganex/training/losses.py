"""The release's training losses (``training/coach.py: calc_loss``), each term with its weight option.

Every term is a batch mean, so the gradient of a batch split over processes and averaged (DDP) equals
the gradient of the whole batch:

=================  ======================================================================  ==================
term (log key)     value                                                                   weight option
=================  ======================================================================  ==================
``loss_l2``        mean squared error between output and target                            ``l2_lambda``
``loss_lpips``     LPIPS (v0.1; the release's trunk is AlexNet)                            ``lpips_lambda``
``loss_l2_crop``   L2 on the inner face region (rows 35:223, columns 32:220 of 256)        ``l2_lambda_crop``
``loss_lpips_crop`` LPIPS on that region                                                   ``lpips_lambda_crop``
``loss_id``        1 - cos of ArcFace IR-SE50 features (``IdentityLoss``)                  ``id_lambda``
``loss_w_norm``    mean over the batch of ||w+ - latent_avg||_2 (over all rows)            ``w_norm_lambda``
``loss_g``         non-saturating adversarial loss softplus(-D(output))                    ``adv_lambda``
``loss_tmp``       MSE to the warped output of the un-augmented input, ramped in over      ``tmp_lambda``
                   the second half: weight x min(1, 4 (step / max_steps - 0.5))
=================  ======================================================================  ==================

The inner-crop box is the release's, given for 256-pixel outputs; other sizes scale it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CROP_BOX_256 = (35, 223, 32, 220)
"""The release's inner face region (top, bottom, left, right) of a 256-pixel image (``calc_loss``,
``IDLoss.extract_feats``)."""


def _num(t) -> float:
    return float(t.detach()) if isinstance(t, torch.Tensor) else float(t)


def inner_crop(images: torch.Tensor) -> torch.Tensor:
    """The inner face region of ``images`` ``[B, C, H, W]``: the release's 256-pixel box scaled to H x W."""
    h, w = images.shape[-2:]
    top, bottom, left, right = CROP_BOX_256
    return images[:, :, round(top * h / 256):round(bottom * h / 256), round(left * w / 256):round(right * w / 256)]


def w_norm_loss(wplus: torch.Tensor, latent_avg: torch.Tensor | None) -> torch.Tensor:
    """The release's WNormLoss: ``sum_b ||w+_b - latent_avg||_2 / B`` (norm over rows and channels)."""
    if latent_avg is not None:
        wplus = wplus - latent_avg.to(wplus)
    return wplus.flatten(1).norm(2, dim=1).sum() / wplus.shape[0]


def temporal_weight(step: int, max_steps: int) -> float:
    """The release's ramp of the temporal (flicker) loss: 0 before half of the run, then
    ``min(1, 4 (step / max_steps - 0.5))``."""
    if 2 * step < max_steps:
        return 0.0
    return min(1.0, 4.0 * (step / max_steps - 0.5))


def lpips_mean(net, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """LPIPS of an ``lpips.LPIPS`` module averaged over the batch (the release's ``criteria.lpips``)."""
    return net(a, b).mean()


class Losses:
    """Computes the weighted sum of the terms whose weight is not 0.

    Args:
        opts: the :class:`~styleganex.training.options.TrainOptions`.
        lpips: an ``lpips.LPIPS`` module (needed when an LPIPS weight is set).
        identity: an ``IdentityLoss`` (needed when ``id_lambda`` is set).
    """

    def __init__(self, opts, lpips=None, identity=None):
        self.opts = opts
        self.lpips = lpips
        self.identity = identity

    def __call__(self, x, y, y_hat, wplus, latent_avg, step: int, y0_hat=None, discriminator=None
                 ) -> tuple[torch.Tensor, dict[str, float]]:
        """Returns ``(total loss, {log key: value})``; ``y0_hat``: the warped output of the
        un-augmented input (temporal loss), ``discriminator``: scores images (adversarial loss)."""
        o = self.opts
        logs: dict[str, float] = {}
        total = y_hat.new_zeros(())
        if o.id_lambda > 0:
            loss_id, id_logs = self.identity(y_hat, y, x if x.shape[1] == 3 else None)
            logs["loss_id"] = _num(loss_id)
            if id_logs and "diff_views" in id_logs[0]:  # the release's id_improve
                logs["id_improve"] = sum(d["diff_target"] - d["diff_views"] for d in id_logs) / len(id_logs)
            total = total + o.id_lambda * loss_id
        if o.l2_lambda > 0:
            v = F.mse_loss(y_hat, y)
            logs["loss_l2"] = _num(v)
            total = total + o.l2_lambda * v
        if o.lpips_lambda > 0:
            if o.recipe == "pretrain":  # scripts/pretrain.py compares the halved images
                from .data import fir_halve
                v = lpips_mean(self.lpips, fir_halve(y_hat), fir_halve(y))
            else:
                v = lpips_mean(self.lpips, y_hat, y)
            logs["loss_lpips"] = _num(v)
            total = total + o.lpips_lambda * v
        if o.lpips_lambda_crop > 0:
            v = lpips_mean(self.lpips, inner_crop(y_hat), inner_crop(y))
            logs["loss_lpips_crop"] = _num(v)
            total = total + o.lpips_lambda_crop * v
        if o.l2_lambda_crop > 0:
            v = F.mse_loss(inner_crop(y_hat), inner_crop(y))
            logs["loss_l2_crop"] = _num(v)
            total = total + o.l2_lambda_crop * v
        if o.w_norm_lambda > 0:
            v = w_norm_loss(wplus, latent_avg if o.start_from_latent_avg else None)
            logs["loss_w_norm"] = _num(v)
            total = total + o.w_norm_lambda * v
        if o.adv_lambda > 0 and discriminator is not None:
            from .discriminator import g_nonsaturating_loss
            v = g_nonsaturating_loss(discriminator(y_hat))
            logs["loss_g"] = _num(v)
            total = total + o.adv_lambda * v
        if o.tmp_lambda > 0 and y0_hat is not None:
            v = ((y_hat - y0_hat) ** 2).mean()
            logs["loss_tmp"] = _num(v)
            total = total + o.tmp_lambda * temporal_weight(step, o.max_steps) * v
        logs["loss"] = _num(total)
        return total, logs
