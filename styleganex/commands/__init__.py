"""Subcommand modules of the CLI; each exposes ``register(subparsers)``."""

from . import batch, directions, invert_edit, model_files, prepare, translate

COMMAND_MODULES = [model_files, translate, invert_edit, prepare, directions, batch]
