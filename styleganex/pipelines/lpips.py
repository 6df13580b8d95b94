"""LPIPS (VGG, v0.1) perceptual loss for the Step II inversion, offline.

The ``lpips`` package ships its linear calibration weights (``lpips/weights/v0.1/vgg.pth``) but
builds the VGG16 backbone through torchvision, which would download the ImageNet weights. Here the
backbone is built without downloading (``pnet_rand=True``) and its weights are read from a local
copy of torchvision's file::

    vgg16-397923af.pth   (https://download.pytorch.org/models/vgg16-397923af.pth, 528 MB)

looked up, in order, as an explicit ``weights=`` path, in the models folder (``$STYLEGANEX_MODELS``,
else ``./models/styleganex``; in ComfyUI ``ComfyUI/models/styleganex``) and in torch's hub cache
(``torch.hub.get_dir()/checkpoints``, where torchvision itself would put it). Only the
``features.*`` tensors are used, so a file holding just those works too. Missing file ->
``FileNotFoundError`` naming the file and where to put it.

``random_backbone=True`` builds a randomly initialised (but always the same) backbone with no file:
for tests and benchmarks only; it is not a perceptual metric.

:class:`Perceptual` caches the normalised VGG features of a fixed target, so each optimisation step
runs VGG only on the output. ``Perceptual(net).set_target(y)(x)`` equals ``net(x, y)`` per image.
"""

from __future__ import annotations

import functools
import threading
import warnings
from pathlib import Path

import torch
from torch import nn

from ..base.catalogue import ALEX_FILE, ALEX_URL, VGG_FILE, VGG_URL
from ..base.errors import InputError
from ..io.paths import models_dir

NETS = ("vgg", "alex")
# torchvision alexnet().features index -> lpips slice (relu1 .. relu5)
_ALEX_SLICES = ((1, range(2)), (2, range(2, 5)), (3, range(5, 8)), (4, range(8, 10)), (5, range(10, 12)))
# torchvision vgg16().features index -> lpips slice (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3)
_SLICES = ((1, range(4)), (2, range(4, 9)), (3, range(9, 16)), (4, range(16, 23)), (5, range(23, 30)))
_lock = threading.Lock()


def search_dirs() -> list[Path]:
    """Folders searched for ``vgg16-397923af.pth``, in order."""
    dirs = [models_dir()]
    local = Path.cwd() / "models" / "styleganex"
    if local not in dirs:
        dirs.append(local)
    dirs.append(Path(torch.hub.get_dir()) / "checkpoints")
    return dirs


def _find_weights(file: str, url: str, weights, what: str, needs: str, otherwise: str = "") -> Path:
    """``weights`` if it is a file, else ``file`` in the models folder or torch's hub cache;
    ``FileNotFoundError`` saying where to put it when absent (``needs``: who needs which weights)."""
    if weights is not None:
        p = Path(weights)
        if p.is_file():
            return p
        raise FileNotFoundError(f"{what} weights for LPIPS not found at {p}. Download {url} and pass its path.")
    dirs = search_dirs()
    for d in dirs:
        if (d / file).is_file():
            return d / file
    raise FileNotFoundError(
        f"{needs} {file}, which were not found. Download {url} and put it in the models folder ({dirs[0]}) or in "
        f"torch's hub cache ({dirs[-1]}){otherwise}. Searched: {', '.join(str(d) for d in dirs)}.")


def find_vgg_weights(weights=None) -> Path:
    """The local VGG16 weights file; ``FileNotFoundError`` saying where to put it when absent."""
    return _find_weights(VGG_FILE, VGG_URL, weights, "VGG16", "LPIPS needs the VGG16 ImageNet weights")


def find_alex_weights(weights=None) -> Path:
    """The local AlexNet weights file (``alexnet-owt-7be5be79.pth``), searched like the VGG16 file;
    ``FileNotFoundError`` saying where to put it when absent."""
    return _find_weights(ALEX_FILE, ALEX_URL, weights, "AlexNet",
                         "LPIPS-AlexNet (the release's training loss) needs the ImageNet weights",
                         "; or train with the VGG trunk (lpips_net='vgg')")


def _vgg_feature_shapes(net: str = "vgg") -> dict:
    from torchvision.models import alexnet, vgg16

    with warnings.catch_warnings(), torch.device("meta"):
        warnings.filterwarnings("ignore", category=UserWarning)
        trunk = vgg16() if net == "vgg" else alexnet()
        return {k: tuple(v.shape) for k, v in trunk.features.state_dict().items()}


