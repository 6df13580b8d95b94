"""``invert`` (photo -> optimised latent) and ``edit`` (latent + direction -> image).

    python -m styleganex invert photo.jpg --model styleganex_inversion.pt --out out/ --steps 500 --seed 0
    python -m styleganex edit out/photo_latent.safetensors --model styleganex_inversion.pt \\
        --direction smile.npy --strength 2 --layers 0-7 --frame photo.jpg --out smile.png

``invert --faces all`` (or ``--faces 0,2``: numbers of the index map that ``--preview`` draws) inverts
every chosen face of a group photo into one latent; ``edit --frame`` pastes all of them back.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..base.errors import FaceError, InputError
from ..base.outputs import check_not_inputs, check_output_file, check_output_folder, write_all
from ..base.validation import MAX_STRENGTH
from ..io.directions import MODES
from ..io.images import image_writer, write_images
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


# ---- commands ---------------------------------------------------------------------------------
def cmd_invert(args) -> int:
    from ..faces import CropInfo, prepare_center
    from ..faces.group import crop_faces
    from ..io.images import load_image
    from ..pipelines.encode_decode import decode_latent, encode_images, invert_images
    from ..pipelines.latent_files import crop_info_to_dict, save_latent

    selection = face_selection(args)
    out = check_output_folder(args.out)
    stem = Path(args.photo).stem
    latent_path = out / f"{stem}_latent.safetensors"
    json_path = out / f"{stem}_crop.json"
    preview_path = out / f"{stem}_faces.png"
    inputs = [args.photo, model_path_arg(args), args.vgg]

    def image_paths(count: int) -> list:
        suffixes = [f"_{k}" for k in range(count)] if count > 1 else [""]
        return [(out / f"{stem}_inversion{s}.png", out / f"{stem}_crop{s}.png") for s in suffixes]

    check_not_inputs([latent_path, json_path, preview_path, *image_paths(1)[0]], inputs, args.overwrite)
    model = load_model_arg(args)
    image = load_image(args.photo)
    if args.no_face:
        prepared = prepare_center(image)
        crop_info = CropInfo.from_prepared([prepared])
        crops, aligned, preview = prepared.crop[None], prepared.aligned[None], None
    else:
        found = crop_faces(image[None], selection)
        if found.group is None:
            write_images([(preview_path, found.preview[0])])
            raise FaceError(f"{args.photo}: {found.problem}. The faces are numbered and marked in {preview_path}; "
                            "choose others with --faces, or use --no-face for a centre crop")
        group = found.group
        crop_info = group.crop.with_frames(image[None])
        crops, aligned, preview = group.crops, group.aligned, found.preview[0]
    paths = image_paths(crops.shape[0])
    check_not_inputs([p for pair in paths for p in pair], inputs, args.overwrite)
    history = []
    latent = encode_images(model, crops, aligned, crop=crop_info)
    if args.steps > 0:
        lpips = None
        if args.vgg:
            from ..pipelines.lpips import load_lpips
            lpips = load_lpips(weights=args.vgg)
        with ProgressBar(args.steps, "inversion", "step") as bar:
            result = invert_images(model, crops, latent=latent, steps=args.steps, lr=args.lr, mse_weight=args.mse,
                                   seed=args.seed, progress=bar, lpips=lpips)
        latent, history = result.latent, result.history
    latent.meta.update(photo=str(args.photo), model=str(args.model))
    recon = decode_latent(model, latent)

    # all files appear together at the end, or none (an error or Ctrl-C leaves nothing behind)
    images = [(path, picture) for (recon_path, crop_path), k in zip(paths, range(len(paths)))
              for path, picture in ((recon_path, recon[k]), (crop_path, crops[k]))]
    if args.preview and preview is not None:
        images.append((preview_path, preview))
    write_all([
        (latent_path, lambda tmp: save_latent(latent, tmp)),
        *[(path, image_writer(picture, path)) for path, picture in images],
        (json_path, lambda tmp: tmp.write_text(json.dumps(crop_info_to_dict(crop_info), indent=2))),
    ])
    if history:
        print(f"loss {history[0]:.4f} -> {history[-1]:.4f} in {len(history)} steps")
    faces = f" ({recon.shape[0]} faces)" if recon.shape[0] > 1 else ""
    print(f"wrote {latent_path}{faces}, {len(images)} images and {stem}_crop.json in {out}")
    return 0


def cmd_edit(args) -> int:
    from ..io.images import load_image
    from ..model.checkpoints import load_generator
    from ..pipelines.editing import edit_latent, load_direction
    from ..pipelines.encode_decode import render_latent
    from ..pipelines.latent_files import load_latent

    if args.direction is None and args.mix_seed is None and args.generator is None:
        raise InputError("nothing to do: give --direction, --mix-seed or --generator")
    check_output_file(args.out, "image")
    check_not_inputs([args.out], [args.latent, args.direction, args.generator, args.frame, model_path_arg(args)],
                     args.overwrite)
    model = load_model_arg(args)
    latent = load_latent(args.latent, model)
    direction = None if args.direction is None else load_direction(args.direction, args.name)
    if direction is not None and args.mode is not None:
        direction = direction.with_mode(args.mode)
    latent = edit_latent(latent, direction, args.strength, args.layers, model=model,
                         mix="off" if args.mix_seed is None else "random", mix_rows=args.mix_layers,
                         mix_seed=args.mix_seed or 0)
    if args.generator is not None:
        model = model.swap_generator(load_generator(args.generator)[0])
    frames = None if args.frame is None else load_image(args.frame)[None]
    result = render_latent(model, latent, crop=latent.crop, frames=frames,
                           paste=None if frames is None else paste_options(args)).images
    target = Path(args.out)
    if result.shape[0] == 1:
        write_images([(target, result[0])])
        print(f"wrote {args.out}")
    else:  # several faces, not pasted: one file each
        paths = [target.with_name(f"{target.stem}_{k}{target.suffix}") for k in range(result.shape[0])]
        write_images(list(zip(paths, result)))
        print(f"wrote {len(paths)} faces: {', '.join(p.name for p in paths)}")
    return 0
