"""``sefa`` (directions from the model's own weights -> our .safetensors) and ``directions`` (what a
direction file holds).

    python -m styleganex sefa --model styleganex_inversion.pt --layers 0-7 --top 10 --out sefa_0-7.safetensors
    python -m styleganex directions direction_dics.pt
"""

from __future__ import annotations

from pathlib import Path

from .common import add_model_args, add_overwrite_arg, int_range, load_model_arg, model_path_arg


def register(sub) -> None:
    p = sub.add_parser("sefa", help="SeFa directions of a model's generator, saved as .safetensors")
    add_model_args(p)
    p.add_argument("--layers", default="all", help="w+ rows to factorise and edit: all, 0-7, 0,2,4-6 (default: all)")
    p.add_argument("--top", type=int_range(1, 512), default=10,
                   help="how many directions, strongest first (1..512, default: 10)")
    p.add_argument("--out", required=True, help="output file (.safetensors; put it in models/styleganex/directions)")
    add_overwrite_arg(p)
    p.set_defaults(func=cmd_sefa)

    p = sub.add_parser("directions", help="list the directions of a file: source, shape, default strengths and rows")
    p.add_argument("file", help="direction file (.pt, .npy, .npz, .safetensors)")
    p.set_defaults(func=cmd_directions)


def cmd_sefa(args) -> int:
    from ..base.errors import OutputPathError
    from ..base.outputs import check_not_inputs, check_output_file
    from ..io.directions import save_directions
    from ..pipelines.sefa import sefa_directions

    out = check_output_file(args.out)
    if out.suffix.lower() != ".safetensors":
        raise OutputPathError(f"{out}: SeFa directions are saved as .safetensors (give a name ending in .safetensors)")
    check_not_inputs([out], [model_path_arg(args)], args.overwrite)
    model = load_model_arg(args)
    directions = sefa_directions(model, args.layers, args.top)
    save_directions(Path(args.out), directions)
    for d in directions.values():
        print(d.describe())
    print(f"wrote {len(directions)} directions to {args.out}")
    return 0


def cmd_directions(args) -> int:
    from ..base.schema import shown_text
    from ..io.directions import SOURCES, read_directions

    directions = read_directions(args.file)
    sources = sorted({d.source for d in directions.values()})
    titles = ", ".join(SOURCES[s].title for s in sources)
    print(f"{shown_text(args.file)}: {len(directions)} direction(s), source {titles}")
    for d in directions.values():
        print("  " + d.describe())
    return 0
