"""Image quality metrics of a folder of results against their targets: the release's L2, LPIPS and identity
similarity, plus PSNR and SSIM.

Conventions (the release's ``scripts/calc_losses_on_images.py``): both images are resized to ``size`` x
``size`` (256; bilinear with antialiasing; ``size=None`` keeps them as they are, and then they must be the
same size) and compared as follows, per image pair:

* ``l2``: mean squared difference of the images in -1..1 (the release's ``MSELoss`` after its ``Normalize``;
  four times the MSE of 0..1 images);
* ``lpips``: LPIPS distance (:mod:`styleganex.pipelines.lpips`, v0.1: AlexNet as the release reports, or VGG);
* ``id``: cosine similarity of the two faces' ArcFace embeddings, with an embedding function such as
  :meth:`styleganex.training.identity.IdentityLoss.embed` (images at 256 px, -1..1);
* ``psnr``: ``10 log10(1 / MSE)`` of the 0..1 images, in dB (infinite for identical images);
* ``ssim``: Wang et al.'s SSIM with an 11 x 11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, on 0..1
  images, averaged over the valid window positions and the three channels (scikit-image's
  ``structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=1)``).

Lower is better for l2 and lpips, higher for id, psnr and ssim.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ..base.errors import InputError, check_cancel

RELEASE_SIZE = 256
METRICS = ("l2", "lpips", "id", "psnr", "ssim")
HIGHER_IS_BETTER = {"l2": False, "lpips": False, "id": True, "psnr": True, "ssim": True}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
SSIM_SIGMA, SSIM_RADIUS, SSIM_K1, SSIM_K2 = 1.5, 5, 0.01, 0.03


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.ndim != 4 or a.shape[1] != 3 or a.shape != b.shape:
        raise InputError(f"metrics compare two image batches [B, 3, H, W] of one shape, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")


def l2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image MSE on the -1..1 scale (the release's L2). ``a``, ``b``: [B, 3, H, W] in 0..1 -> [B]."""
    _check_pair(a, b)
    return ((a - b) * 2).pow(2).mean(dim=(1, 2, 3))


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of 0..1 images [B, 3, H, W] -> [B] (inf where the images are equal)."""
    _check_pair(a, b)
    mse = (a.double() - b.double()).pow(2).mean(dim=(1, 2, 3))
    return (10 * torch.log10(1.0 / mse)).to(a.dtype)


def _gaussian_window(dtype, device) -> torch.Tensor:
    x = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=dtype, device=device)
    k = torch.exp(-(x ** 2) / (2 * SSIM_SIGMA ** 2))
    return k / k.sum()


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM (see the module docstring) of 0..1 images [B, 3, H, W] (H, W >= 11) -> [B]."""
    _check_pair(a, b)
    if min(a.shape[-2:]) < 2 * SSIM_RADIUS + 1:
        raise InputError(f"SSIM needs images of at least {2 * SSIM_RADIUS + 1} px a side, got {tuple(a.shape[-2:])}")
    x, y = a.double(), b.double()
    k = _gaussian_window(x.dtype, x.device)
    c = x.shape[1]
    kh, kw = k.view(1, 1, -1, 1).expand(c, 1, -1, 1), k.view(1, 1, 1, -1).expand(c, 1, 1, -1)

    def blur(t):  # separable Gaussian, valid positions only
        return F.conv2d(F.conv2d(t, kh, groups=c), kw, groups=c)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3)).to(a.dtype)


def lpips_distance(a: torch.Tensor, b: torch.Tensor, net: torch.nn.Module) -> torch.Tensor:
    """Per-image LPIPS of 0..1 images [B, 3, H, W] -> [B], with ``net`` an ``lpips.LPIPS`` module
    (:func:`styleganex.pipelines.lpips.load_lpips`)."""
    _check_pair(a, b)
    with torch.no_grad():
        return net(a * 2 - 1, b * 2 - 1).reshape(a.shape[0]).to(a.dtype)


