"""The model as it trains: building it for a recipe, and its differentiable forward pass.

Only the encoder trains (input layer or translation net T, IR-SE body, style heads, feature layer,
fusion layers and their attention MLP); the generator stays frozen (``requires_grad=False``, eval mode).

:class:`TrainNet` is what distributed training wraps in ``DistributedDataParallel``: one ``forward``
call per step renders every view the step needs (the augmented input and, for the temporal loss, the
un-augmented one), so DDP sees one forward per backward.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from ..base.errors import CheckpointError, InputError
from ..model import ModelConfig, StyleGANEX
from ..model.checkpoints import checkpoint_settings, classify, config_from_tensors, load_weights, read_file

STRUCTURE = ("input_nc", "res_num", "use_skip", "skip_max_layer", "use_skip_torgb", "use_att", "max_pooling",
             "start_from_latent_avg")
"""The :class:`ModelConfig` fields a recipe sets (the rest, the widths, come from the initial weights)."""


def noise_shapes(config: ModelConfig, f_hw: tuple[int, int]) -> list[tuple[int, int]]:
    """The spatial size of each of the generator's noise maps for a first-layer feature of size ``f_hw``:
    the dilated shallow layers (conv1 and levels 8..32) keep f's size, each level from 64 on doubles it."""
    h, w = f_hw
    sizes = [(h, w)]
    for i in range(1, (config.log_size - 2) * 2 + 1):
        level = (i - 1) // 2 + 3
        up = 2 ** max(0, level - 5)
        sizes.append((h * up, w * up))
    return sizes


def random_noise(config: ModelConfig, f_hw, generators: list[torch.Generator], device, dtype) -> list[torch.Tensor]:
    """Fresh noise maps ``[B, 1, h, w]`` per layer, sample ``b`` drawn from ``generators[b]`` (the release
    trains with ``randomize_noise=True``)."""
    maps = []
    for h, w in noise_shapes(config, f_hw):
        maps.append(torch.cat([torch.randn(1, 1, h, w, generator=g) for g in generators]).to(device, dtype))
    return maps


@dataclasses.dataclass
class View:
    """One input to render: ``x`` (encoder input), ``x_tilde`` (aligned face for w+, or None),
    ``inject`` (photo whose raw style codes replace ``rows``, or None), ``editing_w``, noise maps
    (list, or ``"zero"``), and ``out_hw`` (pool the output to this size, or None)."""

    x: torch.Tensor
    x_tilde: torch.Tensor | None = None
    inject: torch.Tensor | None = None
    rows: list | None = None
    editing_w: torch.Tensor | None = None
    noise: object = "zero"
    out_hw: tuple | None = None


class TrainNet(nn.Module):
    """The trainable forward of a :class:`StyleGANEX`, as the release's ``pSp.forward`` (``x1=x``,
    ``x2=x_tilde``, ``latent_mask``, ``inject_latent``, ``use_skip``, ``editing_w``).

    ``forward(views)`` returns ``[(image, w+)]``: image ``[B, 3, h, w]`` in about -1..1, w+ ``[B, n, S]``
    (latent_avg added, plus editing_w as the release's ``return_latents``).
    """

    def __init__(self, model: StyleGANEX):
        super().__init__()
        self.model = model

    def render(self, v: View):
        enc, model = self.model.encoder, self.model
        if v.x_tilde is not None:
            feats = enc.features(v.x)
            codes = enc.codes(v.x_tilde)
        else:
            taps = enc.run_body(v.x)
            codes = enc.styles_from_taps(taps)
            feats = enc.features_from_taps(taps)
        codes = model.add_latent_avg(codes)
        if v.rows:
            inject = enc.codes(v.inject)  # raw codes, no latent_avg: the release's inject_latent
            keep = torch.ones(codes.shape[1], dtype=torch.bool, device=codes.device)
            keep[list(v.rows)] = False
            codes = torch.where(keep[None, :, None], codes, inject)
        skips = list(feats.skips) if model.has_fusion else None
        image = model.decoder.synthesize(codes, feats.f, v.noise, skips, enc.fusion if skips else None, v.editing_w)
        if v.out_hw is not None and tuple(image.shape[-2:]) != tuple(v.out_hw):
            image = F.adaptive_avg_pool2d(image, v.out_hw)
        return image, (codes if v.editing_w is None else codes + v.editing_w)

    def forward(self, views: list[View]):
        return [self.render(v) for v in views]


def trainable_parameters(model: StyleGANEX, recipe: str, feat_ind: int = 0) -> list[nn.Parameter]:
    """The parameters that train: the encoder's (``pretrain``: only the feature layers, as
    ``scripts/pretrain.py``), without ``skiplayer`` whose RGB output no released model uses (its
    gradient is always None with ``feat_ind = 0``) and without fusion layers past the generator's last
    stage (generators under 1024 px): leaving them out keeps DDP from waiting for their gradients."""
    enc = model.encoder
    stages = model.config.log_size - 2  # fusion layer k runs before generator stage k; smaller generators
    unused = ("skiplayer.",) + tuple(f"fusion.{k}." for k in range(stages, 8))  # have fewer stages than 7
    if recipe == "pretrain":
        params = list(enc.featlayer.parameters())
    else:
        params = [p for n, p in enc.named_parameters() if not n.startswith(unused)]
    if feat_ind != 0:
        params += list(enc.skiplayer.parameters())
    return params


