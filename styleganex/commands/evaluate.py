"""``evaluate``: the release's metrics (L2, LPIPS, identity similarity) plus PSNR and SSIM over a folder of
results against their targets, paired by relative name (``results/a/1.png`` <-> ``targets/a/1.jpg``).

    python -m styleganex evaluate --results outputs/sr --targets data/ffhq_test [--json]

LPIPS (AlexNet as the release's metric script, or ``--lpips-net vgg``) runs when its trunk's weights are
found, identity when ``model_ir_se50.pth`` is in the models folder; otherwise a note says what is missing
and where it goes.
"""

from __future__ import annotations

import json
import math

from .common import ProgressBar, device_arg, int_range


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="L2, LPIPS, identity, PSNR and SSIM of results against their targets")
    p.add_argument("--results", required=True, help="folder of result images")
    p.add_argument("--targets", required=True, help="folder of target images with the same relative names")
    p.add_argument("--size", type=int_range(0, 4096), default=256,
                   help="compare at SIZE x SIZE px (the release: 256); 0 compares the images as they are")
    p.add_argument("--lpips-net", choices=("alex", "vgg"), default="alex",
                   help="LPIPS trunk: alex (the release's metric; alexnet-owt-7be5be79.pth) or vgg "
                        "(vgg16-397923af.pth), from the models folder or torch's hub cache")
    p.add_argument("--no-lpips", action="store_true", help="leave LPIPS out")
    p.add_argument("--no-identity", action="store_true", help="leave the identity similarity out")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: cuda when available)")
    p.add_argument("--json", action="store_true", help="print JSON (per image and means) instead of a table")
    p.set_defaults(func=cmd_evaluate)


def _networks(args, device: str):
    """(lpips module or None, embedding function or None, notes)."""
    from ..io.paths import models_dir
    from ..pipelines.lpips import ALEX_FILE, VGG_FILE, find_alex_weights, find_vgg_weights, load_lpips
    from ..training.identity import IDENTITY_FILE, IdentityLoss, find_identity_weights

    notes, net, embed = [], None, None
    if not args.no_lpips:
        file, find = (ALEX_FILE, find_alex_weights) if args.lpips_net == "alex" else (VGG_FILE, find_vgg_weights)
        try:
            find()
            net = load_lpips(device=device, net=args.lpips_net)
        except FileNotFoundError:
            notes.append(f"LPIPS left out: {file} (LPIPS-{args.lpips_net}) is not in the models folder "
                         f"{models_dir()} (https://download.pytorch.org/models/{file})")
    if not args.no_identity:
        path = find_identity_weights()
        if path is None:
            notes.append(f"identity left out: {IDENTITY_FILE} (pSp's ArcFace IR-SE50) is not in the models "
                         f"folder {models_dir()}")
        else:
            embed = IdentityLoss.from_file(path).to(device).embed
    return net, embed, notes


def cmd_evaluate(args) -> int:
    from ..pipelines.metrics import HIGHER_IS_BETTER, evaluate_pairs, pair_folders

    pairs = pair_folders(args.results, args.targets)
    device = device_arg(args.device)
    net, embed, notes = _networks(args, device)
    with ProgressBar(len(pairs), "evaluate", "image") as bar:  # on stderr: the table or JSON stays clean
        result = evaluate_pairs(pairs, size=args.size or None, lpips_net=net, embed=embed, device=device,
                                progress=bar)
    result.notes += notes
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
        return 0
    metrics = list(result.scores)
    width = max(12, *(len(n) for n in result.names))
    fmt = lambda v: f"{v:10.4f}" if math.isfinite(v) else f"{'inf':>10}"  # noqa: E731
    print(f"{'image':<{width}} " + " ".join(f"{m:>10}" for m in metrics))
    for i, name in enumerate(result.names):
        print(f"{name:<{width}} " + " ".join(fmt(result.scores[m][i]) for m in metrics))
    print(f"{'mean':<{width}} " + " ".join(fmt(result.means[m]) for m in metrics))
    arrows = " ".join(f"{('higher' if HIGHER_IS_BETTER[m] else 'lower'):>10}" for m in metrics)
    print(f"{'(better)':<{width}} {arrows}")
    print(f"{len(result.names)} pairs compared at "
          + (f"{result.size}x{result.size} px" if result.size else "their own size"))
    for note in result.notes:
        print(f"note: {note}")
    return 0
