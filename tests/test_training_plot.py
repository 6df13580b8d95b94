"""Loss curves from the per-step logs, and their picture."""

from __future__ import annotations

import math

import torch

from styleganex.training.plot import COLOURS, loss_curves, plot_losses


def test_loss_curves_gather_every_term_total_first():
    logs = [{"step": 1, "loss_l2": 0.5, "loss": 1.0, "lr": 1e-4}, {"step": 1, "val": {"loss": 9.0}},
            {"step": 2, "loss": 0.8, "loss_l2": 0.4, "loss_tmp": 0.1}]
    curves = loss_curves(logs)
    assert list(curves) == ["loss", "loss_l2", "loss_tmp"]
    assert curves["loss"] == [1.0, 0.8] and curves["loss_l2"] == [0.5, 0.4]
    assert math.isnan(curves["loss_tmp"][0]) and curves["loss_tmp"][1] == 0.1


def test_plot_draws_each_term_in_its_colour():
    curves = {"loss": [1.0, 0.5, 0.25, 0.2], "loss_l2": [0.1, 0.05, 0.0, 0.01]}
    img = plot_losses(curves, width=320, height=200)
    assert img.shape == (3, 200, 320) and img.dtype == torch.float32
    pixels = (img * 255).round().to(torch.uint8).permute(1, 2, 0).reshape(-1, 3)
    for colour in COLOURS[:2]:
        assert bool((pixels == torch.tensor(colour, dtype=torch.uint8)).all(1).any()), colour
    assert float(img.mean()) > 0.8  # mostly white
    empty = plot_losses({})
    assert empty.shape == (3, 360, 640)
