"""Subcommand modules of the CLI; each exposes ``register(subparsers)``."""

from . import directions, evaluate, invert_edit, model_files, train, translate

COMMAND_MODULES = [model_files, translate, invert_edit, directions, train, evaluate]
