"""Small random models and official-format files for tests, demos and benchmarks (no download).

``random_model`` builds a model with random weights at any width (``ModelConfig``); ``reduced_config``
gives the reduced widths of the shared parity fixtures; ``save_official_pt`` writes a model in the
layout of the released ``styleganex_*.pt`` files, so loaders can be tested on the real format.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..model.config import ModelConfig
from ..model.network import StyleGANEX

REDUCED_WIDTHS = {
    "style_dim": 16,
    "gen_channels": {4: 32, 8: 32, 16: 32, 32: 32, 64: 32, 128: 16, 256: 8, 512: 4, 1024: 2},
    "enc_stage_widths": (16, 20, 24, 32),
    "enc_input_width": 16,
    "fpn_width": 32,
}

# the official training options of each released family (README commands of the release)
OFFICIAL_OPTS = {
    "inversion": dict(dataset_type="ffhq_encode"),
    "sr": dict(dataset_type="ffhq_super_resolution", use_skip=True, skip_max_layer=2, resize_factors="1,2,4,8,16"),
    "sr32": dict(dataset_type="ffhq_super_resolution", use_skip=True, skip_max_layer=4, resize_factors="8"),
    "sketch2face": dict(dataset_type="ffhq_sketch_to_face", input_nc=1, label_nc=1, use_skip=True,
                        skip_max_layer=1, use_latent_mask=True, latent_mask="8,9,10,11,12,13,14,15,16,17"),
    "mask2face": dict(dataset_type="ffhq_seg_to_face", input_nc=19, label_nc=19, use_skip=True,
                      skip_max_layer=2, use_latent_mask=True, latent_mask="8,9,10,11,12,13,14,15,16,17"),
    "edit_age": dict(dataset_type="ffhq_edit", use_skip=True, skip_max_layer=7, use_att=1),
    "edit_hair": dict(dataset_type="ffhq_edit", use_skip=True, skip_max_layer=7, use_att=1),
    "toonify": dict(dataset_type="toonify", use_skip=True, skip_max_layer=7),
}
BASE_OPTS = dict(output_size=1024, encoder_type="GradualStyleEncoder", input_nc=3, label_nc=0, res_num=2,
                 use_skip=False, skip_max_layer=7, use_skip_torgb=False, use_att=0, max_pooling=False,
                 start_from_latent_avg=True, learn_in_w=False, feat_ind=0)


def official_opts(family: str, **overrides) -> dict:
    if family not in OFFICIAL_OPTS:
        raise ValueError(f"unknown family {family!r}; one of {sorted(OFFICIAL_OPTS)}")
    return {**BASE_OPTS, **OFFICIAL_OPTS[family], **overrides}


def random_model(family: str = "inversion", reduced: bool = True, size: int = 1024, seed: int = 0,
                 editing_vectors: int = 0) -> StyleGANEX:
    """A model of ``family`` with random (but non-degenerate) weights, in eval mode.

    ``reduced`` uses the fixtures' reduced widths (fast); otherwise the official widths.
    Noise strengths and biases are made non-zero so that every path has an effect.
    """
    opts = official_opts(family, output_size=size)
    config = ModelConfig.from_opts(opts, REDUCED_WIDTHS if reduced else None)
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # the same weights for the same seed, whatever ran before
        torch.manual_seed(seed)
        model = StyleGANEX(config, opts, family)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("noise.weight") or (name.endswith("bias") and p.abs().sum() == 0):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
        model.latent_avg.copy_(torch.randn(model.latent_avg.shape, generator=g) * 0.5)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 2.0, generator=g)
                m.running_mean.normal_(0, 0.1, generator=g)
    if editing_vectors or family.startswith("edit"):
        model.editing_w = torch.randn(max(1, editing_vectors), config.n_latent, config.style_dim, generator=g) * 0.3
    return model.eval().requires_grad_(False)


# options the official ``pSp`` reads that inference does not otherwise need: the released files carry
# them (their opts are the training options); ``pSp.__init__`` fails without ``toonify_weights``
OFFICIAL_LOAD_OPTS = {"toonify_weights": None, "checkpoint_path": None}


def save_official_pt(model: StyleGANEX, path) -> Path:
    """Write ``model`` in the layout of a released ``styleganex_*.pt`` file.

    The file loads in the official code as the release's entry scripts load it (``pSp(Namespace(**opts))``
    after setting ``checkpoint_path`` and ``device``) when the model has the official widths
    (``random_model(..., reduced=False)``); reduced-width models load here only.
    """
    path = Path(path)
    sd = {k: v for k, v in model.state_dict().items() if k != "latent_avg"}
    opts = {**OFFICIAL_LOAD_OPTS, **dict(model.opts)}
    ckpt = {"state_dict": sd, "opts": opts, "latent_avg": model.latent_avg.clone()}
    if model.editing_w is not None:
        ckpt["editing_w"] = model.editing_w.clone()
    torch.save(ckpt, path)
    return path


def save_stylegan2_pt(model: StyleGANEX, path) -> Path:
    """Write the generator of ``model`` as a rosinality StyleGAN2 checkpoint (g_ema + latent_avg)."""
    path = Path(path)
    torch.save({"g_ema": model.decoder.state_dict(), "latent_avg": model.latent_avg[0].clone()}, path)
    return path


def synthetic_landmarks(cx: float, cy: float, d: float) -> np.ndarray:
    """68 dlib-order landmarks [68, 2] of a frontal face: eyes ``d`` px apart at height ``cy``
    around ``cx``, mouth below. Enough for the crop and the FFHQ alignment (no detector needed)."""
    p = np.tile([[cx, cy + 0.4 * d]], (68, 1)).astype(np.float64)
    p[0], p[16], p[8] = [cx - d, cy], [cx + d, cy], [cx, cy + 1.3 * d]
    for i in range(6):
        p[36 + i] = [cx - d / 2 + (i - 2.5) * d / 16, cy + (i % 2) * d / 16]
        p[42 + i] = [cx + d / 2 + (i - 2.5) * d / 16, cy + (i % 2) * d / 16]
    p[48], p[54] = [cx - 0.4 * d, cy + 0.9 * d], [cx + 0.4 * d, cy + 0.9 * d]
    return p


def shift_image(image: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """``image`` [C, H, W] moved by whole pixels (dx right, dy down); uncovered pixels black."""
    out = torch.zeros_like(image)
    height, width = image.shape[-2:]
    out[:, max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = \
        image[:, max(-dy, 0):height + min(-dy, 0), max(-dx, 0):width + min(-dx, 0)]
    return out


def packaged_photos() -> dict[str, torch.Tensor]:
    """The real photos that ship in pip packages, ``[3, H, W]`` in 0..1: scikit-image's astronaut
    (512 x 512) and matplotlib's Grace Hopper (512 x 600). Needs scikit-image and matplotlib."""
    import matplotlib.cbook
    from PIL import Image
    from skimage import data

    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as im:
        hopper = np.asarray(im.convert("RGB"))
    return {name: torch.from_numpy(np.array(a)).permute(2, 0, 1).float() / 255.0
            for name, a in (("astronaut", data.astronaut()), ("grace_hopper", hopper))}


