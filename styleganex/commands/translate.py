"""``sr``, ``sketch2face`` and ``mask2face``: the translation pipelines.

Every output is written only once it is complete (hidden temporary file in the destination folder,
renamed at the end): an error or Ctrl-C leaves no partial output behind.
"""

from __future__ import annotations

from pathlib import Path

from ..base.outputs import check_not_inputs, check_output_file, check_output_folder
from ..jobs.task import Lazy
from .common import (
    ProgressBar,
    add_image_args,
    add_model_args,
    add_overwrite_arg,
    device_arg,
    int_range,
    load_model_arg,
    model_path_arg,
    seed,
)

MAX_SAMPLES = 64
"""Most samples per input (as the node): all are kept in memory until written."""


def register(sub) -> None:
    p = sub.add_parser("sr", help="face super-resolution (sr / sr32 models)")
    p.add_argument("image", help="low-resolution photo of a face (with --degrade: a high-resolution photo); "
                                 "as the release, it is upsampled by factor/4, cropped with the eyes 64 px apart "
                                 "and the output is 4x that crop")
    add_model_args(p)
    p.add_argument("--factor", type=int_range(1, 64), default=None,
                   help="super-resolution factor (sr: 4-48, default 32; sr32: 32)")
    p.add_argument("--degrade", action="store_true",
                   help="as the release's default: crop the face of a high-resolution photo, degrade it "
                        "(bicubic downsampling by factor/4) and super-resolve it back to 4x the crop")
    p.add_argument("--seed", type=seed, default=0, help="seed of the decoder noise")
    p.add_argument("--out", required=True, help="output image (.png, .jpg, .webp, .tif, .bmp)")
    add_image_args(p)
    add_overwrite_arg(p)
    p.set_defaults(func=cmd_sr)

    p = sub.add_parser("sketch2face", help="faces from a one-channel sketch (sketch2face model)")
    p.add_argument("sketch", help="sketch image (the first channel is used, 0..1, as released)")
    add_model_args(p)
    _multimodal_args(p)
    p.set_defaults(func=cmd_sketch2face)

    p = sub.add_parser("mask2face", help="faces from a face-parsing map or a photo (mask2face model)")
    p.add_argument("mask", help="label image (class ids 0..18 or CelebAMask-HQ colours), or a photo with --parser")
    add_model_args(p)
    p.add_argument("--parser", default=None,
                   help="faceparsing.pth: the input is a photo whose face is cropped and parsed first")
    _multimodal_args(p)
    p.set_defaults(func=cmd_mask2face)


def _multimodal_args(p) -> None:
    p.add_argument("--number", type=int_range(1, MAX_SAMPLES), default=4, help="how many different faces")
    p.add_argument("--seed", type=seed, default=0, help="random seed of the styles and noise")
    p.add_argument("--out", required=True, help="output folder (NAME_0.png, NAME_1.png, ...)")
    add_image_args(p)
    add_overwrite_arg(p)


# ---- tasks: the per-file work, shared with ``batch`` -----------------------------------------------
def sr_task(args, batch_size: int = 1, progress: bool = True):
    from ..jobs.translate import SRTask

    return SRTask(Lazy(lambda: load_model_arg(args)), factor=args.factor, degrade=args.degrade, seed=args.seed,
                  batch_size=batch_size, extra_inputs=(model_path_arg(args),))


def _samples_task(kind: str, args, parser=None):
    from ..jobs.translate import SamplesTask

    return SamplesTask(kind, Lazy(lambda: load_model_arg(args)), number=args.number, seed=args.seed, parser=parser,
                       extra_inputs=(model_path_arg(args), getattr(args, "parser", None)))


def sketch2face_task(args, batch_size: int = 1, progress: bool = True):
    return _samples_task("sketch2face", args)


def mask2face_task(args, batch_size: int = 1, progress: bool = True):
    parser = None
    if args.parser:
        from ..faces.parsing import FaceParser

        parser = Lazy(lambda: FaceParser.load(args.parser, device=device_arg(args.device)))
    return _samples_task("mask2face", args, parser)


# ---- commands -----------------------------------------------------------------------------------
def cmd_sr(args) -> int:
    from ..jobs.task import Item, run_one
    check_output_file(args.out, "image")
    check_not_inputs([args.out], [args.image, model_path_arg(args)], args.overwrite)
    task = sr_task(args)
    item = Item(Path(args.image), Path(args.out))
    with ProgressBar(1, "sr", "img") as progress:
        result, _ = run_one(task, item)
        progress(1, 1)
    print(task.describe(item, result))
    return 0


def _samples(args, make_task, source: str, inputs: list) -> int:
    """NAME_0.png, NAME_1.png, ... in ``--out``, checked before any work, then the samples."""
    from ..jobs.task import Item, run_one
    folder = check_output_folder(args.out)
    item = Item(Path(source), folder / Path(source).stem)
    check_not_inputs([folder / f"{item.target.name}_{i}.png" for i in range(args.number)],
                     [*inputs, model_path_arg(args)], args.overwrite)
    task = make_task(args)
    with ProgressBar(args.number, task.name, "img") as progress:
        task.progress = progress
        result, _ = run_one(task, item)
    print(task.describe(item, result))
    return 0


def cmd_sketch2face(args) -> int:
    return _samples(args, sketch2face_task, args.sketch, [args.sketch])


def cmd_mask2face(args) -> int:
    return _samples(args, mask2face_task, args.mask, [args.mask, args.parser])