def set_train_mode(model: StyleGANEX, bn: str, recipe: str) -> None:
    """Encoder in training mode with BatchNorm as ``bn`` says (``batch``: batch statistics, the release;
    ``frozen``: running statistics), generator in eval mode; only the trainable parameters need grads."""
    model.requires_grad_(False)
    model.eval()
    for p in trainable_parameters(model, recipe):
        p.requires_grad_(True)
    if recipe == "pretrain":  # scripts/pretrain.py keeps the whole model in eval mode
        return
    model.encoder.train()
    if bn == "frozen":
        for m in model.encoder.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


# ---- building the model ---------------------------------------------------------------------------
def _state_of(path) -> tuple[dict, dict, torch.Tensor | None, dict | None]:
    """(state dict, opts, latent_avg, contents) of a StyleGANEX checkpoint file, checked."""
    obj, meta = read_file(path)
    if classify(obj, meta) == "stylegan2":
        raise CheckpointError(f"{path} is a StyleGAN2 generator (g_ema), not a StyleGANEX model: pass it as the "
                              "generator (--generator), and a StyleGANEX model as --init")
    sd, latent_avg, _, opts, _, _ = checkpoint_settings(obj, meta, path)
    return sd, opts, latent_avg, obj


def build_model(opts, init=None, generator=None, seed: int = 0) -> tuple[StyleGANEX, dict]:
    """The model to train for the options ``opts``.

    Args:
        opts: :class:`~styleganex.training.options.TrainOptions`.
        init: a StyleGANEX checkpoint path or model whose weights start the run (the release's
            ``--checkpoint_path``): every tensor whose name and shape the new structure shares is copied;
            new parts (fusion layers, attention, translation net) start from PyTorch's default
            initialisation drawn from ``seed``.
        generator: ``(Generator, latent_avg or None)`` when there is no ``init`` (the release's
            ``--stylegan_weights``: the encoder then starts from scratch).
        seed: seeds the initialisation of the new parts.

    Returns:
        ``(model, info)`` with ``info = {"copied": n, "new": [names of new tensors]}``.
    """
    if init is None and generator is None:
        raise InputError("training needs initial weights: --init (a StyleGANEX checkpoint, e.g. "
                         "styleganex_inversion.pt) or --generator (a StyleGAN2 g_ema file)")
    if isinstance(init, StyleGANEX):
        src_sd = {k: v for k, v in init.state_dict().items()}
        base_config, latent_avg, discriminator = init.config, init.latent_avg.clone(), None
    elif init is not None:
        src_sd, init_opts, latent_avg, obj = _state_of(init)
        base_config = config_from_tensors(src_sd, init_opts, str(init))
        discriminator = obj.get("discriminator") if isinstance(obj.get("discriminator"), dict) else None
    else:
        gen, g_avg = generator
        base_config = dataclasses.replace(ModelConfig(size=gen.config.size), **{
            k: getattr(gen.config, k) for k in ("style_dim", "n_mlp", "lr_mlp", "gen_channels", "blur_kernel")})
        src_sd = {f"decoder.{k}": v for k, v in gen.state_dict().items()}
        latent_avg, discriminator = None, None
        if g_avg is not None:
            latent_avg = g_avg.reshape(1, -1).float()
    structure = {name: getattr(opts, name) for name in STRUCTURE}
    config = dataclasses.replace(base_config, **structure)
    if config.size != opts.output_size:
        raise InputError(f"the initial weights are of a {config.size}-pixel generator, but output_size is "
                         f"{opts.output_size}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = StyleGANEX(config, opts.to_opts(), "custom")
    own = model.state_dict()
    copied, new = {}, []
    for k, ref in own.items():
        v = src_sd.get(k)
        if k == "latent_avg":
            continue
        if isinstance(v, torch.Tensor) and tuple(v.shape) == tuple(ref.shape) and v.dtype.is_floating_point == \
                ref.dtype.is_floating_point:
            copied[k] = v
        else:
            new.append(k)
    if any(k.startswith("decoder.") and not k.endswith(("num_batches_tracked",)) and "noises." not in k for k in new):
        missing = [k for k in new if k.startswith("decoder.")][:5]
        raise CheckpointError(f"the initial weights lack generator tensors of this structure (e.g. {missing})")
    with torch.no_grad():
        for k, v in copied.items():
            own[k].copy_(v.to(own[k].dtype))
        if latent_avg is None:
            g = torch.Generator().manual_seed(seed)
            z = torch.randn(10000, config.style_dim, generator=g)
            latent_avg = model.decoder.style(z).mean(0, keepdim=True)
        la = latent_avg.float()
        if la.ndim == 1 or la.shape[0] == 1:
            la = la.reshape(1, -1).expand(config.n_latent, -1)
        if tuple(la.shape) != (config.n_latent, config.style_dim):
            raise CheckpointError(f"latent_avg of the initial weights has shape {tuple(latent_avg.shape)}, expected "
                                  f"{(config.n_latent, config.style_dim)}")
        model.latent_avg.copy_(la)
    return model, {"copied": len(copied), "new": new, "discriminator": discriminator}


def swap_decoder(model: StyleGANEX, generator) -> None:
    """Put a fine-tuned generator (toonify) in place of the model's decoder, checked for fit."""
    gc, c = generator.config, model.config
    if (gc.size, gc.style_dim, gc.gen_channels) != (c.size, c.style_dim, c.gen_channels):
        raise InputError(f"the fine-tuned generator (size {gc.size}, style_dim {gc.style_dim}, channels "
                         f"{gc.gen_channels}) does not have the structure of the model's generator (size {c.size}, "
                         f"style_dim {c.style_dim}, channels {c.gen_channels})")
    state = {k: v.clone() for k, v in generator.state_dict().items()}
    load_weights(model.decoder, state, "the fine-tuned generator")
