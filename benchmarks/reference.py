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


class _Placeholder:
    """Stands for anything of a module the release's training code imports but a training step never uses
    (tensorboard's writer, basicsr's degradations, cv2, dlib): calling it returns another placeholder, and as
    a decorator (``@REGISTRY.register()``) it hands the decorated object back."""

    def __call__(self, *args, **kwargs):
        if len(args) == 1 and not kwargs and (isinstance(args[0], type) or callable(args[0])):
            return args[0]
        return _Placeholder()

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Placeholder()


class _PlaceholderModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Placeholder()


def _placeholder_modules(names) -> None:
    for name in names:
        try:
            __import__(name)
        except ImportError:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                sys.modules.setdefault(".".join(parts[:i]), _PlaceholderModule(".".join(parts[:i])))


def _grid_sample_backward_shim(simple_augment) -> None:
    """The release's augmentation differentiates grid sampling through
    ``torch._C._jit_get_operation("aten::grid_sampler_2d_backward")``, which returns ``(op, overloads)`` in
    torch >= 2 (a TypeError in the temporal term's backward). The same operator is called through
    ``torch.ops.aten`` instead (bilinear, zero padding, ``align_corners=False``, as the release asks)."""
    import torch

    def forward(ctx, grad_output, input, grid):
        grad_input, grad_grid = torch.ops.aten.grid_sampler_2d_backward(grad_output, input, grid, 0, 0, False,
                                                                        [True, True])
        ctx.save_for_backward(grid)
        return grad_input, grad_grid

    simple_augment.GridSampleBackward.forward = staticmethod(forward)


def load_release_training(ref_dir) -> types.SimpleNamespace:
    """Import the release's training code (``training/coach.py`` and what it reads) from a checkout.

    What a training step never uses and this machine may lack is replaced by placeholders (tensorboard,
    basicsr, cv2, dlib, matplotlib's figures), and the augmentation's ``models.stylegan2.op2`` (a CUDA
    extension compiled on import) by the release's own pure-PyTorch ``upfirdn2d`` (the same function op2
    runs on CPU tensors); see :func:`_grid_sample_backward_shim` for the one call today's torch changed.
    Returns the modules a driver needs: ``coach``, ``psp``, ``model`` (the StyleGAN2 code), ``lpips``
    (criteria/lpips), ``networks``, ``id_loss``, ``model_irse``, ``w_norm``.
    """
    ref = Path(ref_dir).resolve()
    if not (ref / "training" / "coach.py").is_file():
        raise FileNotFoundError(f"{ref} is not a StyleGANEX checkout (training/coach.py missing)")
    if str(ref) not in sys.path:
        sys.path.insert(0, str(ref))
    _stub_matplotlib()
    _placeholder_modules(["torch.utils.tensorboard", "basicsr.data.degradations", "basicsr.data.data_util",
                          "basicsr.data.transforms", "basicsr.utils.registry", "cv2", "dlib", "yaml"])
    import importlib

    op = importlib.import_module("models.stylegan2.op")
    op2 = types.ModuleType("models.stylegan2.op2")
    op2.upfirdn2d = op.upfirdn2d
    sys.modules["models.stylegan2.op2"] = op2
    _grid_sample_backward_shim(importlib.import_module("models.stylegan2.simple_augment"))
    names = dict(coach="training.coach", psp="models.psp", model="models.stylegan2.model",
                 lpips="criteria.lpips.lpips", networks="criteria.lpips.networks", id_loss="criteria.id_loss",
                 model_irse="models.encoders.model_irse", w_norm="criteria.w_norm")
    return types.SimpleNamespace(**{k: importlib.import_module(v) for k, v in names.items()})
