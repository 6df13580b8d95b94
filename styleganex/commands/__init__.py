"""Subcommand modules of the CLI; each exposes ``register(subparsers)``."""

from . import core

COMMAND_MODULES = [core]
