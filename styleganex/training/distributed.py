"""Running one training command on several processes (``torchrun``).

``torchrun --nproc_per_node N python -m styleganex train ...`` starts N copies of the command with
``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` set (and ``MASTER_ADDR``/``MASTER_PORT`` for the rendezvous,
also across machines with ``--nnodes``). :func:`from_environment` joins them into one process group:
NCCL when the processes train on CUDA devices (one device per process, ``cuda:LOCAL_RANK``), gloo on
the CPU. Every process trains on its own share of each step's global batch (``--batch-size`` is per
process, as with the release's per-GPU batch); gradients are averaged by
``DistributedDataParallel``, so all processes keep identical weights. Only rank 0 validates, writes
checkpoints and the log.

BatchNorm: the encoder's BatchNorm layers normalise with the statistics of the batch they see
(``--bn batch``, the release's training mode), which under DDP is each process's share: the same as
the release trained on one GPU with that batch size. ``--bn sync`` uses ``torch.nn.SyncBatchNorm``
(statistics over the global batch; CUDA + NCCL only); ``--bn frozen`` keeps the running statistics
fixed, which makes a run independent of how its batch is split (N processes with batch b give the
weights one process with batch N*b gives).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Dist:
    """This process's place in the run: ``rank`` of ``world`` processes, its ``device``."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialised: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def any(self, flag: bool) -> bool:
        """True when ``flag`` is True on any process (a NaN loss or a cancel on one stops them all)."""
        if not self.initialised:
            return bool(flag)
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def barrier(self) -> None:
        if self.initialised:
            dist.barrier()

    def close(self) -> None:
        if self.initialised and dist.is_initialized():
            dist.destroy_process_group()
            self.initialised = False


def from_environment(device: str | None = None) -> Dist:
    """The process group of a ``torchrun`` launch (``WORLD_SIZE`` > 1), or a single process.

    Args:
        device: ``"cpu"``, ``"cuda"`` or None (CUDA when available). Under torchrun with CUDA each
            process takes ``cuda:LOCAL_RANK``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    want = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(want)
    if dev.type == "cuda" and world > 1:
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    if world <= 1:
        return Dist(device=dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo", rank=rank, world_size=world)
    return Dist(rank, world, local, dev, True)


def wrap(module: torch.nn.Module, ctx: Dist, sync_bn: bool = False) -> torch.nn.Module:
    """``module`` in ``DistributedDataParallel`` for a multi-process run (``sync_bn``: BatchNorm layers
    first converted to ``SyncBatchNorm``); the module itself for one process."""
    if not ctx.initialised:
        return module
    if sync_bn:
        module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids)
