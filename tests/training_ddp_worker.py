"""Run by tests/test_training_cli.py under ``torchrun --nproc_per_node 2`` (gloo): one small video_edit run
through the library; every rank saves its final encoder weights to ``OUT/rank<r>.pt``.

Not a test module itself (no ``test_`` prefix): ``python tests/training_ddp_worker.py OUT BATCH``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch


def run(out: Path, batch: int, steps: int = 3):
    """The same run for one process (global batch ``batch``) or for each of N torchrun processes
    (``batch`` per process): returns the trainer after ``steps`` steps."""
    from styleganex.dev.testing import random_model
    from styleganex.pipelines.lpips import load_lpips
    from styleganex.training import prepare_training, recipe_options

    opts = recipe_options("video_edit", output_size=256, max_steps=steps, batch_size=batch, bn="frozen",
                          adv_lambda=0.0, pair_feature=8, learning_rate=1e-3, log_interval=1, val_interval=10_000)
    direction = torch.randn(16, generator=torch.Generator().manual_seed(5)) * 0.5
    trainer = prepare_training(opts, out, init=random_model("inversion", size=256, seed=0), direction=direction,
                               lpips=load_lpips(random_backbone=True, net="alex"), device="cpu")
    trainer.run()
    return trainer


if __name__ == "__main__":
    torch.set_num_threads(1)
    out, batch = Path(sys.argv[1]), int(sys.argv[2])
    trainer = run(out, batch)
    rank = int(os.environ.get("RANK", "0"))
    torch.save({k: v.detach().clone() for k, v in trainer.model.encoder.state_dict().items()}, out / f"rank{rank}.pt")
    trainer.ctx.close()
