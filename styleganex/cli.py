"""Command line: ``python -m styleganex <command> ...`` (``--help`` lists the commands).

Each group of commands lives in a module of ``styleganex.commands`` that exposes
``register(subparsers)``; each subcommand sets ``func(args) -> int``.
"""

from __future__ import annotations

import argparse
import sys

from .commands import COMMAND_MODULES
from .errors import StyleGANEXError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m styleganex",
                                description="StyleGANEX: encode, invert, edit, translate real faces.")
    sub = p.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (StyleGANEXError, FileNotFoundError) as e:  # user errors: one clear line, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
