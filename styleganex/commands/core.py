"""``info``, ``convert`` and ``demo``."""

from __future__ import annotations

import json
from collections import Counter
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


def describe(path) -> dict:
    """A summary of a checkpoint file (what `info` prints)."""
    from ..checkpoints import checkpoint_settings, classify, config_from_tensors, read_file

    obj, meta = read_file(path)
    kind = classify(obj, meta)
    if kind == "stylegan2":
        sd = obj["g_ema"]
        return {"file": str(path), "kind": "StyleGAN2 generator (rosinality g_ema)", "tensors": len(sd),
                "parameters": int(sum(v.numel() for v in sd.values() if hasattr(v, "numel"))),
                "has_latent_avg": "latent_avg" in obj}
    sd, latent_avg, editing_w, opts, config, variant = checkpoint_settings(obj, meta, path, {})
    config = config or config_from_tensors(sd, opts, str(path))
    groups = Counter(".".join(k.split(".")[:2]) for k in sd)
    return {
        "file": str(path),
        "kind": "StyleGANEX" + (" (safetensors)" if meta else " (official .pt)"),
        "variant": variant,
        "output_size": config.size, "n_latent": config.n_latent, "style_dim": config.style_dim,
        "input_nc": config.input_nc, "fusion_layers": config.n_fusion, "attention": config.use_att,
        "editing_w": None if editing_w is None else list(editing_w.shape),
        "latent_avg": None if latent_avg is None else list(latent_avg.shape),
        "tensors": len(sd), "parameters": int(sum(v.numel() for v in sd.values() if hasattr(v, "numel"))),
        "key_groups": dict(sorted(groups.items())),
        "extra_entries": sorted(str(k) for k in obj if k not in ("state_dict", "opts", "latent_avg", "editing_w")
                                and not str(k).startswith(("encoder.", "decoder."))),
    }


def cmd_info(args) -> int:
    d = describe(args.file)
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
    from ..checkpoints import convert
    from ..outputs import check_output_file
    check_output_file(args.dst)
    model = convert(args.src, args.dst, overwrite=args.overwrite)
    print(f"wrote {args.dst} ({model.variant}, {sum(p.numel() for p in model.parameters())} parameters)")
    return 0


def cmd_demo(args) -> int:
    from ..demo import run_demo
    from ..outputs import check_output_folder
    check_output_folder(args.out)
    if not args.download:
        return run_demo(args.model, Path(args.out), random_weights=args.random_weights)
    with ProgressBar(None, "download", "B") as bar:  # shown only while a file is fetched
        return run_demo(args.model, Path(args.out), download=True, random_weights=args.random_weights,
                        progress=lambda done, total: bar(done, total or None))
