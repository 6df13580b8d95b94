"""``video``: video attribute editing and toonification, every frame in order, the audio kept.

The output is written only once it is complete (hidden temporary file in the destination folder,
renamed at the end): an error or Ctrl-C leaves no partial output behind.
"""

from __future__ import annotations

from pathlib import Path

from ..base.outputs import check_not_inputs, check_output_file
from .common import (
    ProgressBar,
    add_face_args,
    add_image_args,
    add_model_args,
    add_overwrite_arg,
    add_paste_args,
    face_selection,
    int_range,
    load_model_arg,
    model_path_arg,
    paste_options,
    strength,
)


def register(sub) -> None:
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


# ---- command ------------------------------------------------------------------------------------
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
