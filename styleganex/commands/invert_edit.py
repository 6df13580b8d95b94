"""``invert`` (photo -> optimised latent) and ``edit`` (latent + direction -> image).

    python -m styleganex invert photo.jpg --model styleganex_inversion.pt --out out/ --steps 500 --seed 0
    python -m styleganex edit out/photo_latent.safetensors --model styleganex_inversion.pt \\
        --direction smile.npy --strength 2 --layers 0-7 --frame photo.jpg --out smile.png

``invert --faces all`` (or ``--faces 0,2``: numbers of the index map that ``--preview`` draws) inverts
every chosen face of a group photo into one latent; ``edit --frame`` pastes all of them back.
"""

from __future__ import annotations

from pathlib import Path

from ..base.errors import InputError
from ..base.outputs import check_not_inputs, check_output_file, check_output_folder
from ..base.validation import MAX_STRENGTH
from ..io.directions import MODES
from ..pipelines import inversion
from .common import (
    ProgressBar,
    add_face_args,
    add_image_args,
    add_model_args,
    add_overwrite_arg,
    add_paste_args,
    face_selection,
    float_range,
    int_range,
    load_model_arg,
    model_path_arg,
    paste_options,
    seed,
    strength,
)

MAX_STEPS = 100_000


def register(sub) -> None:
    p = sub.add_parser("invert", help="invert a photo into a latent (Step I encoder + Step II optimisation)")
    p.add_argument("photo", help="image file")
    add_model_args(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--steps", type=int_range(0, MAX_STEPS), default=inversion.STEPS,
                   help=f"optimisation steps (official: {inversion.STEPS}; 0 = encoder only, no optimisation)")
    p.add_argument("--seed", type=seed, default=0, help="random seed (same seed, same result on CPU)")
    p.add_argument("--lr", type=float_range(0.0, 10.0, low_open=True), default=inversion.LR,
                   help=f"peak learning rate (official: {inversion.LR})")
    p.add_argument("--mse", type=float_range(0.0, 1e6), default=0.0, help="weight of an extra pixel (MSE) loss")
    p.add_argument("--no-face", action="store_true",
                   help="do not detect/align a face: use a centre crop and encode w+ from it")
    add_face_args(p)
    p.add_argument("--preview", action="store_true",
                   help="also write PHOTO_faces.png: the photo with every face numbered (the index map) and why a "
                        "face cannot be used (written also when no face can be used)")
    p.add_argument("--vgg", default=None, help="path of vgg16-397923af.pth (default: models folder or torch hub cache)")
    add_image_args(p)
    add_overwrite_arg(p)
    p.set_defaults(func=cmd_invert)

    p = sub.add_parser("edit", help="edit a saved latent and render it")
    p.add_argument("latent", help="latent file (.safetensors from invert, or an official inversion .pt)")
    add_model_args(p)
    p.add_argument("--direction", help="direction file (.npy, .npz, .pt, .safetensors; see the 'directions' command)")
    p.add_argument("--name", help="which direction of a file that holds several")
    p.add_argument("--strength", type=strength, default=1.0,
                   help=f"edit strength s: w+ += s * direction (-{MAX_STRENGTH:g}..{MAX_STRENGTH:g})")
    p.add_argument("--layers", default=None,
                   help="w+ rows to edit, e.g. 0-7, 0,2,4-6 or all (default: the direction's own, e.g. 4-7 for "
                        "LowRankGAN, all for the official and InterFaceGAN directions)")
    p.add_argument("--mode", choices=MODES, default=None,
                   help="how the direction edits: add (w+ += s * direction) or e4e (GANSpace components: the "
                        "coordinate along the component is moved to s standard deviations, as e4e and PTI do; the "
                        "default for GANSpace PCA files)")
    p.add_argument("--mix-seed", type=seed, default=None,
                   help="style mixing: replace rows 8+ with a mapped random style of this seed")
    p.add_argument("--mix-layers", default=None, help="rows replaced by style mixing (default: 8 to the last)")
    p.add_argument("--generator", default=None,
                   help="domain transfer: decode with this StyleGAN2 (g_ema) / StyleGANEX checkpoint")
    p.add_argument("--frame", default=None,
                   help="the original photo: paste the result back into it (needs a latent with a crop record); "
                        "every face of the latent is pasted")
    add_paste_args(p)
    p.add_argument("--out", required=True, help="output image file (.png, .jpg, .webp, .tif, .bmp)")
    add_image_args(p)
    add_overwrite_arg(p)
    p.set_defaults(func=cmd_edit)


