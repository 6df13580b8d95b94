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
