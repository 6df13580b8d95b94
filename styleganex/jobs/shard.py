"""Which share of a job this process does: torchrun's ranks, ``--shard I/N``, or both.

Under ``torchrun`` every process reads ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` from its environment;
``--shard I/N`` does the same for processes started another way (a SLURM job array, separate shells).
Both together multiply: shard ``I`` of ``N`` run as a torchrun job of ``W`` ranks is split again, rank
``r`` taking share ``I * W + r`` of ``N * W``.

The shares are fixed by the input list alone, never by timing: the sorted inputs are cut into
consecutive batches of ``batch_size`` and batch ``k`` goes to share ``k % count``. Every share therefore
sees the same batches (so the same outputs, byte for byte, whatever the number of processes), and the
shares together cover every input exactly once.

>>> Shard(0, 2).batches(5, 1)
[range(0, 1), range(2, 3), range(4, 5)]
>>> Shard(1, 2).batches(5, 2)
[range(2, 4)]
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

from ..base.errors import InputError

__all__ = ["Shard", "parse_shard", "current_shard", "GatherGroup"]


@dataclass(frozen=True)
class Shard:
    """Share ``index`` of ``count``.

    index, count: this process's share and the number of shares (0 <= index < count).
    local_rank: torchrun's ``LOCAL_RANK`` (which GPU of the machine), None outside torchrun.
    world_size: the number of torchrun processes (1 outside torchrun); their counts are gathered at the end.
    rank: torchrun's ``RANK`` (0 outside torchrun); rank 0 prints the job's totals.
    """

    index: int = 0
    count: int = 1
    local_rank: int | None = None
    world_size: int = 1
    rank: int = 0

    def batches(self, n_items: int, batch_size: int = 1) -> list[range]:
        """The index ranges of the batches this share does, in order.

        Args:
            n_items: length of the (sorted) input list.
            batch_size: items per batch (the last batch may be shorter).
        """
        size = max(1, int(batch_size))
        starts = range(0, n_items, size)
        return [range(s, min(s + size, n_items)) for k, s in enumerate(starts) if k % self.count == self.index]

    def device(self, requested: str | None) -> str | None:
        """``cuda:LOCAL_RANK`` under torchrun on a GPU machine when no device was requested; else ``requested``."""
        if requested is None and self.local_rank is not None:
            import torch

            if torch.cuda.is_available():
                return f"cuda:{self.local_rank % torch.cuda.device_count()}"
        return requested

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N``; InputError otherwise."""
    try:
        index, count = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise InputError(f"--shard {text!r}: give I/N, e.g. 0/4 for the first of four shares") from None
    if count < 1 or not 0 <= index < count:
        raise InputError(f"--shard {text}: I must be 0..N-1 and N at least 1")
    return index, count


def _env_int(name: str, default: int | None) -> int | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise InputError(f"the environment variable {name}={value!r} is not a whole number") from None


def current_shard(shard: str | None = None) -> Shard:
    """This process's :class:`Shard`, from torchrun's environment and ``--shard I/N`` (see the module docstring)."""
    index, count = parse_shard(shard) if shard else (0, 1)
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", None)
    if world < 1 or not 0 <= rank < world:
        raise InputError(f"RANK={rank} and WORLD_SIZE={world} do not describe a process of a torchrun job")
    return Shard(index * world + rank, count * world, local, world, rank)


class GatherGroup:
    """The torch.distributed group (gloo, over the CPU) the ranks of a torchrun job use to add up their counts.

    Outside torchrun (``world_size == 1``) nothing is set up and :meth:`gather` returns this process's own
    values. The group is set up when the job starts, so every rank waits for the others there and not at
    the end; the end waits as long as the slowest rank takes (``timeout``).
    """

    def __init__(self, shard: Shard, timeout: datetime.timedelta = datetime.timedelta(days=7)):
        self.shard = shard
        self.active = shard.world_size > 1
        if self.active:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group("gloo", timeout=timeout)

    def gather(self, value) -> list:
        """Every rank's ``value`` (JSON data: counts, names, messages), in rank order. The values travel as
        JSON bytes in tensors (no pickles between processes)."""
        if not self.active:
            return [value]
        import json

        import torch
        import torch.distributed as dist

        data = torch.tensor(list(json.dumps(value).encode("utf-8")), dtype=torch.uint8)
        sizes = [torch.zeros(1, dtype=torch.int64) for _ in range(self.shard.world_size)]
        dist.all_gather(sizes, torch.tensor([data.numel()], dtype=torch.int64))
        longest = int(max(s.item() for s in sizes))
        padded = torch.zeros(longest, dtype=torch.uint8)
        padded[:data.numel()] = data
        parts = [torch.zeros(longest, dtype=torch.uint8) for _ in range(self.shard.world_size)]
        dist.all_gather(parts, padded)
        return [json.loads(bytes(part[:int(size.item())].tolist()).decode("utf-8")) for part, size in zip(parts, sizes)]

    def close(self) -> None:
        if self.active:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
