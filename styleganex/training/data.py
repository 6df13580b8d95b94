"""Where training pairs come from.

Every source gives, for one step, a :class:`Pair` batch: the encoder input ``x``, the target ``y``
and what the release derives from them (the aligned face ``x_tilde`` that gives w+, the photo whose
styles a sketch/mask model injects, the editing vector of each sample).

Randomness is keyed, never global: sample ``k`` of the global batch of step ``s`` draws from a
generator seeded by ``(seed, s, k)`` (:func:`sample_generator`). A batch split over processes (rank
``r`` takes global samples ``r*b .. r*b+b-1``) therefore holds exactly the samples one process with the
whole batch would make, and a resumed run continues with the samples an uninterrupted one would draw.

Sources that need no dataset (drawn every step from the frozen generator, as the release's
``generate_training_data``):

* :class:`EditPairs` (``video_edit``): ``w = t * (mapping(z) + an optional augmenting direction)``;
  ``x = 4x average-pooled G(w)`` (the model's upscale: 4 at 1024), ``y = G(w + s v)`` for a random
  scale ``s`` and editing vector ``v``.
* :class:`ToonifyPairs` (``toonify``): the same ``w`` through the original generator (``x``, pooled) and
  a fine-tuned one (``y``).
* :class:`PretrainPairs` (``pretrain``): ``G(z)`` (truncation 0.7), ``x`` its twice-halved copy.

Sources on folders (the folder is read once; unreadable files and photos without a usable face are
skipped, counted and named in :attr:`FolderSource.skipped`):

* :class:`PhotoFolder` (``inversion``, ``sr``): photos cropped and aligned with
  :func:`styleganex.faces.prepare_face` (or used as they are, already aligned crops).
* :class:`LabelFolder` (``sketch2face``, ``mask2face``): photos plus, under the same file names, the
  user's sketches or parsing label maps.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..base.errors import FaceError, ImageError, InputError, NoFaceError
from ..base.outputs import IMAGE_FORMATS
from ..io.images import load_image
from ..pipelines.degradation import bicubic_downsample

IMAGE_SUFFIXES = tuple(IMAGE_FORMATS)


def sample_generator(seed: int, step: int, index: int, stream: str = "sample") -> torch.Generator:
    """A CPU generator for sample ``index`` of step ``step`` of a run with ``seed`` (``stream`` names the
    use, so data, augmentation and noise draw independent numbers)."""
    digest = hashlib.sha256(f"{seed}/{step}/{index}/{stream}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2 ** 63 - 1))


@dataclass
class Pair:
    """One batch of training pairs (``B`` samples).

    x: ``[B, C, H, W]`` the encoder input (RGB in -1..1; sketches 1 channel in 0..1; masks one-hot).
    y: ``[B, 3, s H, s W]`` the target in -1..1 (``s`` = 1 or the model's upscale, 4 at 1024).
    x_tilde: ``[B, 3, a, a]`` the aligned face giving w+ (None: the release's centre crop of x).
    photo: ``[B, 3, H, W]`` the RGB photo whose styles a sketch / mask model injects (latent mask).
    editing_w: ``[B, n_latent, S]`` the editing vector of each sample (video_edit).
    """

    x: torch.Tensor
    y: torch.Tensor
    x_tilde: torch.Tensor | None = None
    photo: torch.Tensor | None = None
    editing_w: torch.Tensor | None = None

    def to(self, device) -> "Pair":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Pair(move(self.x), move(self.y), move(self.x_tilde), move(self.photo), move(self.editing_w))


def _cat(parts):
    return None if parts[0] is None else torch.cat(parts)


# ---- generated pairs ------------------------------------------------------------------------------
def model_upscale(size: int) -> int:
    """Output side / input side of a StyleGANEX model of generator ``size`` (4 at 1024, 1 at 256)."""
    return max(1, size // 256)


def pool_to(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Average-pool ``images`` by ``factor`` (the release's ``adaptive_avg_pool2d`` to a quarter)."""
    return F.adaptive_avg_pool2d(images, (images.shape[2] // factor, images.shape[3] // factor))


POOL_STEP = -1_000_000
"""The step key of the fixed pairs of ``pair_pool`` (training steps are >= 0, validation batches -1, -2, ...)."""


class GeneratedSource:
    """Base of the sources that draw pairs from frozen generators (no dataset, no epochs).

    ``feature``: the pairs are rendered from the generator's constant input pooled to this side
    (32: plain G(w), the release; smaller: smaller images, e.g. for quick tests)."""

    seed: int
    feature: int = 32

    def render(self, generator, w, editing_w=None):
        """``generator`` on w+ from its constant input at side :attr:`feature` (stored noise)."""
        f = None
        if self.feature != 32:
            f = F.adaptive_avg_pool2d(generator.input(w.shape[0]), self.feature)
        return generator.synthesize(w, f, "stored", editing_w=editing_w)

    def batch(self, step: int, indices: list[int], device) -> Pair:  # pragma: no cover - abstract
        raise NotImplementedError

    def _w(self, generator, step, indices, device, truncation, directions=None):
        """``w+`` [B, n_latent, S]: ``truncation * (mapping(z) + an augmenting direction)``, one z per sample."""
        ws = []
        for k in indices:
            g = sample_generator(self.seed, step, k, "z")
            z = torch.randn(1, generator.style_dim, generator=g)
            w = generator.style(z.to(device)).unsqueeze(1).repeat(1, generator.n_latent, 1)
            if directions is not None:
                pick = int(torch.randint(0, directions.shape[0], (), generator=g))
                w = w + directions[pick:pick + 1].to(w)
            ws.append(w)
        return truncation * torch.cat(ws)


class EditPairs(GeneratedSource):
    """``video_edit`` pairs: ``x = pool4(G(w))``, ``y = G(w + s v)`` (stored noise, as the release).

    Args:
        generator: the frozen generator (the model's decoder).
        editing_w: ``[K, n_latent, S]`` editing vectors ``v``; each sample takes one at random.
        scales: the scales ``s`` drawn per sample (release: 0, 0.25, ..., 1.25).
        directions: optional ``[N, n_latent, S]`` augmenting directions added to w (release:
            ``--direction_path``; here optional).
        truncation: the factor on w (release: 0.75).
        seed: the run's seed.
    """

    def __init__(self, generator, editing_w: torch.Tensor, scales, directions=None, truncation=0.75, seed=0):
        self.generator, self.editing_w, self.scales = generator, editing_w, list(scales)
        self.directions, self.truncation, self.seed = directions, truncation, seed
        self.factor = model_upscale(generator.size)

    @torch.no_grad()
    def batch(self, step, indices, device):
        G = self.generator
        w = self._w(G, step, indices, device, self.truncation, self.directions)
        ew = []
        for k in indices:
            g = sample_generator(self.seed, step, k, "edit")
            s = self.scales[int(torch.randint(0, len(self.scales), (), generator=g))]
            v = int(torch.randint(0, self.editing_w.shape[0], (), generator=g))
            ew.append(self.editing_w[v:v + 1] * s)
        ew = torch.cat(ew).to(w)
        x = pool_to(self.render(G, w), self.factor)
        y = self.render(G, w, ew)
        return Pair(x, y, editing_w=ew)


class ToonifyPairs(GeneratedSource):
    """``toonify`` pairs: the same w through the original generator (``x``, pooled 4x) and the
    fine-tuned one (``y``)."""

    def __init__(self, original, toonified, truncation=0.75, seed=0):
        self.original, self.toonified, self.truncation, self.seed = original, toonified, truncation, seed
        self.factor = model_upscale(original.size)

    @torch.no_grad()
    def batch(self, step, indices, device):
        w = self._w(self.original, step, indices, device, self.truncation)
        x = pool_to(self.render(self.original, w), self.factor)
        y = self.render(self.toonified, w)
        return Pair(x, y)


class PretrainPairs(GeneratedSource):
    """``pretrain`` pairs (``scripts/pretrain.py``): ``y = clamp(G(0.7 mapping(z)))``, ``x`` = y halved
    twice with the [1, 3, 3, 1] FIR filter (``factor`` = 4)."""

    def __init__(self, generator, truncation=0.7, seed=0, factor: int = 4):
        self.generator, self.truncation, self.seed, self.factor = generator, truncation, seed, factor

    @torch.no_grad()
    def batch(self, step, indices, device):
        G = self.generator
        w = self._w(G, step, indices, device, self.truncation)
        y = self.render(G, w).clamp(-1, 1)
        x = y
        for _ in range(max(1, self.factor).bit_length() - 1):
            x = fir_halve(x)
        return Pair(x, y)


def fir_halve(images: torch.Tensor) -> torch.Tensor:
    """Halve ``images`` with StyleGAN2's [1, 3, 3, 1] low-pass filter (rosinality ``Downsample``)."""
    k = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=images.dtype, device=images.device)
    k = (k[:, None] * k[None, :]) / 64.0
    c = images.shape[1]
    padded = F.pad(images, (1, 1, 1, 1))
    return F.conv2d(padded, k.expand(c, 1, 4, 4).contiguous(), stride=2, groups=c)


# ---- folders --------------------------------------------------------------------------------------
def list_images(folder) -> list[Path]:
    """The image files (by extension) directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"the data folder {folder} does not exist or is not a folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def resize01(image: torch.Tensor, size: int) -> torch.Tensor:
    """``[3, H, W]`` (or batched) 0..1 -> ``size x size`` (bilinear with antialiasing)."""
    batched = image.ndim == 4
    out = F.interpolate(image if batched else image[None], size=(size, size), mode="bilinear", antialias=True,
                        align_corners=False).clamp(0, 1)
    return out if batched else out[0]


class FolderSource:
    """Base of the folder sources: ``items`` hold the prepared tensors, ``skipped`` ``[(file, why)]``."""

    items: list
    skipped: list

    def __len__(self) -> int:
        return len(self.items)

    def _require(self, folder, what: str):
        if not self.items:
            why = "; ".join(f"{p.name}: {r}" for p, r in self.skipped[:5])
            raise InputError(f"the data folder {folder} has no usable {what}"
                             + (f" ({len(self.skipped)} skipped: {why})" if self.skipped else " (no image files)"))


class PhotoFolder(FolderSource):
    """Photos for ``inversion`` / ``sr``: each one cropped the release's way (``prepare_face``: eyes
    64 px apart, 512 px around them) and resized to ``image_size``, with its 256 x 256 FFHQ-aligned face;
    or, with ``prepare=False``, taken as an already aligned crop (the release's FFHQ images), resized.

    Args:
        folder: the folder of photos.
        image_size: side of x (and of y for inversion).
        target_scale: side of y / side of x (sr: 4, the model's upscale).
        prepare: crop and align with ``prepare_face`` (needs the dlib detector).
        detector: the face detector for ``prepare_face`` (default: dlib).
        aligned_size: side of the aligned face.
    """

    def __init__(self, folder, image_size: int = 320, target_scale: int = 1, prepare: bool = True,
                 detector=None, aligned_size: int = 256):
        from ..faces.prepare import prepare_face

        self.folder, self.image_size, self.target_scale = Path(folder), image_size, target_scale
        self.items, self.skipped = [], []
        for path in list_images(folder):
            try:
                photo = load_image(path)
                if prepare:
                    p = prepare_face(photo, detector=detector)
                    crop, aligned = p.crop, resize01(p.aligned, aligned_size)
                else:
                    crop, aligned = photo, None
            except (ImageError, OSError) as e:
                self.skipped.append((path, f"unreadable ({e})"))
                continue
            except (NoFaceError, FaceError) as e:
                self.skipped.append((path, f"no usable face ({e})"))
                continue
            big = resize01(crop, image_size * target_scale)
            self.items.append((big, aligned))
        self._require(folder, "face" if prepare else "image")

    def get(self, index: int, generator: torch.Generator, flip: bool, factors=None, blind: bool = False) -> Pair:
        """Item ``index`` as a pair (flipped at random with ``flip``; ``factors``: super-resolution input
        degraded by one of them, or with ``blind`` by :func:`blind_degrade`), randomness from ``generator``."""
        big, aligned = self.items[index]
        if flip and float(torch.rand((), generator=generator)) < 0.5:
            big = big.flip(-1)
            aligned = None if aligned is None else aligned.flip(-1)
        y = big[None]
        x = y if self.target_scale == 1 else resize01(y, self.image_size)
        if blind and factors:
            x, y = blind_degrade(y, self.image_size, factors, self.target_scale, generator)
        elif factors:
            f = factors[int(torch.randint(0, len(factors), (), generator=generator))]
            x = sr_degrade(x, f, self.image_size)
        return Pair(x * 2 - 1, y * 2 - 1, None if aligned is None else aligned[None] * 2 - 1)


def sr_degrade(x01: torch.Tensor, factor: int, size: int) -> torch.Tensor:
    """The release's super-resolution input (``augmentations.BilinearResize`` + ``Resize``): bicubic
    downsampling by ``factor`` (a = -0.5, reflect padding), clipped, 8-bit, resized back to ``size``
    (bilinear)."""
    if factor == 1:
        return x01
    low = bicubic_downsample(x01, factor).clamp(0, 1)
    low = torch.round(low * 255) / 255
    return F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)


def _gaussian_kernel(g: torch.Generator, sigma_range, size: int) -> torch.Tensor:
    """An isotropic or anisotropic (rotated) Gaussian blur kernel ``[size, size]``, each with probability 0.5."""
    lo, hi = sigma_range
    sx = lo + (hi - lo) * float(torch.rand((), generator=g))
    iso = float(torch.rand((), generator=g)) < 0.5
    sy = sx if iso else lo + (hi - lo) * float(torch.rand((), generator=g))
    theta = 0.0 if iso else math.pi * (2 * float(torch.rand((), generator=g)) - 1)
    r = torch.arange(size, dtype=torch.float32) - size // 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    c, s = math.cos(theta), math.sin(theta)
    u, v = c * xx + s * yy, -s * xx + c * yy
    k = torch.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
    return k / k.sum()


def blind_degrade(y01: torch.Tensor, size: int, factors, target_scale: int, g: torch.Generator):
    """The release's blind super-resolution input (``FFHQDegradationDataset``, GFPGAN's chain) for a target
    ``y01`` ``[1, 3, H, W]`` in 0..1: Gaussian blur (iso / aniso, sigma 0.1..10 at 1280 px, scaled to H),
    bilinear downsampling by a factor uniform in ``[0.75 min(factors), 1.5 max(factors)] * target_scale``,
    Gaussian noise (sigma 0..20 / 255), JPEG (quality 60..100), bilinear resize to ``size``, 8 bits; with
    probability 0.01 input and target in grey (``gt_gray``). Returns ``(x01, y01)``."""
    import io

    import numpy as np
    from PIL import Image

    h, w = y01.shape[-2:]
    px = h / 1280
    sigma = (0.1 * px, 10 * px)
    ksize = max(3, min(41, 2 * int(math.ceil(3 * sigma[1])) + 1))
    k = _gaussian_kernel(g, sigma, ksize)
    pad = ksize // 2
    blurred = F.conv2d(F.pad(y01, (pad, pad, pad, pad), mode="reflect"), k.expand(3, 1, ksize, ksize).contiguous(),
                       groups=3)
    lo, hi = 0.75 * min(factors) * target_scale, 1.5 * max(factors) * target_scale
    scale = max(1.0, lo + (hi - lo) * float(torch.rand((), generator=g)))
    small = (max(1, int(h // scale)), max(1, int(w // scale)))
    low = F.interpolate(blurred, size=small, mode="bilinear", align_corners=False)
    noise = 20.0 / 255 * float(torch.rand((), generator=g))
    low = (low + noise * torch.randn(low.shape, generator=g)).clamp(0, 1)
    quality = 60 + int(torch.randint(0, 41, (), generator=g))
    buf = io.BytesIO()
    Image.fromarray((low[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(buf, "JPEG",
                                                                                          quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        low = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)[None].float() / 255
    x = F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    x = torch.round(x * 255) / 255
    if float(torch.rand((), generator=g)) < 0.01:
        grey = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        x = (x * grey).sum(1, keepdim=True).expand(-1, 3, -1, -1)
        y01 = (y01 * grey).sum(1, keepdim=True).expand(-1, 3, -1, -1)
    return x, y01


class LabelFolder(FolderSource):
    """Photos plus sketches or parsing maps (``sketch2face`` / ``mask2face``), paired by file stem.

    The release trains on aligned 320 x 320 crops: both are resized to ``image_size`` as they are
    (photos bilinear, label maps nearest). Sketches: 1 channel in 0..1 (light background, dark lines,
    as the release's sketches). Label maps: class-id images or colour masks
    (:func:`styleganex.faces.parsing.label_image_to_labels`), given one-hot to the encoder.

    Args:
        photos: folder of target photos.
        labels: folder of inputs with the same file stems.
        kind: ``"sketch"`` or ``"mask"``.
        num_classes: label classes (19).
    """

    def __init__(self, photos, labels, kind: str, image_size: int = 320, num_classes: int = 19):
        from ..faces.parsing import label_image_to_labels

        if kind not in ("sketch", "mask"):
            raise InputError(f"kind must be 'sketch' or 'mask', got {kind!r}")
        self.items, self.skipped = [], []
        inputs = {p.stem: p for p in list_images(labels)}
        for path in list_images(photos):
            source = inputs.get(path.stem)
            if source is None:
                self.skipped.append((path, f"no {kind} of the same name in {labels}"))
                continue
            try:
                photo = resize01(load_image(path), image_size)
                image = load_image(source)
                if kind == "sketch":
                    x = resize01(image.mean(0, keepdim=True), image_size)
                else:
                    ids = label_image_to_labels((image * 255).round().to(torch.uint8), num_classes)
                    ids = F.interpolate(ids[:, None].float(), size=(image_size, image_size), mode="nearest")
                    x = F.one_hot(ids[:, 0].long(), num_classes).permute(0, 3, 1, 2).float()[0]
            except (ImageError, OSError, ValueError) as e:
                self.skipped.append((path, f"unreadable ({e})"))
                continue
            self.items.append((x, photo))
        self._require(photos, f"photo with a {kind}")

    def get(self, index: int, generator: torch.Generator, flip: bool = False, factors=None, blind=False) -> Pair:
        x, photo = self.items[index]
        y = photo[None] * 2 - 1
        return Pair(x[None], y, photo=y)


class FolderSchedule:
    """Which folder items each process takes at each step: a :class:`torch.utils.data.DistributedSampler`
    (shuffled, seeded, ``drop_last``) per epoch, ``batch`` items per process per step. Derived from the
    step alone, so a resumed run takes the items an uninterrupted one would."""

    def __init__(self, size: int, batch: int, world: int, rank: int, seed: int):
        from torch.utils.data import DistributedSampler

        self.sampler = DistributedSampler(range(size), num_replicas=world, rank=rank, shuffle=True, seed=seed,
                                          drop_last=True)
        self.batch, self.world, self.rank = batch, world, rank
        self.per_epoch = len(self.sampler) // batch
        if self.per_epoch == 0:
            raise InputError(f"the data folder has {size} usable images: fewer than the batch size {batch} x "
                             f"{world} process(es); lower --batch-size or add images")
        self._epoch, self._order = None, None

    def items(self, step: int) -> list[tuple[int, int]]:
        """``[(item index, global sample key)]`` of this process at ``step``; the key is the item's
        position in the step's global batch (the same whatever the number of processes)."""
        epoch, k = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self.sampler.set_epoch(epoch)
            self._epoch, self._order = epoch, list(self.sampler)
        out = []
        for j in range(self.batch):
            local = k * self.batch + j
            out.append((self._order[local], (j * self.world + self.rank)))
        return out
