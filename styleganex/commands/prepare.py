"""``prepare``: a photo -> the training images of the release (its FFHQ re-alignment at 1280 and 320).

    python -m styleganex prepare photo.jpg --out data/
    python -m styleganex batch prepare --inputs photos/ --out data/    # then: train ... --data data/

writes ``data/realign1280x1280/photo.png`` and ``data/realign320x320/photo.png`` (see
:mod:`styleganex.jobs.prepare`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..base.outputs import check_not_inputs, check_output_folder
from .common import add_image_args, add_overwrite_arg


def _sizes(text: str) -> tuple[int, ...]:
    from ..faces.align import REALIGN_SIZES

    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give sizes such as 1280,320") from None
    if not sizes or any(s not in REALIGN_SIZES for s in sizes):
        raise argparse.ArgumentTypeError(f"{text!r}: the release's training sizes are "
                                         f"{', '.join(map(str, REALIGN_SIZES))}")
    return sizes


def register(sub) -> None:
    p = sub.add_parser("prepare", help="photo -> the release's training images (FFHQ re-alignment at 1280 and 320)")
    p.add_argument("photo", help="image file with a face")
    p.add_argument("--out", required=True, help="output folder: realign1280x1280/ and realign320x320/ are made in it")
    p.add_argument("--sizes", type=_sizes, default=(1280, 320),
                   help="which training sizes to write (default 1280,320: the release's SR targets and inputs)")
    add_image_args(p)
    add_overwrite_arg(p)
    p.set_defaults(func=cmd_prepare)


def prepare_task(args, batch_size: int = 1, progress: bool = True):
    from ..jobs.prepare import PrepareTask

    return PrepareTask(Path(args.out), sizes=args.sizes)


def cmd_prepare(args) -> int:
    from ..jobs.task import Item, run_one

    check_output_folder(args.out)
    task = prepare_task(args)
    item = Item(Path(args.photo), Path(Path(args.photo).stem + ".png"))
    check_not_inputs(task.outputs(item), task.inputs(item), args.overwrite)
    result, _ = run_one(task, item)
    print(task.describe(item, result))
    return 0
