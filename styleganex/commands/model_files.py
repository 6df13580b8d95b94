"""``info``, ``convert`` and ``demo``."""

from __future__ import annotations

import json
from pathlib import Path

from .common import ProgressBar, add_overwrite_arg


def register(sub) -> None:
    p = sub.add_parser("info", help="say what a checkpoint file is (variant, sizes, keys)")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("convert", help="convert an official .pt to .safetensors")
    p.add_argument("src")
    p.add_argument("dst", help="output .safetensors file")
    add_overwrite_arg(p)
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("demo", help="encode + decode a real photo (scikit-image's astronaut)")
    p.add_argument("--model", default="styleganex_inversion.pt",
                   help="checkpoint path or file name in the models folder")
    p.add_argument("--out", default="outputs/demo", help="output folder")
    p.add_argument("--download", action="store_true",
                   help="fetch the official file from the Hugging Face hub when it is missing")
    p.add_argument("--random-weights", action="store_true",
                   help="run the pipeline with small random weights (no file needed; output is not a face)")
    p.set_defaults(func=cmd_demo)


def cmd_info(args) -> int:
    from ..model.checkpoints import describe_checkpoint

    d = describe_checkpoint(args.file)
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    for k, v in d.items():
        if k == "key_groups":
            print("key groups:")
            for g, n in v.items():
                print(f"  {g:28s} {n}")
        else:
            print(f"{k}: {v}")
    return 0


def cmd_convert(args) -> int:
    from ..base.outputs import check_output_file
    from ..model.checkpoints import convert
    check_output_file(args.dst)
    model = convert(args.src, args.dst, overwrite=args.overwrite)
    print(f"wrote {args.dst} ({model.variant}, {sum(p.numel() for p in model.parameters())} parameters)")
    return 0


def cmd_demo(args) -> int:
    from ..base.outputs import check_output_folder
    from ..dev.demo import run_demo
    check_output_folder(args.out)
    if not args.download:
        return run_demo(args.model, Path(args.out), random_weights=args.random_weights)
    with ProgressBar(None, "download", "B") as bar:  # shown only while a file is fetched
        return run_demo(args.model, Path(args.out), download=True, random_weights=args.random_weights,
                        progress=lambda done, total: bar(done, total or None))
