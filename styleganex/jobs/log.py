"""``DIR/batch_log.jsonl``: one JSON line per item and run, from every process of a job.

Each line is ``{"input", "output", "status", "seconds", "error", "shard", "time"}``: ``status`` is
``"done"``, ``"skipped"`` (its outputs were complete already) or ``"failed"`` (``error`` says why);
``output`` lists the files of the item. Lines are appended with one ``write`` on a file opened with
``O_APPEND``, so the lines of processes writing at the same time never mix (on a local file system; on
a network file system give each machine its own ``--out`` or ``--log``). Re-runs append: the newest
line of an input is its state.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

__all__ = ["LOG_NAME", "STATUSES", "BatchLog", "read_log"]

LOG_NAME = "batch_log.jsonl"
STATUSES = ("done", "skipped", "failed")


class BatchLog:
    """Appends whole lines to a JSONL file (see the module docstring)."""

    def __init__(self, path: str | os.PathLike, shard: str = "0/1"):
        self.path = Path(path)
        self.shard = shard
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def record(self, source, outputs, status: str, seconds: float, error: str | None = None) -> dict:
        """Append one item's line and return it as a dict."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        entry = {"input": str(source), "output": [str(p) for p in outputs], "status": status,
                 "seconds": round(float(seconds), 4), "error": error, "shard": self.shard,
                 "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        line = (json.dumps(entry, ensure_ascii=True) + "\n").encode("ascii")
        written = os.write(self._fd, line)
        if written != len(line):  # a full disk: the rest of the line, so the file stays line-aligned
            os.write(self._fd, line[written:])
        return entry

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> BatchLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_log(path: str | os.PathLike) -> list[dict]:
    """Every line of a batch log as a dict (a line cut short by a killed process is left out)."""
    entries = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries
