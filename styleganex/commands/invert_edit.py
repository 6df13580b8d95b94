"""``invert`` (photo -> optimised latent) and ``edit`` (latent + direction -> image).

    python -m styleganex invert photo.jpg --model styleganex_inversion.pt --out out/ --steps 500 --seed 0
    python -m styleganex edit out/photo_latent.safetensors --model styleganex_inversion.pt \\
        --direction smile.npy --strength 2 --layers 0-7 --frame photo.jpg --out smile.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from ..outputs import image_writer, write_all, write_images


def register(sub) -> None:
    p = sub.add_parser("invert", help="invert a photo into a latent (Step I encoder + Step II optimisation)")
    p.add_argument("photo", help="image file")
    p.add_argument("--model", required=True, help="checkpoint path or file name in the models folder")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--steps", type=int, default=500,
                   help="optimisation steps (official: 500; 0 = encoder only, no optimisation)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same result on CPU)")
    p.add_argument("--lr", type=float, default=0.05, help="peak learning rate (official: 0.05)")
    p.add_argument("--mse", type=float, default=0.0, help="weight of an extra pixel (MSE) loss")
    p.add_argument("--no-face", action="store_true",
                   help="do not detect/align a face: use a centre crop and encode w+ from it")
    p.add_argument("--vgg", default=None, help="path of vgg16-397923af.pth (default: models folder or torch hub cache)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.set_defaults(func=cmd_invert)

    p = sub.add_parser("edit", help="edit a saved latent and render it")
    p.add_argument("latent", help="latent file (.safetensors from invert, or an official inversion .pt)")
    p.add_argument("--model", required=True, help="checkpoint path or file name in the models folder")
    p.add_argument("--direction", help="direction file (.npy, .npz, .pt, .safetensors)")
    p.add_argument("--name", help="which direction of a file that holds several")
    p.add_argument("--strength", type=float, default=1.0, help="edit strength s: w+ += s * direction")
    p.add_argument("--layers", default=None, help="w+ rows to edit, e.g. 0-7 or 0,2,4-6 (default: all)")
    p.add_argument("--mix-seed", type=int, default=None,
                   help="style mixing: replace rows 8+ with a mapped random style of this seed")
    p.add_argument("--mix-layers", default=None, help="rows replaced by style mixing (default: 8 to the last)")
    p.add_argument("--generator", default=None,
                   help="domain transfer: decode with this StyleGAN2 (g_ema) / StyleGANEX checkpoint")
    p.add_argument("--frame", default=None,
                   help="the original photo: paste the result back into it (needs a latent with a crop record)")
    p.add_argument("--out", required=True, help="output image file (.png)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.set_defaults(func=cmd_edit)


# ---- helpers ----------------------------------------------------------------------------------
def _load_model(name, device):
    from ..checkpoints import load_model

    path = Path(name)
    if not path.is_file():
        try:
            from ..paths import find_model_file
            found = find_model_file(name)
        except ImportError:  # pragma: no cover
            found = None
        path = found or path
    return load_model(path, device=device)


def _center_crop8(image: torch.Tensor, size: int = 512):
    """Fallback without styleganex.faces: shrink the shorter side to <= size, cut the centre,
    sides floored to multiples of 8. Returns (crop, crop record dict)."""
    import torch.nn.functional as F

    h, w = image.shape[-2:]
    scale = min(1.0, size / min(h, w))
    rh, rw = round(h * scale), round(w * scale)
    resized = image if (rh, rw) == (h, w) else F.interpolate(image[None], (rh, rw), mode="area")[0]
    ch, cw = min(size, rh) // 8 * 8, min(size, rw) // 8 * 8
    if ch == 0 or cw == 0:
        raise ValueError(f"the image ({w}x{h}) is too small: both sides must be at least 8 pixels")
    y0, x0 = (rh - ch) // 2, (rw - cw) // 2
    record = {"frame_size": [h, w], "scale": scale, "resized_size": [rh, rw], "box": [x0, y0, x0 + cw, y0 + ch]}
    return resized[:, y0:y0 + ch, x0:x0 + cw].contiguous(), record


def prepare_face(image: torch.Tensor, use_face: bool = True):
    """(crop [3,h,w] in 0..1, aligned [3,256,256] or None, crop record dict) for a photo."""
    if use_face:
        try:
            from ..faces import FaceError, align_face, detect_face, styleganex_crop
        except ImportError as e:
            print(f"warning: face front end unavailable ({e}); using a centre crop", file=sys.stderr)
        else:
            try:
                face = detect_face(image)
            except FaceError as e:
                raise ValueError(f"{e} (or run with --no-face)") from e
            crop, record = styleganex_crop(image, face)
            aligned = align_face(crop, record.face_in_crop(face), 256)
            return crop, aligned, record.to_dict()
    try:
        from ..faces import center_crop
    except ImportError:
        crop, record = _center_crop8(image)
        return crop, None, record
    crop, record = center_crop(image)
    return crop, None, record.to_dict()


class _Bar:
    """progress(done, total, info) -> tqdm."""

    def __init__(self, total):
        from tqdm import tqdm
        self.bar = tqdm(total=total, desc="inversion", unit="step")

    def __call__(self, done, total, info):
        self.bar.update(done - self.bar.n)
        self.bar.set_postfix(loss=f"{info.get('loss', 0):.4f}", lpips=f"{info.get('lpips', 0):.4f}",
                             lr=f"{info.get('lr', 0):.4f}", refresh=False)

    def close(self):
        self.bar.close()


# ---- commands ---------------------------------------------------------------------------------
def cmd_invert(args) -> int:
    from ..images import load_image
    from ..inversion import optimize
    from ..latent_io import save_latent

    if args.steps < 0:
        raise ValueError(f"--steps must be >= 0 (0 = encoder only), got {args.steps}")
    model = _load_model(args.model, args.device)
    image = load_image(args.photo)
    crop, aligned, record = prepare_face(image, not args.no_face)
    frame = crop[None] * 2 - 1
    aligned_in = None if aligned is None else aligned[None] * 2 - 1
    if args.steps == 0:
        latent = model.encode(frame, aligned_in)
        history = []
    else:
        lpips = None
        if args.vgg:
            from ..lpips_loss import load_lpips
            lpips = load_lpips(weights=args.vgg)
        bar = _Bar(args.steps)
        try:
            result = optimize(model, frame, aligned_in, steps=args.steps, lr=args.lr, mse_weight=args.mse,
                              seed=args.seed, progress=bar, lpips=lpips)
        finally:
            bar.close()
        latent, history = result.latent, result.history
    latent.crop = record
    latent.meta = {**latent.meta, "photo": str(args.photo), "model": str(args.model)}
    with torch.no_grad():
        recon = model.decode(latent, noise=None if latent.noise is not None else "zero")

    # all four files appear together at the end, or none (an error or Ctrl-C leaves nothing behind)
    out = Path(args.out)
    stem = Path(args.photo).stem
    latent_path = out / f"{stem}_latent.safetensors"
    recon_path = out / f"{stem}_inversion.png"
    crop_path = out / f"{stem}_crop.png"
    write_all([
        (latent_path, lambda tmp: save_latent(latent, tmp)),
        (recon_path, image_writer(((recon[0].clamp(-1, 1) + 1) / 2).float().cpu(), recon_path)),
        (crop_path, image_writer(crop, crop_path)),
        (out / f"{stem}_crop.json", lambda tmp: tmp.write_text(json.dumps(record, indent=2))),
    ])
    if history:
        print(f"loss {history[0]:.4f} -> {history[-1]:.4f} in {len(history)} steps")
    print(f"wrote {latent_path}, {stem}_inversion.png, {stem}_crop.png, {stem}_crop.json in {out}")
    return 0


def _pick_direction(path, name):
    from ..editing import DirectionError, load_directions

    dirs = load_directions(path)
    if name is not None:
        if name not in dirs:
            raise DirectionError(f"{path} has no direction {name!r}; it has {sorted(dirs)}")
        return dirs[name]
    if len(dirs) > 1:
        raise DirectionError(f"{path} holds {len(dirs)} directions {sorted(dirs)}: choose one with --name")
    return next(iter(dirs.values()))


def cmd_edit(args) -> int:
    from ..editing import apply_direction, style_mix
    from ..latent_io import load_latent

    if args.direction is None and args.mix_seed is None and args.generator is None:
        raise ValueError("nothing to do: give --direction, --mix-seed or --generator")
    model = _load_model(args.model, args.device)
    latent = load_latent(args.latent, model)
    if args.direction is not None:
        latent = apply_direction(latent, _pick_direction(args.direction, args.name), args.strength, args.layers)
    if args.mix_seed is not None:
        latent = style_mix(model, latent, layers=args.mix_layers, seed=args.mix_seed)
    if args.generator is not None:
        model = model.swap_generator(args.generator)
    with torch.no_grad():
        image = model.decode(latent, noise=None if latent.noise is not None else "zero")
    result = ((image[0].clamp(-1, 1) + 1) / 2).float().cpu()
    if args.frame is not None:
        if latent.crop is None:
            raise ValueError(f"{args.latent} has no crop record, so it cannot be pasted back into "
                             f"{args.frame}; drop --frame to save the crop")
        from ..faces import CropRecord, paste_back
        from ..images import load_image

        result = paste_back(load_image(args.frame), result, CropRecord.from_dict(latent.crop))
    write_images([(Path(args.out), result)])
    print(f"wrote {args.out}")
    return 0
