"""Subcommand modules of the CLI; each exposes ``register(subparsers)``."""

from . import batch, directions, evaluate, invert_edit, model_files, prepare, train, translate, video

COMMAND_MODULES = [model_files, translate, video, invert_edit, prepare, directions, train, evaluate, batch]
