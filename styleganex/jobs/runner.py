"""The batch runner: a task over this process's share of the inputs, one bad file never stopping the rest.

>>> summary = run_batch(task, list_inputs("photos/"), Path("out"), shard=current_shard())   # doctest: +SKIP
>>> summary.line()                                                                        # doctest: +SKIP
'7 done, 0 skipped, 1 failed'

For each batch of its share (:meth:`Shard.batches`), in order:

* items whose outputs are complete (:meth:`Task.complete`) are skipped (``skipped`` in the log). When
  some items of a batch are complete and others are not (a run killed midway), the whole batch is
  prepared and computed again, so the remaining items get exactly the results of an uninterrupted run,
  and only the missing ones are written;
* each item is prepared on its own: a corrupt, truncated, faceless or oversized input fails with its
  error (``failed`` in the log) and the batch goes on without it;
* the model's work runs on the prepared items together (:meth:`Task.compute`); if that fails, each item
  is computed alone so that only the item at fault fails;
* each item's outputs are written atomically (:meth:`Task.write`): on Ctrl-C the interrupted item
  leaves nothing, the finished ones stay, and a re-run goes on from there.

``max_failures`` stops this process after that many failed items. Every item gets a line in the log
(:class:`~styleganex.jobs.log.BatchLog`) and the :class:`Summary` counts them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..base.errors import Cancelled, StyleGANEXError, check_cancel
from ..base.outputs import check_not_inputs
from .inputs import InputItem
from .log import BatchLog
from .shard import Shard
from .task import Item, Task

__all__ = ["Summary", "run_batch", "error_message"]


@dataclass
class Summary:
    """What a run did: counts, the failed inputs with their errors, and whether it stopped early."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    stopped: bool = False

    def line(self) -> str:
        """``N done, M skipped, K failed``."""
        return f"{self.done} done, {self.skipped} skipped, {self.failed} failed"

    def to_dict(self) -> dict:
        return {"done": self.done, "skipped": self.skipped, "failed": self.failed,
                "failures": [list(f) for f in self.failures], "stopped": self.stopped}

    @classmethod
    def total(cls, parts: Sequence[dict]) -> Summary:
        """The sum of several processes' :meth:`to_dict`."""
        out = cls()
        for part in parts:
            out.done += int(part["done"])
            out.skipped += int(part["skipped"])
            out.failed += int(part["failed"])
            out.failures += [(str(a), str(b)) for a, b in part["failures"]]
            out.stopped = out.stopped or bool(part["stopped"])
        return out


def error_message(exc: BaseException) -> str:
    """The one-line message of an item's error: the project's own errors as they are, others with their type."""
    if isinstance(exc, (StyleGANEXError, FileNotFoundError)):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        return f"{exc.strerror}: {exc.filename}"
    return f"{type(exc).__name__}: {exc}"


@dataclass
class _Work:
    item: Item
    pending: bool  # False: complete already, computed again only to keep its batch whole
    seconds: float = 0.0
    prepared: object = None
    result: object = None
    error: str | None = None
    files: list | None = None  # what write wrote


def run_batch(task: Task, inputs: Sequence[InputItem], root: Path, *, shard: Shard = Shard(), batch_size: int = 1,
              log: BatchLog | None = None, max_failures: int | None = None, overwrite: bool = False,
              progress: Callable | None = None, cancel: Callable | None = None) -> Summary:
    """Run ``task`` over this process's share of ``inputs`` (see the module docstring).

    Args:
        task: the command, with its options and model.
        inputs: the whole job's sorted inputs (:func:`~styleganex.jobs.inputs.list_inputs`): every
            process gets the same list and takes its own share.
        root: the output folder; item targets are ``task.target(root, rel)``.
        shard: this process's share.
        batch_size: inputs per batch (1 for tasks that do not batch).
        log: where each item's line goes (None: nowhere).
        max_failures: stop after this many failed items (None: never).
        overwrite: allow an output to replace an input.
        progress: ``progress(done, total, info)`` after each item of the share.
        cancel: returns True to stop (raises :class:`Cancelled` between items).

    Returns:
        The :class:`Summary` of this process.
    """
    size = batch_size if task.batchable else 1
    batches = shard.batches(len(inputs), size)
    total = sum(len(b) for b in batches)
    summary, finished = Summary(), 0

    def record(work: _Work, status: str) -> None:
        nonlocal finished
        if log is not None:
            files = work.files if work.files is not None else task.outputs(work.item)
            log.record(work.item.source, files, status, work.seconds, work.error)
        if status == "failed":
            summary.failed += 1
            summary.failures.append((str(work.item.source), work.error or ""))
        elif status == "skipped":
            summary.skipped += 1
        else:
            summary.done += 1
        finished += 1
        if progress is not None:
            progress(finished, total, {"failed": float(summary.failed)})

    def fail(work: _Work, exc: BaseException, started: float) -> None:
        work.error = error_message(exc)
        work.seconds += time.perf_counter() - started
        record(work, "failed")

    for batch in batches:
        check_cancel(cancel)
        works = [_Work(Item(inputs[i].source, task.target(root, inputs[i].rel)), True) for i in batch]
        for work in works:
            work.pending = not task.complete(work.item)
            if not work.pending:
                record(work, "skipped")
        if not any(w.pending for w in works):
            continue
        todo = works if task.batchable else [w for w in works if w.pending]
        ready = []
        for work in todo:
            started = time.perf_counter()
            try:
                if work.pending:
                    check_not_inputs(task.outputs(work.item), task.inputs(work.item), overwrite)
                    task.clean(work.item)
                work.prepared = task.prepare(work.item)
                ready.append(work)
            except Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - one bad file never stops the rest
                if work.pending:
                    fail(work, exc, started)
                continue
            work.seconds += time.perf_counter() - started
        if ready:
            started = time.perf_counter()
            try:
                results = task.compute([w.prepared for w in ready])
                share = (time.perf_counter() - started) / len(ready)
                for work, result in zip(ready, results):
                    work.result, work.seconds = result, work.seconds + share
            except Cancelled:
                raise
            except Exception:  # noqa: BLE001 - find the item at fault: each alone
                for work in ready:
                    started = time.perf_counter()
                    try:
                        work.result = task.compute([work.prepared])[0]
                        work.seconds += time.perf_counter() - started
                    except Cancelled:
                        raise
                    except Exception as exc:  # noqa: BLE001
                        work.prepared = None
                        if work.pending:
                            fail(work, exc, started)
                ready = [w for w in ready if w.error is None]
        for work in ready:
            if not work.pending:
                continue
            started = time.perf_counter()
            try:
                work.files = task.write(work.item, work.result)
            except Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - a full disk fails this item; the others may fit
                fail(work, exc, started)
                continue
            work.seconds += time.perf_counter() - started
            work.prepared = work.result = None
            record(work, "done")
        if max_failures is not None and summary.failed >= max_failures:
            summary.stopped = True
            break
    return summary