def group_photo(faces: int = 3) -> torch.Tensor:
    """A group photo composed from the packaged photos, ``[3, 352, 256 * faces]`` in 0..1.

    Heads, left to right: the astronaut, Grace Hopper (scaled to about the astronaut's face size),
    a mirrored astronaut at 0.8x, then the same again for more faces; each on a 256 px wide
    tile, the tiles blended into each other over 32 px. Faces are 35 to 60 px wide between the eyes.
    """
    import torch.nn.functional as F

    if not 1 <= faces <= 12:
        raise ValueError(f"faces must be 1..12, got {faces}")
    photos = packaged_photos()
    astronaut = photos["astronaut"][:, 0:352, 60:316]                  # head and shoulders, 256 wide
    hopper = F.interpolate(photos["grace_hopper"][None, :, 20:520, 90:454], size=(352, 256), mode="bilinear",
                           antialias=True, align_corners=False)[0]
    small = F.interpolate(astronaut.flip(-1)[None], scale_factor=0.8, mode="bilinear", antialias=True,
                          align_corners=False)[0]
    dy, dx = 352 - small.shape[1], 256 - small.shape[2]
    mirrored = F.pad(small[None], (dx // 2, dx - dx // 2, dy, 0), mode="replicate")[0]  # standing further back
    tiles = [(astronaut, hopper, mirrored)[k % 3] for k in range(faces)]
    out = torch.cat(tiles, dim=-1).clone()
    ramp = torch.linspace(0.0, 1.0, 32)
    for k in range(1, faces):  # soften the seams between tiles
        x = 256 * k
        left, right = tiles[k - 1][:, :, -16:].mean(-1, keepdim=True), tiles[k][:, :, :16].mean(-1, keepdim=True)
        band = out[:, :, x - 16:x + 16]
        out[:, :, x - 16:x + 16] = band * 0.5 + (left * (1 - ramp) + right * ramp) * 0.5
    return out.clamp(0.0, 1.0).contiguous()
