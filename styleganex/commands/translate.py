"""``sr``, ``sketch2face``, ``mask2face`` and ``video``: the translation and video pipelines.

Every output is written only once it is complete (hidden temporary file in the destination folder,
renamed at the end): an error or Ctrl-C leaves no partial output behind.
"""

from __future__ import annotations

from pathlib import Path

from ..base.outputs import check_not_inputs, check_output_file, check_output_folder
from ..jobs.task import Lazy
from .common import (
    ProgressBar,
    add_face_args,
    add_image_args,
    add_model_args,
    add_overwrite_arg,
    add_paste_args,
    device_arg,
    face_selection,
    int_range,
    load_model_arg,
    model_path_arg,
    paste_options,
    seed,
    strength,
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

    p = sub.add_parser("video", help="video attribute editing (edit_age/edit_hair) or toonification")
    p.add_argument("video", help="input video file")
    add_model_args(p)
    p.add_argument("--scale", type=strength, default=None,
                   help="editing scale of edit models (default 1.0; negative edits the other way); "
                        "not for toonify models")
    p.add_argument("--out", required=True, help="output video (.mp4, .m4v, .mov, .mkv; the input's audio is kept)")
    p.add_argument("--track", action="store_true", help="move the crop with the face (default: first frame's crop)")
    p.add_argument("--paste-back", action="store_true",
                   help="blend the result back into the full frames; every face chosen by --faces is tracked and "
                        "pasted with --mask/--feather/--erode, colours matched (see below)")
    add_face_args(p)
    add_paste_args(p)
    p.add_argument("--chunk-size", type=int_range(1, 64), default=None,
                   help="frames processed together (default: 8 on a GPU, 1 on the CPU, where a chunk of 8 "
                        "1024x1024 outputs needs about 3 GB more memory for about 10%% speed)")
    p.add_argument("--max-frames", type=int_range(1), default=None, help="stop after this many frames (1 or more)")
    p.add_argument("--allow-short", action="store_true",
                   help="use a truncated or damaged video's frames with a warning (default: an error saying "
                        "how many frames are missing)")
    add_image_args(p)
    add_overwrite_arg(p)
    p.set_defaults(func=cmd_video)


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


def video_task(args, batch_size: int = 1, progress: bool = True):
    from ..jobs.translate import VideoTask

    model = load_model_arg(args)
    scale = args.scale
    if scale is None and getattr(model, "editing_w", None) is not None:
        scale = 1.0
    options = dict(editing_scale=scale, crop="track" if args.track else "first",
                   chunk_size=args.chunk_size or (1 if model.device.type == "cpu" else 8), paste_back=args.paste_back)
    if args.paste_back:
        options.update(faces=face_selection(args), paste=paste_options(args))
    bar = (lambda total: ProgressBar(total, "video", "frame")) if progress else None
    return VideoTask(model, options=options, max_frames=args.max_frames, allow_short=args.allow_short,
                     tracked=args.paste_back, progress=bar, extra_inputs=(model_path_arg(args),))


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


def cmd_video(args) -> int:
    from ..io.video_files import video_format
    from ..jobs.task import Item, run_one
    video_format(args.out)
    check_output_file(args.out)
    check_not_inputs([args.out], [args.video, model_path_arg(args)], args.overwrite)
    task = video_task(args)
    item = Item(Path(args.video), Path(args.out))
    result, _ = run_one(task, item)
    print(task.describe(item, result))
    return 0