def identity_similarity(a: torch.Tensor, b: torch.Tensor,
                        embed: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Per-image cosine similarity of face embeddings of 0..1 images [B, 3, H, W] -> [B].

    ``embed`` takes [B, 3, 256, 256] in -1..1 and returns embeddings [B, D]; the images are resized to
    256 px first when they are another size."""
    _check_pair(a, b)
    if a.shape[-2:] != (RELEASE_SIZE, RELEASE_SIZE):
        a, b = resize(a, RELEASE_SIZE), resize(b, RELEASE_SIZE)
    with torch.no_grad():
        ea, eb = embed(a * 2 - 1), embed(b * 2 - 1)
    return F.cosine_similarity(ea.float(), eb.float(), dim=1).to(a.dtype)


def resize(img: torch.Tensor, size: int) -> torch.Tensor:
    """[B, 3, H, W] -> [B, 3, size, size]: bilinear with antialiasing (like the release's PIL resize)."""
    if img.shape[-2:] == (size, size):
        return img
    return F.interpolate(img, size=(size, size), mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)


def pair_folders(results, targets) -> list[tuple[str, Path, Path]]:
    """(name, result file, target file) for every image under ``results`` (sorted), its target being the
    image under ``targets`` with the same relative path up to the extension (``a/1.png`` <- ``a/1.jpg``).

    Raises InputError when a folder is missing or holds no image, when a result has no target, or when
    one name fits several targets."""
    results, targets = Path(results), Path(targets)
    for what, folder in (("results", results), ("targets", targets)):
        if not folder.is_dir():
            raise InputError(f"--{what} {folder} is not a folder")
    found = _images_under(results)
    if not found:
        raise InputError(f"--results {results} holds no image ({', '.join(IMAGE_SUFFIXES)})")
    by_stem: dict[str, list[Path]] = {}
    for t in _images_under(targets):
        by_stem.setdefault(t.relative_to(targets).with_suffix("").as_posix(), []).append(t)
    pairs, unmatched = [], []
    for r in found:
        stem = r.relative_to(results).with_suffix("").as_posix()
        match = by_stem.get(stem, [])
        if len(match) > 1:
            raise InputError(f"result {stem}: several targets fit ({', '.join(p.name for p in match)}); keep one")
        if not match:
            unmatched.append(r.relative_to(results).as_posix())
            continue
        pairs.append((r.relative_to(results).as_posix(), r, match[0]))
    if unmatched:
        shown = ", ".join(unmatched[:5]) + (f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else "")
        raise InputError(f"{len(unmatched)} result(s) have no target of the same name in {targets}: {shown}")
    return pairs


def _images_under(folder: Path) -> list[Path]:
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [Path(root) / f for f in sorted(files)
                if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES]
    return out


@dataclass
class Evaluation:
    """Per-image metrics and their means.

    ``names``: the result names (relative paths); ``scores``: metric -> one value per name (the metrics
    computed: ``lpips`` and ``id`` only when their networks were given); ``size``: the comparison size
    (None: native)."""

    names: list[str]
    scores: dict[str, list[float]]
    size: int | None
    notes: list[str] = field(default_factory=list)

    @property
    def means(self) -> dict[str, float]:
        return {k: (sum(v) / len(v) if v else math.nan) for k, v in self.scores.items()}

    def as_dict(self) -> dict:
        """JSON-ready: infinite PSNR (identical images) as None."""
        finite = lambda x: x if math.isfinite(x) else None  # noqa: E731
        return {"pairs": len(self.names), "size": self.size, "means": {k: finite(v) for k, v in self.means.items()},
                "images": {n: {k: finite(v[i]) for k, v in self.scores.items()} for i, n in enumerate(self.names)},
                "notes": list(self.notes)}


def evaluate_pairs(pairs: Iterable[tuple[str, Path, Path]], size: int | None = RELEASE_SIZE,
                   lpips_net: torch.nn.Module | None = None,
                   embed: Callable[[torch.Tensor], torch.Tensor] | None = None, device: str = "cpu",
                   progress=None, cancel=None) -> Evaluation:
    """Metrics of each (name, result, target) image pair (see the module docstring).

    Args:
        pairs: from :func:`pair_folders`.
        size: comparison size (the release: 256), or None to compare the images as they are.
        lpips_net: an ``lpips.LPIPS`` module, or None to leave LPIPS out.
        embed: a face embedding function (256 px, -1..1 -> [B, D]), or None to leave identity out.
        device: where the metrics run.
        progress, cancel: the package's ``progress(done, total, info)`` / ``cancel()`` conventions.
    """
    from ..io.images import load_image

    pairs = list(pairs)
    names: list[str] = []
    scores: dict[str, list[float]] = {m: [] for m in METRICS
                                      if not (m == "lpips" and lpips_net is None) and not (m == "id" and embed is None)}
    for i, (name, result, target) in enumerate(pairs):
        check_cancel(cancel)
        a, b = load_image(result)[None].to(device), load_image(target)[None].to(device)
        if size is not None:
            a, b = resize(a, size), resize(b, size)
        elif a.shape != b.shape:
            raise InputError(f"{name}: the result is {a.shape[-1]}x{a.shape[-2]} px and its target "
                             f"{b.shape[-1]}x{b.shape[-2]} px; compare at one size (--size)")
        values = {"l2": l2(a, b), "psnr": psnr(a, b), "ssim": ssim(a, b)}
        if lpips_net is not None:
            values["lpips"] = lpips_distance(a, b, lpips_net)
        if embed is not None:
            values["id"] = identity_similarity(a, b, embed)
        for m in scores:
            scores[m].append(float(values[m][0]))
        names.append(name)
        if progress is not None:
            progress(i + 1, len(pairs), {})
    return Evaluation(names, scores, size)
