"""Batch jobs: any per-file command over many inputs, sharded over processes, GPUs and machines.

- :mod:`~styleganex.jobs.inputs` — the inputs (folder, glob, list file) with their relative names;
- :mod:`~styleganex.jobs.shard` — this process's share (torchrun's ranks, ``--shard I/N``), the gloo group
  that adds up the counts;
- :mod:`~styleganex.jobs.task` — ``Task``: one command's per-file work (prepare, compute, write), shared by
  the single-file command (``run_one``) and the runner;
- :mod:`~styleganex.jobs.runner` — ``run_batch``: skips complete outputs, goes on past bad inputs, logs;
- :mod:`~styleganex.jobs.log` — ``batch_log.jsonl``;
- :mod:`~styleganex.jobs.photos`, :mod:`~styleganex.jobs.translate`, :mod:`~styleganex.jobs.prepare` — the
  tasks of ``invert``/``edit``, ``sr``/``sketch2face``/``mask2face``/``video`` and ``prepare``.
"""

from .inputs import IMAGE_SUFFIXES, LATENT_SUFFIXES, VIDEO_SUFFIXES, InputItem, list_inputs
from .log import LOG_NAME, BatchLog, read_log
from .runner import Summary, run_batch
from .shard import GatherGroup, Shard, current_shard, parse_shard
from .task import Item, Task, run_one

__all__ = ["IMAGE_SUFFIXES", "LATENT_SUFFIXES", "VIDEO_SUFFIXES", "InputItem", "list_inputs", "LOG_NAME", "BatchLog",
           "read_log", "Summary", "run_batch", "GatherGroup", "Shard", "current_shard", "parse_shard", "Item", "Task",
           "run_one"]
