"""What the subcommands share: the ``--model`` and ``--device`` arguments."""

from __future__ import annotations

from pathlib import Path

import torch


def add_model_args(parser) -> None:
    parser.add_argument("--model", required=True, help="checkpoint path or file name in the models folder")
    parser.add_argument("--device", default=None, help="torch device: cpu, cuda, cuda:1 (default: cuda when available)")


def device_arg(value: str | None) -> str:
    return value or ("cuda" if torch.cuda.is_available() else "cpu")


def load_model_arg(args):
    """The model named by ``--model`` (a path, or a file name in the models folder) on ``--device``."""
    from ..checkpoints import load_model
    from ..paths import find_model_file

    return load_model(find_model_file(args.model) or Path(args.model), device=device_arg(args.device))


class ProgressBar:
    """A tqdm bar as the core's ``progress(done, total, info)``; numbers in ``info`` (loss, lr, ...) are
    shown after the bar. Use it as a context manager so the bar is closed on errors too."""

    def __init__(self, total: int | None, desc: str, unit: str = "it"):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, unit=unit)

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
                             "for the N-th), all, or index-map numbers such as 0,2 (faces numbered left to right; "
                             "--preview draws them)")
    parser.add_argument("--max-faces", type=int, default=0, help="--faces all: at most this many (0 = no limit)")
    parser.add_argument("--min-face-size", type=float, default=0.0,
                        help="leave out faces whose detector box is narrower than this (pixels)")
    parser.add_argument("--min-score", type=float, default=float("-inf"),
                        help="leave out faces whose detector score is below this (false detections score ~0.1)")


def face_selection(args):
    from ..faces import FaceSelection

    return FaceSelection.parse(args.faces, max_faces=args.max_faces, min_size=args.min_face_size,
                               min_score=args.min_score)


def add_paste_args(parser) -> None:
    """``--mask``, ``--feather``, ``--erode``, ``--no-colour``: how results are pasted back."""
    parser.add_argument("--mask", default="face", choices=("face", "head", "crop"),
                        help="pasted region: the face (default), the head with hair (hair edits), or the whole "
                             "crop (toonify, the release)")
    parser.add_argument("--feather", type=float, default=0.05,
                        help="fade width inside the mask, as a fraction of the crop's shorter side")
    parser.add_argument("--erode", type=float, default=0.0, help="shrink the mask by this fraction before fading")
    parser.add_argument("--no-colour", action="store_true",
                        help="do not match the result's colours to the photo around the face")


def paste_options(args):
    from ..faces import PasteOptions

    return PasteOptions(args.mask, args.feather, args.erode, not args.no_colour)