# ---- tasks: the per-file work, shared with ``batch`` -----------------------------------------------
def invert_task(args, batch_size: int = 1, progress: bool = True):
    from ..jobs.photos import InvertTask

    lpips = None
    if args.steps > 0 and args.vgg:
        from ..pipelines.lpips import load_lpips
        lpips = load_lpips(weights=args.vgg)
    bar = (lambda steps: ProgressBar(steps, "inversion", "step")) if progress else None
    return InvertTask(load_model_arg(args), steps=args.steps, lr=args.lr, mse_weight=args.mse, seed=args.seed,
                      selection=face_selection(args), no_face=args.no_face, preview=args.preview, lpips=lpips,
                      model_name=str(args.model), batch_size=batch_size, step_progress=bar,
                      extra_inputs=(model_path_arg(args), args.vgg))


def edit_task(args, batch_size: int = 1, progress: bool = True):
    from ..jobs.photos import EditTask
    from ..model.checkpoints import load_generator
    from ..pipelines.editing import load_direction

    if args.direction is None and args.mix_seed is None and args.generator is None:
        raise InputError("nothing to do: give --direction, --mix-seed or --generator")
    model = load_model_arg(args)
    direction = None if args.direction is None else load_direction(args.direction, args.name)
    if direction is not None and getattr(args, "mode", None) is not None:
        direction = direction.with_mode(args.mode)
    generator = None if args.generator is None else load_generator(args.generator)[0]
    return EditTask(model, direction=direction, strength=args.strength, layers=args.layers, mix_seed=args.mix_seed,
                    mix_layers=args.mix_layers, generator=generator, frame=getattr(args, "frame", None),
                    paste=paste_options(args),
                    extra_inputs=(args.direction, args.generator, model_path_arg(args)))


# ---- commands ---------------------------------------------------------------------------------
def cmd_invert(args) -> int:
    from ..jobs.task import Item

    face_selection(args)  # a wrong --faces is an error before any work
    out = check_output_folder(args.out)
    item = Item(Path(args.photo), out / Path(args.photo).stem)
    inputs = [args.photo, model_path_arg(args), args.vgg]
    task_paths = [out / f"{item.target.name}{s}" for s in
                  ("_latent.safetensors", "_crop.json", "_faces.png", "_inversion.png", "_crop.png")]
    check_not_inputs(task_paths, inputs, args.overwrite)
    task = invert_task(args)
    check_not_inputs(task.outputs(item), task.inputs(item), args.overwrite)
    photo = task.prepare(item)
    check_not_inputs([p for pair in task.image_paths(item, photo.crops.shape[0]) for p in pair], inputs,
                     args.overwrite)
    result = task.compute([photo])[0]
    task.write(item, result)  # all files appear together at the end, or none
    print(task.describe(item, result))
    return 0


def cmd_edit(args) -> int:
    from ..jobs.task import Item, run_one

    if args.direction is None and args.mix_seed is None and args.generator is None:
        raise InputError("nothing to do: give --direction, --mix-seed or --generator")
    check_output_file(args.out, "image")
    check_not_inputs([args.out], [args.latent, args.direction, args.generator, args.frame, model_path_arg(args)],
                     args.overwrite)
    task = edit_task(args)
    item = Item(Path(args.latent), Path(args.out))
    result, _ = run_one(task, item)
    print(task.describe(item, result))
    return 0
