"""Exceptions and the progress/cancel conventions shared by long-running work.

Long operations (inversion, video) take ``progress(done: int, total: int, info: dict)`` and
``cancel() -> bool`` callables; when ``cancel()`` returns True they stop within one step and raise
:class:`Cancelled`, leaving no partial output behind.
"""


class Cancelled(RuntimeError):
    """The caller's cancel check asked to stop."""


def check_cancel(cancel) -> None:
    if cancel is not None and cancel():
        raise Cancelled("cancelled")
