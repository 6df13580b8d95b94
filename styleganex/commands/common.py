"""What the subcommands share: the ``--model``, ``--device``, ``--overwrite`` and ``--max-pixels``
arguments, checked number types for argparse, and the progress bar.

Every value a user types is checked when the arguments are parsed (argparse prints the usage and one
``error:`` line and exits with status 2), so no mistake surfaces later as a traceback.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from ..base.errors import InputError
from ..base.validation import MAX_SEED, MAX_STRENGTH
from ..faces.paste import FACE_FEATHER, MASK_SHAPES


# ---- checked argument types ----------------------------------------------------------------------
def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def int_range(low: int, high: int | None = None):
    """An argparse type: a whole number in ``low..high``."""
    def parse(text: str) -> int:
        value = _whole(text)
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{'' if high is None else high}")
        return value
    parse.__name__ = "whole number"
    return parse


def float_range(low: float | None = None, high: float | None = None, low_open: bool = False):
    """An argparse type: a finite number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(f"{value:g} must be {'>' if low_open else '>='} {low:g}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{value:g} must be <= {high:g}")
        return value
    parse.__name__ = "number"
    return parse


seed = int_range(0, MAX_SEED)
"""A seed: 0..2**64-1 (what torch generators accept)."""
count = int_range(0)
strength = float_range(-MAX_STRENGTH, MAX_STRENGTH)
"""An edit strength / editing scale within +-``validation.MAX_STRENGTH``."""


# ---- shared arguments -------------------------------------------------------------------------------
def add_model_args(parser) -> None:
    parser.add_argument("--model", required=True, help="checkpoint path or file name in the models folder")
    parser.add_argument("--device", default=None, help="torch device: cpu, cuda, cuda:1 (default: cuda when available)")
    add_fast_arg(parser)


def add_fast_arg(parser) -> None:
    """``--fast``: the fast-path switch (``model.fast``: compiled hot paths, the sync-free inversion loop)."""
    from ..model.fast import FAST_ENV, FAST_SETTINGS

    parser.add_argument("--fast", choices=FAST_SETTINGS, default=None,
                        help=f"fast paths: 1 everywhere, 0 the reference path only, auto on CUDA only "
                             f"(default: ${FAST_ENV}, else auto)")


def add_image_args(parser) -> None:
    """``--max-pixels``: the pixel cap of every image (and video frame) the command reads."""
    from ..io.images import MAX_PIXELS

    parser.add_argument("--max-pixels", type=int_range(1), default=None, metavar="N",
                        help=f"largest image (or video frame) read, in pixels (default {MAX_PIXELS:,}; "
                             "larger files are refused before decoding)")


def add_overwrite_arg(parser) -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help="allow an output to replace an input file (it is replaced only once the new file "
                             "is complete)")


def device_arg(value: str | None) -> str:
    """The device named by ``--device`` (default: cuda when available), checked: an unknown name, or a GPU
    that is not there, is an InputError with one clear line."""
    if value is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(value)
    except (RuntimeError, ValueError):
        raise InputError(f"--device {value!r} is not a device: use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"--device {value}: no CUDA GPU is available here; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(f"--device {value}: there are {torch.cuda.device_count()} CUDA GPU(s), numbered from 0")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise InputError(f"--device {value}: Apple's MPS is not available here; use --device cpu")
    elif device.type != "cpu":
        raise InputError(f"--device {value}: {device.type} devices are not supported; use cpu, cuda or mps")
    return str(device)


def model_path_arg(args) -> Path:
    """The file ``--model`` names (a path, or a file name in the models folder)."""
    from ..io.paths import find_model_file

    return find_model_file(args.model) or Path(args.model)


def load_model_arg(args):
    """The model named by ``--model`` (a path, or a file name in the models folder) on ``--device``."""
    from ..model.checkpoints import load_model

    return load_model(model_path_arg(args), device=device_arg(args.device))


class ProgressBar:
    """A tqdm bar as the core's ``progress(done, total, info)``; numbers in ``info`` (loss, lr, ...) are
    shown after the bar. Use it as a context manager so the bar is closed on errors too."""

    def __init__(self, total: int | None, desc: str, unit: str = "it", **options):
        """``options``: more of tqdm's settings (``position`` for one bar per process, ``disable``)."""
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, unit=unit, **options)

    def __call__(self, done: int, total: int | None = None, info: dict | None = None) -> None:
        if total is not None and self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)
        shown = {k: f"{v:.4g}" for k, v in (info or {}).items() if isinstance(v, float)}
        if shown:
            self.bar.set_postfix(shown, refresh=False)

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()


def add_face_args(parser) -> None:
    """``--faces``, ``--min-face-size``, ``--min-score``: which faces of a photo (see ``faces.select``)."""
    parser.add_argument("--faces", default="largest",
                        help="which faces: largest (default, the release), score, center, 'left to right' (add :N "
                             "for the N-th), all, or index-map numbers such as 0,2 or 0-2 (faces numbered left to "
                             "right; --preview draws them)")
    parser.add_argument("--max-faces", type=int_range(0, 1024), default=0,
                        help="--faces all: at most this many (0 = no limit)")
    parser.add_argument("--min-face-size", type=float_range(0.0, 65_536.0), default=0.0,
                        help="leave out faces whose detector box is narrower than this (pixels)")
    parser.add_argument("--min-score", type=float_range(-100.0, 100.0), default=-100.0,
                        help="leave out faces whose detector score is below this (false detections score ~0.1)")


def face_selection(args):
    from ..faces import FaceSelection

    return FaceSelection.parse(args.faces, max_faces=args.max_faces, min_size=args.min_face_size,
                               min_score=args.min_score)


def add_paste_args(parser) -> None:
    """``--mask``, ``--feather``, ``--erode``, ``--no-colour``: how results are pasted back."""
    parser.add_argument("--mask", default="face", choices=MASK_SHAPES,
                        help="pasted region: the face (default), the head with hair (hair edits), or the whole "
                             "crop (toonify, the release)")
    parser.add_argument("--feather", type=float_range(0.0, 0.5), default=FACE_FEATHER,
                        help="fade width inside the mask, as a fraction of the crop's shorter side")
    parser.add_argument("--erode", type=float_range(0.0, 0.5), default=0.0,
                        help="shrink the mask by this fraction before fading")
    parser.add_argument("--no-colour", action="store_true",
                        help="do not match the result's colours to the photo around the face")


def paste_options(args):
    from ..faces import PasteOptions

    return PasteOptions(args.mask, args.feather, args.erode, not args.no_colour)
