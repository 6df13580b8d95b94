"""Training options and the release's recipes.

:class:`TrainOptions` holds every option of the release's ``options/train_options.py`` under the
release's own names (so ``dataclasses.asdict(options)`` is the ``opts`` dict a released checkpoint
carries and the release's loaders read) plus the few this package adds (``recipe``, ``seed``, image
sizes, the LPIPS trunk, BatchNorm handling, the generated-pair settings).

:data:`RECIPES` gives each task the settings of the release's README training command:

>>> opts = recipe_options("video_edit", max_steps=10)
>>> opts.use_att, opts.skip_max_layer, opts.tmp_lambda, opts.adv_lambda
(1, 7, 30.0, 0.1)
>>> recipe_options("inversion").id_lambda
0.1

:func:`check_options` refuses every bad value with one :class:`~styleganex.base.errors.InputError`
naming the option, before anything is built or trained.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from ..base.errors import InputError

RECIPE_NAMES = ("pretrain", "inversion", "sketch2face", "mask2face", "sr", "sr32", "video_edit", "toonify")
"""The tasks :func:`recipe_options` knows (``sr32``: the single-factor 32x super-resolution model)."""

GENERATED_RECIPES = ("pretrain", "video_edit", "toonify")
"""Recipes whose pairs come from the frozen generator every step: they need no dataset."""

FOLDER_RECIPES = ("inversion", "sketch2face", "mask2face", "sr", "sr32")
"""Recipes that train on a folder of photos (sketch/mask: photos plus a folder of inputs)."""

BN_MODES = ("batch", "frozen", "sync")
"""Encoder BatchNorm during training: ``batch`` (the release: batch statistics, running statistics
updated; under torchrun each process normalises with its own batch), ``frozen`` (running statistics,
not updated: the results do not depend on how a batch is split over processes), ``sync``
(``torch.nn.SyncBatchNorm`` over all processes; CUDA + NCCL only)."""

LPIPS_NETS = ("alex", "vgg")
OPTIMIZERS = ("ranger", "adam")
PRECISIONS = ("fp32", "bf16")


@dataclass
class TrainOptions:
    """Every training option, with the release's defaults (``options/train_options.py``).

    Loss weights (``*_lambda``) of 0 switch a term off. Sizes are in pixels of the encoder input ``x``.
    """

    # ---- this package ------------------------------------------------------------------------
    recipe: str = "inversion"
    seed: int = 0
    image_size: int = 320  # side of x for folder recipes (the release's 320x320 FFHQ crops)
    aligned_size: int = 256  # side of the aligned face x~ that gives w+
    crop_min: int = 256  # random crop: sides in crop_min..crop_max, multiples of 8 (release: 32..40 x 8)
    crop_max: int = 320
    flip: bool = False  # random horizontal flip of the photos (release: ffhq_encode transforms)
    lpips_net: str = "alex"  # the release trains with LPIPS-AlexNet (criteria/lpips)
    bn: str = "batch"
    truncation: float = 0.75  # generated pairs: w scaled by this (release: truncation 0.75 about 0)
    edit_scales: str = "0.0,0.25,0.5,0.75,1.0,1.25"  # video_edit: s of y = G(w + s v)
    edit_strength: float = 1.0  # video_edit: v = edit_strength * the direction
    direction_name: str | None = None  # video_edit: the direction picked from editing_w_path
    log_interval: int = 10  # steps between lines of train_log.jsonl
    val_size: int = 4  # generated recipes: samples in the fixed validation batch
    pretrain_scale: int = 4  # pretrain: x is G(z) downsampled this many times (release: 4)
    d_width: int = 0  # discriminator channels at every level (0: the release's StyleGAN2 widths)
    precision: str = "fp32"  # "bf16": forward passes and losses under bf16 autocast (weights and optimiser in fp32)
    pair_pool: int = 0  # generated recipes: 0 = fresh pairs every step (release); N = cycle over N fixed pairs
    pair_feature: int = 32  # generated pairs are rendered from the constant input pooled to this side (32: G(w))
    # ---- the release's options (same names, same meaning) -----------------------------------
    exp_dir: str | None = None
    dataset_type: str = "ffhq_encode"
    encoder_type: str = "GradualStyleEncoder"
    input_nc: int = 3
    label_nc: int = 0
    output_size: int = 1024
    feat_ind: int = 0
    max_pooling: bool = False
    use_skip: bool = False
    use_skip_torgb: bool = False
    skip_max_layer: int = 7
    crop_face: bool = False
    affine_augment: bool = False
    random_crop: bool = False
    resize_factors: str | None = None
    blind_sr: bool = False
    use_latent_mask: bool = False
    latent_mask: str = "8,9,10,11,12,13,14,15,16,17"
    res_num: int = 2
    toonify_weights: str | None = None
    generate_training_data: bool = False
    use_att: int = 0
    editing_w_path: str | None = None
    zero_noise: bool = False
    direction_path: str | None = None
    batch_size: int = 4
    test_batch_size: int = 8
    workers: int = 0
    test_workers: int = 0
    learning_rate: float = 0.0001
    optim_name: str = "ranger"
    train_decoder: bool = False
    start_from_latent_avg: bool = True
    learn_in_w: bool = False
    lpips_lambda: float = 0.8
    id_lambda: float = 0.0
    l2_lambda: float = 1.0
    w_norm_lambda: float = 0.0
    lpips_lambda_crop: float = 0.0
    l2_lambda_crop: float = 0.0
    moco_lambda: float = 0.0
    adv_lambda: float = 0.0
    d_reg_every: int = 16
    r1: float = 1.0
    tmp_lambda: float = 0.0
    stylegan_weights: str | None = None
    checkpoint_path: str | None = None
    max_steps: int = 500000
    image_interval: int = 100
    board_interval: int = 50
    val_interval: int = 1000
    save_interval: int | None = None
    use_wandb: bool = False
    extra: dict = field(default_factory=dict)  # free-form notes (not read by any loader)

    def to_opts(self) -> dict:
        """The ``opts`` dict a checkpoint carries: every field, release names, plain values."""
        d = dataclasses.asdict(self)
        d["n_styles"] = 2 * int(math.log2(self.output_size)) - 2
        # the release's pSp loads ``toonify_weights`` into the decoder when set: the trained file already
        # holds that decoder, so it must not be loaded again (the release clears it the same way)
        d["toonify_weights"] = None
        d["checkpoint_path"] = None
        return d

    @property
    def scales(self) -> list[float]:
        return [float(s) for s in str(self.edit_scales).replace(" ", "").split(",") if s]

    @property
    def factors(self) -> list[int]:
        return [int(f) for f in str(self.resize_factors or "").replace(" ", "").split(",") if f]

    @property
    def latent_rows(self) -> list[int]:
        return [int(r) for r in str(self.latent_mask).replace(" ", "").split(",") if r]


_LATENT_MASK = "8,9,10,11,12,13,14,15,16,17"

RECIPES: dict[str, dict] = {
    # scripts/pretrain.py: synthetic G(z) pairs, only featlayer/skiplayer train, Adam(0.9, 0.99);
    # loss 10 * MSE + LPIPS-VGG summed over its batch of 8 (hence lpips_lambda 8 on our batch mean)
    "pretrain": dict(dataset_type="ffhq_encode", batch_size=8, max_steps=5000, optim_name="adam",
                     l2_lambda=10.0, lpips_lambda=8.0, lpips_net="vgg", truncation=0.7, bn="frozen",
                     generate_training_data=True),
    "inversion": dict(dataset_type="ffhq_encode", batch_size=8, max_steps=100000, val_interval=2500,
                      save_interval=50000, start_from_latent_avg=True, id_lambda=0.1, w_norm_lambda=0.001,
                      affine_augment=True, random_crop=True, crop_face=True, flip=True),
    "sketch2face": dict(dataset_type="ffhq_sketch_to_face", batch_size=8, max_steps=100000, val_interval=2500,
                        save_interval=10000, w_norm_lambda=0.005, affine_augment=True, random_crop=True,
                        crop_face=True, use_skip=True, skip_max_layer=1, label_nc=1, input_nc=1,
                        use_latent_mask=True, latent_mask=_LATENT_MASK),
    "mask2face": dict(dataset_type="ffhq_seg_to_face", batch_size=8, max_steps=100000, val_interval=2500,
                      save_interval=10000, w_norm_lambda=0.005, affine_augment=True, random_crop=True,
                      crop_face=True, use_skip=True, skip_max_layer=2, label_nc=19, input_nc=19,
                      use_latent_mask=True, latent_mask=_LATENT_MASK),
    "sr": dict(dataset_type="ffhq_super_resolution", batch_size=4, max_steps=100000, val_interval=2500,
               save_interval=10000, adv_lambda=0.1, affine_augment=True, random_crop=True, crop_face=True,
               use_skip=True, skip_max_layer=2, resize_factors="1,2,4,8,16"),
    "sr32": dict(dataset_type="ffhq_super_resolution", batch_size=4, max_steps=100000, val_interval=2500,
                 save_interval=10000, adv_lambda=0.1, affine_augment=True, random_crop=True, crop_face=True,
                 use_skip=True, skip_max_layer=4, resize_factors="8"),
    "video_edit": dict(dataset_type="ffhq_edit", batch_size=2, max_steps=100000, val_interval=2500,
                       save_interval=10000, adv_lambda=0.1, tmp_lambda=30.0, affine_augment=True, crop_face=True,
                       use_skip=True, skip_max_layer=7, use_att=1, generate_training_data=True),
    "toonify": dict(dataset_type="toonify", batch_size=2, max_steps=55000, val_interval=2500, save_interval=10000,
                    adv_lambda=0.1, tmp_lambda=30.0, affine_augment=True, crop_face=True, use_skip=True,
                    skip_max_layer=7, generate_training_data=True),
}
"""Each recipe's settings: the release README's training command (and ``scripts/pretrain.py``)."""


def recipe_options(recipe: str, **overrides) -> TrainOptions:
    """The options of ``recipe`` (one of :data:`RECIPE_NAMES`) with ``overrides`` applied, checked.

    Raises:
        InputError: an unknown recipe or option, or a bad value (see :func:`check_options`).
    """
    if recipe not in RECIPES:
        raise InputError(f"unknown recipe {recipe!r}; one of {', '.join(RECIPE_NAMES)}")
    names = {f.name for f in dataclasses.fields(TrainOptions)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise InputError(f"unknown training option(s) {unknown}")
    opts = TrainOptions(recipe=recipe, **{**RECIPES[recipe], **overrides})
    return check_options(opts)


def options_from_dict(d: dict, where: str = "training options") -> TrainOptions:
    """Rebuild :class:`TrainOptions` from :meth:`TrainOptions.to_opts` (a resume folder, a checkpoint's
    opts); fields this version does not know are ignored, missing ones take the recipe's defaults."""
    if not isinstance(d, dict) or d.get("recipe") not in RECIPES:
        raise InputError(f"{where}: not the options of a training run of this package (no known 'recipe')")
    names = {f.name for f in dataclasses.fields(TrainOptions)}
    return recipe_options(d["recipe"], **{k: v for k, v in d.items() if k in names and k != "recipe"})


