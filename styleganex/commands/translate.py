"""``sr``, ``sketch2face``, ``mask2face`` and ``video``: the translation and video pipelines.

Every output is written only once it is complete (hidden temporary file in the destination folder,
renamed at the end): an error or Ctrl-C leaves no partial output behind.
"""

from __future__ import annotations

from pathlib import Path

from ..base.outputs import check_not_inputs, check_output_file, check_output_folder
from ..io.images import write_images
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


# ---- commands -----------------------------------------------------------------------------------
def cmd_sr(args) -> int:
    from ..io.images import load_image
    from ..pipelines.translation import release_degradation, super_resolve
    check_output_file(args.out, "image")
    check_not_inputs([args.out], [args.image, model_path_arg(args)], args.overwrite)
    image = load_image(args.image)
    model = load_model_arg(args)
    factor, degrade = release_degradation(model, args.factor) if args.degrade else (args.factor, None)
    with ProgressBar(1, "sr", "img") as progress:
        out = super_resolve(model, image[None], factor, degrade, seed=args.seed, progress=progress)
    write_images([(Path(args.out), out[0].float().cpu())])
    print(f"wrote {args.out} ({out.shape[-1]}x{out.shape[-2]})")
    return 0


def _sample_paths(args, name: str, inputs: list) -> list[Path]:
    """NAME_0.png, NAME_1.png, ... in ``--out``, checked before any work."""
    folder = check_output_folder(args.out)
    paths = [folder / f"{name}_{i}.png" for i in range(args.number)]
    check_not_inputs(paths, [*inputs, model_path_arg(args)], args.overwrite)
    return paths


def _samples(args, run, x, paths: list[Path]) -> int:
    """Run sketch_to_face / mask_to_face on ``x`` and write the samples to ``paths``."""
    model = load_model_arg(args)
    with ProgressBar(args.number, run.__name__, "img") as progress:
        out = run(model, x, args.number, args.seed, progress=progress)
    items = [(paths[i], out[i].float().cpu()) for i in range(out.shape[0])]
    write_images(items)
    folder = Path(args.out)
    print(f"wrote {len(items)} images to {folder}")
    return 0


def cmd_sketch2face(args) -> int:
    from ..io.images import load_image
    from ..pipelines.translation import prepare_sketch, sketch_to_face
    paths = _sample_paths(args, Path(args.sketch).stem, [args.sketch])
    sketch = prepare_sketch(load_image(args.sketch))
    return _samples(args, sketch_to_face, sketch, paths)


def cmd_mask2face(args) -> int:
    from ..pipelines.translation import center_crop_512, mask_to_face
    paths = _sample_paths(args, Path(args.mask).stem, [args.mask, args.parser])
    if args.parser:
        from ..faces import prepare_face
        from ..faces.parsing import FaceParser
        from ..io.images import load_image
        crop = prepare_face(load_image(args.mask)).crop
        labels = FaceParser.load(args.parser, device=device_arg(args.device)).parse(crop[None]).cpu()
    else:
        from ..faces.parsing import label_image_to_labels
        from ..io.images import open_image
        labels = label_image_to_labels(open_image(args.mask))  # palette indices kept: the pixel cap applies
    return _samples(args, mask_to_face, center_crop_512(labels), paths)


def cmd_video(args) -> int:
    from ..io.video_files import probe_video, read_video_frames, video_format, write_video
    from ..pipelines.video import process_video
    video_format(args.out)
    check_output_file(args.out)
    check_not_inputs([args.out], [args.video, model_path_arg(args)], args.overwrite)
    info = probe_video(args.video)
    model = load_model_arg(args)
    scale = args.scale
    if scale is None and getattr(model, "editing_w", None) is not None:
        scale = 1.0
    total = info.n_frames if args.max_frames is None else min(info.n_frames, args.max_frames)
    frames = read_video_frames(args.video, max_frames=args.max_frames, allow_short=args.allow_short)
    chunk = args.chunk_size or (1 if model.device.type == "cpu" else 8)
    tracked = {}
    if args.paste_back:
        from ..faces import VideoState

        tracked = dict(faces=face_selection(args), paste=paste_options(args), state=VideoState())
    with ProgressBar(total, "video", "frame") as progress:
        outs = (out.frame for out in process_video(model, frames, editing_scale=scale,
                                                   crop="track" if args.track else "first",
                             chunk_size=chunk, paste_back=args.paste_back, progress=progress,
                             total=total, **tracked))
        written = write_video(args.out, outs, info.fps, audio_from=args.video)
    print(f"wrote {args.out} ({written.n_frames} frames, {written.width}x{written.height}"
          f"{', with audio' if written.has_audio else ''})")
    return 0
