"""``info``, ``convert`` and ``demo``."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("info", help="say what a checkpoint file is (variant, sizes, keys)")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("convert", help="convert an official .pt to .safetensors")
    p.add_argument("src")
    p.add_argument("dst")
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
    from ..checkpoints import _split_state, classify, read_file, variant_name
    from ..config import ModelConfig, infer_widths

    obj, meta = read_file(path)
    kind = classify(obj, meta)
    if kind == "stylegan2":
        sd = obj["g_ema"]
        return {"file": str(path), "kind": "StyleGAN2 generator (rosinality g_ema)", "tensors": len(sd),
                "parameters": int(sum(v.numel() for v in sd.values() if hasattr(v, "numel"))),
                "has_latent_avg": "latent_avg" in obj}
    sd, latent_avg, editing_w = _split_state(obj)
    opts = json.loads(meta["opts"]) if "opts" in meta else obj.get("opts", {}) or {}
    config = (ModelConfig.from_dict(json.loads(meta["config"])) if "config" in meta
              else ModelConfig.from_opts(opts, infer_widths(sd)))
    groups = Counter(".".join(k.split(".")[:2]) for k in sd)
    return {
        "file": str(path),
        "kind": "StyleGANEX" + (" (safetensors)" if meta else " (official .pt)"),
        "variant": meta.get("variant") or variant_name(opts, editing_w is not None, str(path)),
        "output_size": config.size, "n_latent": config.n_latent, "style_dim": config.style_dim,
        "input_nc": config.input_nc, "fusion_layers": config.n_fusion, "attention": config.use_att,
        "editing_w": None if editing_w is None else list(editing_w.shape),
        "latent_avg": None if latent_avg is None else list(latent_avg.shape),
        "tensors": len(sd), "parameters": int(sum(v.numel() for v in sd.values())),
        "key_groups": dict(sorted(groups.items())),
        "extra_entries": sorted(k for k in obj if k not in ("state_dict", "opts", "latent_avg", "editing_w")
                                and not k.startswith(("encoder.", "decoder."))),
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
    model = convert(args.src, args.dst)
    print(f"wrote {args.dst} ({model.variant}, {sum(p.numel() for p in model.parameters())} parameters)")
    return 0


def cmd_demo(args) -> int:
    from ..demo import run_demo
    return run_demo(args.model, Path(args.out), download=args.download, random_weights=args.random_weights)