def _whole(opts, name, low, high=None):
    v = getattr(opts, name)
    if isinstance(v, bool) or not isinstance(v, int) or v < low or (high is not None and v > high):
        rng = f"{low}..{high}" if high is not None else f">= {low}"
        raise InputError(f"option {name} must be a whole number {rng}, got {v!r}")


def _number(opts, name, low=0.0, high=None):
    v = getattr(opts, name)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < low \
            or (high is not None and v > high):
        rng = f"in {low:g}..{high:g}" if high is not None else f">= {low:g}"
        raise InputError(f"option {name} must be a finite number {rng}, got {v!r}")


def check_options(opts: TrainOptions) -> TrainOptions:
    """Check every option; returns ``opts`` or raises :class:`InputError` naming the first bad one."""
    if opts.recipe not in RECIPES:
        raise InputError(f"unknown recipe {opts.recipe!r}; one of {', '.join(RECIPE_NAMES)}")
    for name in ("batch_size", "test_batch_size", "max_steps", "val_interval", "board_interval", "image_interval",
                 "log_interval", "d_reg_every", "val_size"):
        _whole(opts, name, 1)
    _whole(opts, "seed", 0, 2 ** 63 - 1)
    _whole(opts, "pair_pool", 0, 10 ** 9)
    _whole(opts, "d_width", 0, 4096)
    _whole(opts, "pair_feature", 1, 256)
    _whole(opts, "workers", 0, 64)
    if opts.save_interval is not None:
        _whole(opts, "save_interval", 1)
    for name in ("lpips_lambda", "id_lambda", "l2_lambda", "w_norm_lambda", "lpips_lambda_crop", "l2_lambda_crop",
                 "adv_lambda", "tmp_lambda", "r1"):
        _number(opts, name, 0.0, 1e6)
    _number(opts, "learning_rate", 0.0, 1.0)
    if opts.learning_rate <= 0:
        raise InputError(f"option learning_rate must be > 0, got {opts.learning_rate}")
    _number(opts, "truncation", 0.0, 1.0)
    _number(opts, "edit_strength", -100.0, 100.0)
    if opts.moco_lambda:
        raise InputError("option moco_lambda: the MoCo loss (for non-face domains) is not supported; set it to 0")
    if opts.train_decoder:
        raise InputError("option train_decoder: StyleGANEX trains the encoder only; the generator stays frozen")
    if opts.encoder_type != "GradualStyleEncoder":
        raise InputError(f"option encoder_type must be GradualStyleEncoder, got {opts.encoder_type!r}")
    if opts.learn_in_w:
        raise InputError("option learn_in_w is not supported: StyleGANEX learns in W+")
    if opts.output_size not in (256, 512, 1024) and opts.output_size < 64:
        raise InputError(f"option output_size must be a power of two >= 64, got {opts.output_size}")
    if opts.output_size & (opts.output_size - 1):
        raise InputError(f"option output_size must be a power of two, got {opts.output_size}")
    for name in ("image_size", "aligned_size", "crop_min", "crop_max"):
        _whole(opts, name, 32, 4096)
        if getattr(opts, name) % 8:
            raise InputError(f"option {name} must be a multiple of 8, got {getattr(opts, name)}")
    if opts.crop_min > opts.crop_max:
        raise InputError(f"option crop_min ({opts.crop_min}) is larger than crop_max ({opts.crop_max})")
    if opts.lpips_net not in LPIPS_NETS:
        raise InputError(f"option lpips_net must be one of {LPIPS_NETS}, got {opts.lpips_net!r}")
    if opts.precision not in PRECISIONS:
        raise InputError(f"option precision must be one of {PRECISIONS}, got {opts.precision!r}")
    if opts.bn not in BN_MODES:
        raise InputError(f"option bn must be one of {BN_MODES}, got {opts.bn!r}")
    if opts.optim_name not in OPTIMIZERS:
        raise InputError(f"option optim_name must be one of {OPTIMIZERS}, got {opts.optim_name!r}")
    if opts.input_nc not in (1, 3, 19) and opts.input_nc < 1:
        raise InputError(f"option input_nc must be 1 (sketch), 3 (RGB) or the number of label classes, "
                         f"got {opts.input_nc}")
    _whole(opts, "use_att", 0, 8)
    _whole(opts, "skip_max_layer", 0, 7)
    _whole(opts, "res_num", 0, 16)
    if opts.use_att and not opts.use_skip:
        raise InputError("option use_att needs use_skip (the attention gates the fusion layers)")
    if opts.feat_ind != 0:
        raise InputError("option feat_ind must be 0 (f enters the first layer, as in every released model)")
    try:
        scales = opts.scales
        factors = opts.factors
        rows = opts.latent_rows
    except ValueError as e:
        raise InputError(f"options edit_scales / resize_factors / latent_mask must be comma-separated numbers: {e}") \
            from None
    if opts.recipe == "video_edit" and (not scales or any(not math.isfinite(s) or abs(s) > 10 for s in scales)):
        raise InputError(f"option edit_scales must list finite scales within +-10, got {opts.edit_scales!r}")
    if opts.blind_sr and opts.recipe not in ("sr", "sr32"):
        raise InputError("option blind_sr is for the sr / sr32 recipes")
    if opts.recipe in ("sr", "sr32"):
        if not factors or any(f < 1 or f > 64 for f in factors):
            raise InputError(f"option resize_factors must list factors 1..64, got {opts.resize_factors!r}")
    n_latent = 2 * int(math.log2(opts.output_size)) - 2
    if opts.use_latent_mask and (not rows or any(r < 0 or r >= n_latent for r in rows)):
        raise InputError(f"option latent_mask must list w+ rows 0..{n_latent - 1}, got {opts.latent_mask!r}")
    return opts
