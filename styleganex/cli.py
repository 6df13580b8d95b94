"""Command line: ``python -m styleganex <command> ...`` (``--help`` lists the commands).

Each group of commands lives in a module of ``styleganex.commands`` that exposes
``register(subparsers)``; each subcommand sets ``func(args) -> int``.

Exit status: 0 done; 2 a user's mistake (bad option, missing or unreadable input, an output that cannot
be written or would overwrite an input, a result with NaN values), shown as one ``error:`` line and no
traceback; 130 interrupted. Warnings the user asked to accept (``--allow-short``) are ``warning:`` lines.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings

from .base.errors import StyleGANEXError, StyleGANEXWarning
from .commands import COMMAND_MODULES


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m styleganex",
                                description="StyleGANEX: encode, invert, edit, translate real faces.")
    sub = p.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return p


@contextlib.contextmanager
def _settings(args):
    """``--max-pixels`` as the one pixel cap (``images.MAX_PIXELS``) for this command, ``--fast`` as the
    fast-path switch of every model it uses, and the package's warnings as ``warning:`` lines. Other
    libraries' warnings (torch, numpy) are held back and printed only when the command succeeds, so a
    refusal stays the one ``error:`` line."""
    from .io import images

    held: list[str] = []

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, StyleGANEXWarning):
            from tqdm import tqdm
            tqdm.write(f"warning: {message}", file=sys.stderr)  # on its own line, above a progress bar
        else:
            held.append(warnings.formatwarning(message, category, filename, lineno, line))

    from .model.fast import fast_mode

    previous = images.MAX_PIXELS
    limit = getattr(args, "max_pixels", None)
    with warnings.catch_warnings(), fast_mode(getattr(args, "fast", None)):
        warnings.simplefilter("always", StyleGANEXWarning)
        warnings.showwarning = show
        try:
            if limit is not None:
                images.MAX_PIXELS = limit
            yield
            for text in held:
                print(text, file=sys.stderr, end="")
        finally:
            images.MAX_PIXELS = previous


def _message(e: BaseException) -> str:
    """An error in words: an OSError's reason and file (never its ``(errno, reason, file)`` tuple)."""
    if isinstance(e, OSError) and not isinstance(e, StyleGANEXError) and e.strerror:
        if e.filename and str(e.filename) not in str(e.strerror):
            return f"{e.strerror}: {e.filename}" + (f" -> {e.filename2}" if e.filename2 else "")
        return str(e.strerror)
    return str(e)


def main(argv=None) -> int:
    """Run one command; returns the exit status (argparse's usage errors too, as 2)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or a value argparse refused (2, after its one error line)
        return e.code if isinstance(e.code, int) else 2
    try:
        with _settings(args):
            return int(args.func(args) or 0)
    except (StyleGANEXError, FileNotFoundError) as e:  # user errors: one clear line, no traceback
        print(f"error: {_message(e)}", file=sys.stderr)
        return 2
    except OSError as e:  # an output path that cannot be written, a full disk, a read-only folder
        print(f"error: {_message(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
