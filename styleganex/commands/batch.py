"""``batch COMMAND``: a per-file command over many inputs, sharded over processes, GPUs and machines.

    python -m styleganex batch sr --inputs photos/ --out out/ --model styleganex_sr.pt
    torchrun --nproc_per_node 4 -m styleganex batch invert --inputs photos/ --out out/ --model ... --steps 500
    python -m styleganex batch prepare --inputs photos/ --shard 0/8 --out data/      # one of 8 separate processes

``COMMAND`` takes the single-file command's own options (``--model``, ``--seed``, ...); ``--inputs`` is a
folder, a glob pattern or a ``.txt`` list (:mod:`styleganex.jobs.inputs`) and ``--out`` the output folder,
where the outputs follow the inputs' relative names. The model is loaded once per process. Under torchrun
each rank takes its share (:mod:`styleganex.jobs.shard`) on ``cuda:LOCAL_RANK`` when there are GPUs; the
work of each input is the single-file command's (:mod:`styleganex.jobs.task`), and
:func:`~styleganex.jobs.runner.run_batch` goes on past bad inputs, skips complete outputs and logs every
item in ``OUT/batch_log.jsonl``. The last line is ``N done, M skipped, K failed`` (the whole job's, from
rank 0); the exit status is 0 only when none failed (1 otherwise).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .common import ProgressBar, device_arg, int_range

# command -> (module with its parser, name of its task builder): builder(args, batch_size, progress) -> Task
BATCH_COMMANDS = {
    "invert": ("invert_edit", "invert_task"),
    "edit": ("invert_edit", "edit_task"),
    "sr": ("translate", "sr_task"),
    "sketch2face": ("translate", "sketch2face_task"),
    "mask2face": ("translate", "mask2face_task"),
    "video": ("video", "video_task"),
    "prepare": ("prepare", "prepare_task"),
}


SINGLE_ONLY = {"edit": ("frame",)}
"""Options that name one file for one input, so batch leaves them out (``edit --frame``: the photo to paste into)."""


def _single_parsers() -> dict[str, argparse.ArgumentParser]:
    """The single-file commands' parsers, whose options ``batch COMMAND`` takes over."""
    import importlib

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    for module in {m for m, _ in BATCH_COMMANDS.values()}:
        importlib.import_module(f"{__package__}.{module}").register(sub)
    return sub.choices


def register(sub) -> None:
    p = sub.add_parser("batch", help="run a command over many photos or videos (torchrun for several processes)",
                       description=__doc__.split("\n\n")[0])
    commands = p.add_subparsers(dest="batch_command", required=True, metavar="COMMAND")
    singles = _single_parsers()
    for name in BATCH_COMMANDS:
        single = singles[name]
        q = commands.add_parser(name, help=f"{name} over many inputs (the options of '{name}')")
        q.add_argument("--inputs", required=True,
                       help="a folder (searched recursively), a glob pattern ('photos/**/*.jpg') or a .txt file "
                            "with one path per line")
        q.add_argument("--out", required=True,
                       help="output folder: the outputs follow the inputs' relative names; batch_log.jsonl is "
                            "written there")
        q.add_argument("--shard", default=None, metavar="I/N",
                       help="do share I of N (0-based), e.g. one task of a SLURM job array; under torchrun each "
                            "rank splits that share again")
        q.add_argument("--batch-size", type=int_range(1, 256), default=None,
                       help="inputs per batch: photos of one size are encoded and decoded together (default: 8 "
                            "on a GPU, 1 on the CPU); a rank always takes whole batches")
        q.add_argument("--max-failures", type=int_range(1), default=None, metavar="K",
                       help="stop a process after K failed inputs (default: go on to the end)")
        q.add_argument("--log", default=None, help="the log file (default OUT/batch_log.jsonl)")
        q.add_argument("--no-progress", action="store_true", help="no progress bar")
        for action in single._actions:
            if not action.option_strings or "--out" in action.option_strings or "-h" in action.option_strings:
                continue  # its input, its --out and --help: batch has its own
            if action.dest in SINGLE_ONLY.get(name, ()):
                continue
            q._add_action(action)
        q.set_defaults(func=cmd_batch)


def _under(path: Path, folder: Path) -> bool:
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(folder))
        return True
    except ValueError:
        return False


def cmd_batch(args) -> int:
    import importlib

    from ..base.outputs import check_output_folder
    from ..jobs.inputs import list_inputs
    from ..jobs.log import LOG_NAME, BatchLog
    from ..jobs.runner import Summary, run_batch
    from ..jobs.shard import GatherGroup, current_shard

    shard = current_shard(args.shard)
    if hasattr(args, "device"):  # cuda:LOCAL_RANK under torchrun on GPUs, else --device or its default
        args.device = device_arg(shard.device(args.device))
    out = check_output_folder(args.out)
    group = GatherGroup(shard)
    try:
        module, builder = BATCH_COMMANDS[args.batch_command]
        build = getattr(importlib.import_module(f"{__package__}.{module}"), builder)
        batch_size = args.batch_size
        if batch_size is None:
            batch_size = 8 if str(getattr(args, "device", None) or "cpu").startswith("cuda") else 1
        task = build(args, batch_size=batch_size, progress=False).load()
        items = [it for it in list_inputs(args.inputs, task.suffixes) if not _under(it.source, out)]
        mine = sum(len(b) for b in shard.batches(len(items), batch_size if task.batchable else 1))
        desc = f"{args.batch_command} {shard.label}" if shard.count > 1 else args.batch_command
        with BatchLog(args.log or out / LOG_NAME, shard.label) as log, \
                ProgressBar(mine, desc, "item", position=shard.local_rank or 0, disable=args.no_progress,
                            leave=True) as bar:
            summary = run_batch(task, items, out, shard=shard, batch_size=batch_size, log=log,
                                max_failures=args.max_failures, overwrite=getattr(args, "overwrite", False),
                                progress=bar)
        totals = Summary.total(group.gather(summary.to_dict()))
    finally:
        group.close()
    if shard.rank == 0:
        for source, error in totals.failures:
            print(f"failed: {error if error.startswith(source) else f'{source}: {error}'}", file=sys.stderr)
        stopped = " (stopped early: --max-failures)" if totals.stopped else ""
        print(totals.line() + stopped)
    return 0 if totals.failed == 0 else 1
