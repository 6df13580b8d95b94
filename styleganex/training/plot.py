"""The loss curves of a training run, as numbers per term and as a picture.

:func:`loss_curves` gathers every loss term of the per-step logs (``Trainer.run``'s ``progress`` logs or
``Trainer.history``); :func:`plot_losses` draws them on one log-scaled axis, one colour per term, with a
legend, as a [3, H, W] image in 0..1 (what the ComfyUI training nodes show).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch

COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))


def loss_curves(logs: Iterable[dict]) -> dict[str, list[float]]:
    """``{term: [value per log line]}`` for every ``loss*`` number of per-step log dicts (validation lines,
    which hold ``val``, are left out). ``loss`` (the total) comes first; a term missing from a line is NaN."""
    lines = [d for d in logs if isinstance(d, dict) and "val" not in d]
    names: list[str] = []
    for d in lines:
        names += [k for k, v in d.items() if k.startswith("loss") and isinstance(v, (int, float)) and k not in names]
    names.sort(key=lambda k: (k != "loss", k))
    return {k: [float(d[k]) if isinstance(d.get(k), (int, float)) else math.nan for d in lines] for k in names}


def plot_losses(curves: dict[str, list[float]], width: int = 640, height: int = 360) -> torch.Tensor:
    """The curves on one log10 axis (values <= 0 are drawn at the smallest positive value).

    Args:
        curves: ``{term: values}`` (:func:`loss_curves`); all lists of one length.
        width, height: size of the picture in pixels.

    Returns:
        [3, height, width] float32 in 0..1: white background, axes, the min/max labels and a legend.
    """
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    left, right, top, bottom = 56, 12, 12, 28
    values = [v for vs in curves.values() for v in vs if math.isfinite(v) and v > 0]
    steps = max((len(v) for v in curves.values()), default=0)
    draw.line([(left, top), (left, height - bottom), (width - right, height - bottom)], fill="black", width=1)
    draw.text((left, height - bottom + 8), f"steps: {steps}", font=font, fill="black")
    if values and steps:
        lo, hi = math.log10(min(values)), math.log10(max(values))
        if hi - lo < 1e-6:
            lo, hi = lo - 0.5, hi + 0.5
        draw.text((4, top), f"{10 ** hi:.3g}", font=font, fill="black")
        draw.text((4, height - bottom - 12), f"{10 ** lo:.3g}", font=font, fill="black")
        floor = min(values)
        span_x = max(1, steps - 1)

        def point(i: int, v: float) -> tuple[float, float]:
            y = (math.log10(max(v, floor)) - lo) / (hi - lo)
            return (left + (width - left - right) * i / span_x, top + (height - top - bottom) * (1 - y))

        for n, (name, vs) in enumerate(curves.items()):
            colour = COLOURS[n % len(COLOURS)]
            pts = [point(i, v) for i, v in enumerate(vs) if math.isfinite(v)]
            if len(pts) > 1:
                draw.line(pts, fill=colour, width=2 if name == "loss" else 1)
            elif pts:
                draw.ellipse([pts[0][0] - 2, pts[0][1] - 2, pts[0][0] + 2, pts[0][1] + 2], fill=colour)
            draw.text((width - right - 150, top + 12 * n), name, font=font, fill=colour)
    array = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(array.transpose(2, 0, 1).copy())
