"""Subcommand modules of the CLI; each exposes ``register(subparsers)``."""

from . import core, directions, invert_edit, translate

COMMAND_MODULES = [core, translate, invert_edit, directions]
