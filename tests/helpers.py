"""Small helpers shared by several test modules (the shared fixtures are in ``conftest.py``).

Test modules import these by name (``from helpers import error_line``); no test module imports another.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from styleganex.cli import main
from styleganex.faces import Face

ASTRONAUT_EYES = np.array([[203.0, 100.5], [245.5, 103.0]])
"""Eye centres (x, y) of scikit-image's astronaut, measured by hand: the eye on the image's left, then right."""
EYE_TOLERANCE = 2.0
"""How far (pixels of the original photo) a detected eye centre may lie from the measured one."""


def eye_error(face, true_eyes) -> float:
    """The largest coordinate error of ``face``'s eye centres against ``true_eyes`` ``(2, 2)``, in pixels."""
    return float(np.abs(np.stack(face.eyes()) - true_eyes).max())


class FixedFaceDetector:
    """One synthetic face (eyes 32 px apart, centred at (32, 24)) in every frame."""

    def detect(self, image):
        cx, cy, d = 32.0, 24.0, 32.0
        p = np.tile([[cx, cy + 0.4 * d]], (68, 1))
        p[36:42] = [cx - d / 2, cy]
        p[42:48] = [cx + d / 2, cy]
        p[0], p[16] = [cx - d, cy], [cx + d, cy]
        return [Face.from_landmarks(p)]


def with_nan(x: torch.Tensor) -> torch.Tensor:
    """A copy of ``x`` with its first element NaN."""
    x = x.clone()
    x.view(-1)[0] = float("nan")
    return x


def write_png(path, h=64, w=64, seed=0, mode="RGB") -> Path:
    """A random ``h`` x ``w`` RGB (or ``mode="L"`` grey) PNG."""
    rng = np.random.default_rng(seed)
    shape = (h, w, 3) if mode == "RGB" else (h, w)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    return Path(path)


def run_cli(capsys, *argv) -> tuple[int, str]:
    """Run the CLI in-process; a user's mistake is never a traceback. Returns (status, stderr)."""
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return rc, err


def error_line(err: str) -> str:
    """The one ``error:`` line of a command's stderr (fails when there are none or several)."""
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]