def read_vgg_weights(path, net: str = "vgg") -> dict:
    """The backbone tensors of torchvision's VGG16 file (``net="alex"``: its AlexNet file), renamed to
    lpips' layout (``features.x.*`` -> ``sliceK.x.*``) and checked; ValueError for any other file."""
    file = VGG_FILE if net == "vgg" else ALEX_FILE
    path = Path(path)
    from ..base.filetypes import safe_torch_load

    try:
        sd = safe_torch_load(path, InputError)
    except InputError as e:
        raise InputError(f"not a readable VGG16 weights file: {e}") from e
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise InputError(f"{path} holds a {type(sd).__name__}, not a VGG16 state dict")  # noqa: TRY004
    shapes = _vgg_feature_shapes(net)
    bad = [k for k, s in shapes.items()
           if not isinstance(sd.get(f"features.{k}"), torch.Tensor) or tuple(sd[f"features.{k}"].shape) != s]
    if bad:
        raise InputError(f"{path} is not torchvision's {'VGG16' if net == 'vgg' else 'AlexNet'} weights file "
                         f"({file}): {len(bad)} of its {len(shapes)} features.* tensors are missing or have the "
                         f"wrong shape (e.g. features.{bad[0]})")
    slice_of = {x: k for k, index in (_SLICES if net == "vgg" else _ALEX_SLICES) for x in index}
    mapped = {}
    for k in shapes:
        x, name = k.split(".", 1)
        mapped[f"slice{slice_of[int(x)]}.{x}.{name}"] = sd[f"features.{k}"].float()
    return mapped


@functools.lru_cache(maxsize=4)
def _build(random_backbone: bool, weights: str | None, net: str = "vgg"):
    import lpips  # optional dependency: imported on use

    backbone = None if random_backbone else read_vgg_weights(weights, net)
    # the random init must not disturb (or depend on) the caller's global RNG
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torchvision\.")
        torch.manual_seed(0)
        model = lpips.LPIPS(net=net, version="0.1", pnet_rand=True, pretrained=True, verbose=False)
    if backbone is not None:
        model.net.load_state_dict(backbone, strict=True)
    return model.eval().requires_grad_(False)


def load_lpips(random_backbone: bool = False, weights=None, device=None, net: str = "vgg"):
    """An ``lpips.LPIPS(net='vgg', version='0.1')`` module (``net="alex"``: the AlexNet trunk the release
    trains with, from ``alexnet-owt-7be5be79.pth``), frozen and in eval mode.

    The backbone weights come from ``weights`` or the search folders (see the module docstring);
    ``random_backbone=True`` needs no file (tests only). Built modules are cached per file and
    shared, so ``device`` moves the shared module (in place).
    """
    if net not in NETS:
        raise InputError(f"LPIPS trunk must be one of {NETS}, got {net!r}")
    find = find_vgg_weights if net == "vgg" else find_alex_weights
    path = None if random_backbone else str(find(weights).resolve())
    with _lock:
        model = _build(bool(random_backbone), path, net)
    return model if device is None else model.to(device)


class Perceptual(nn.Module):
    """LPIPS distance to a fixed target, with the target's features computed once.

    ``net``: an ``lpips.LPIPS`` module (VGG, AlexNet or SqueezeNet trunk, linear layers on).
    Images are ``[B, 3, H, W]`` in [-1, 1]. ``set_target(y)`` caches the features of ``y``;
    ``forward(x)`` returns the per-image distance ``[B]`` (differentiable with respect to ``x``).
    """

    def __init__(self, net: nn.Module, target: torch.Tensor | None = None):
        super().__init__()
        if not getattr(net, "lpips", False) or not hasattr(net, "lins"):
            raise TypeError("Perceptual needs an lpips.LPIPS module with its linear layers (lpips=True)")
        self.net = net
        self._target = None
        if target is not None:
            self.set_target(target)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        import lpips

        if self.net.version == "0.1":
            x = self.net.scaling_layer(x)
        return [lpips.normalize_tensor(o) for o in self.net.net.forward(x)]

    @torch.no_grad()
    def set_target(self, target: torch.Tensor) -> Perceptual:
        if target.ndim != 4 or target.shape[1] != 3:
            raise InputError(f"target must be [B, 3, H, W] in [-1, 1], got {tuple(target.shape)}")
        self._target = [f.detach() for f in self.features(target)]
        self._target_shape = tuple(target.shape)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._target is None:
            raise RuntimeError("Perceptual: call set_target(target) first")
        tb = self._target_shape[0]
        if x.ndim != 4 or tuple(x.shape[1:]) != self._target_shape[1:] or (x.shape[0] != tb and tb != 1):
            raise InputError(f"image {tuple(x.shape)} does not match the target {self._target_shape}")
        total = 0.0
        for lin, a, b in zip(self.net.lins, self.features(x), self._target):
            # the LPIPS linear layer is a bias-free 1x1 conv: mean(conv(d)) == conv(mean(d))
            w = lin.model[-1].weight.view(1, -1)
            d = (a - b).pow(2).mean(dim=(2, 3))
            total = total + (d * w).sum(dim=1)
        return total
