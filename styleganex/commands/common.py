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
