"""Load the official StyleGANEX modules from a user's checkout (never part of this repository).

    git clone https://github.com/williamyang1991/StyleGANEX /path/to/StyleGANEX
    python -m benchmarks.run --reference /path/to/StyleGANEX

Only ``models/`` of the checkout is imported; its pure-PyTorch ops are used (no compiled extensions).
"""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path


def _stub_matplotlib():
    """models/psp.py imports matplotlib only to pick a backend; a stub does when it is absent."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        stub = types.ModuleType("matplotlib")
        stub.use = lambda *a, **k: None
        sys.modules["matplotlib"] = stub


def load_official_psp(ref_dir, ckpt: dict):
    """Build the official ``pSp`` from a checkpoint dict (``state_dict``, ``opts``, ``latent_avg``)."""
    ref = Path(ref_dir).resolve()
    if not (ref / "models" / "psp.py").is_file():
        raise FileNotFoundError(f"{ref} is not a StyleGANEX checkout (models/psp.py missing)")
    if str(ref) not in sys.path:
        sys.path.insert(0, str(ref))
    _stub_matplotlib()
    from models.psp import pSp  # noqa: E402  (the official code)

    opts = dict(ckpt["opts"])
    opts.update(checkpoint_path="<in memory>", device="cpu", toonify_weights=None)
    net = pSp(argparse.Namespace(**opts), ckpt=ckpt)
    return net.eval().requires_grad_(False)
