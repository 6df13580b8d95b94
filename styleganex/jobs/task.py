"""What a command does to one input, in the steps the batch runner and the single-file command share.

A :class:`Task` is one command with its options and its loaded model. Every front door runs the same
three steps on an :class:`Item` (a source file and where its outputs go):

1. :meth:`Task.prepare` reads the input and does its per-file work on the CPU (the face crop, the
   label map, ...). A bad input (corrupt, truncated, no face, too many pixels) fails here with its
   own error.
2. :meth:`Task.compute` runs the model on a list of prepared inputs: tasks whose work batches
   (``batchable``) encode and decode photos of one size together; the results are those of one input
   at a time (the same seeds, the same noise).
3. :meth:`Task.write` writes the item's outputs with ``write_all``: all of them appear together, or
   none (an error, Ctrl-C or a killed process leaves nothing behind but hidden temporary files that
   :meth:`Task.clean` removes before the item is done again).

The single-file command is ``run_one(task, item)``: those three steps on one item.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable

__all__ = ["Item", "Lazy", "Task", "resolve", "run_one"]


class Lazy:
    """A value made on first use: the single-file commands read their input before they load the model
    (a missing input is reported first, as always), the batch command loads it before the first item
    (:meth:`Task.load`)."""

    def __init__(self, make: Callable[[], Any]):
        self._make, self._value, self._made = make, None, False

    def get(self) -> Any:
        if not self._made:
            self._value, self._made = self._make(), True
        return self._value


def resolve(value: Any) -> Any:
    """``value``, or what it makes when it is a :class:`Lazy`."""
    return value.get() if isinstance(value, Lazy) else value


@dataclass(frozen=True)
class Item:
    """One input of a task.

    source: the input file.
    target: where its outputs go; each task says what it means (an output file for ``sr``, ``edit`` and
        ``video``; the output folder and stem ``FOLDER/STEM`` for ``invert``, ``sketch2face`` and
        ``mask2face``; the relative name for ``prepare``).
    """

    source: Path
    target: Path


class Task:
    """Base class of the per-command tasks (see the module docstring)."""

    name: str = "task"
    batchable: bool = False
    """True when :meth:`compute` runs several inputs through the model together."""
    suffixes: tuple[str, ...] = ()
    """Extensions of the inputs a folder or glob picks up."""
    _model: Any = None

    @property
    def model(self):
        """The task's model (loaded on first use when it was given as a :class:`Lazy`)."""
        return resolve(self._model)

    def load(self) -> Task:
        """Make everything the task loads on first use (the model...) now: a batch job fails with one
        error before its first item rather than on each item."""
        _ = self.model
        return self

    def target(self, root: Path, rel: PurePosixPath) -> Path:
        """The item target of an input named ``rel`` under the batch output folder ``root``."""
        raise NotImplementedError

    def outputs(self, item: Item) -> list[Path]:
        """The files :meth:`write` writes for ``item``, as far as they are known before the work."""
        raise NotImplementedError

    def complete(self, item: Item) -> bool:
        """True when ``item``'s outputs are all there (a re-run skips it)."""
        return all(p.is_file() for p in self.outputs(item))

    def inputs(self, item: Item) -> list:
        """Every file ``item`` reads (none of its outputs may be one of them)."""
        return [item.source]

    def prepare(self, item: Item) -> Any:
        """Read and pre-process ``item`` (CPU work; raises for a bad input)."""
        raise NotImplementedError

    def compute(self, prepared: list) -> list:
        """The model's work on prepared inputs, one result per input, in order."""
        return [self.compute_one(p) for p in prepared]

    def compute_one(self, prepared: Any) -> Any:
        raise NotImplementedError

    def write(self, item: Item, result: Any) -> list[Path]:
        """Write ``item``'s outputs atomically; returns the files written."""
        raise NotImplementedError

    def describe(self, item: Item, result: Any) -> str:
        """One line saying what was written (the single-file command prints it)."""
        return f"wrote {item.target}"

    def clean(self, item: Item) -> None:
        """Remove the hidden temporary files a killed run left beside ``item``'s outputs."""
        for path in self.outputs(item):
            pattern = re.compile(rf"^\.{re.escape(path.name)}\.[0-9a-f]{{8}}\.partial$")
            if path.parent.is_dir():
                for stale in path.parent.iterdir():
                    if pattern.match(stale.name):
                        stale.unlink(missing_ok=True)


def run_one(task: Task, item: Item) -> tuple[Any, list[Path]]:
    """The single-file command: prepare, compute and write one item. Returns ``(result, files written)``."""
    prepared = task.prepare(item)
    result = task.compute([prepared])[0]
    return result, task.write(item, result)
