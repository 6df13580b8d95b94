"""The StyleGANEX model: encoder E + generator G + latent_avg (the official ``pSp`` class).

>>> model = styleganex.load_model("models/styleganex/styleganex_inversion.pt")
>>> frame = torch.rand(1, 3, 64, 80) * 2 - 1      # [B, 3, H, W] in [-1, 1], H and W multiples of 8
>>> aligned = torch.rand(1, 3, 256, 256) * 2 - 1  # the FFHQ-aligned face
>>> latent = model.encode(frame, aligned)         # w+ from the aligned face, f from the frame
>>> latent.f.shape[-2:]                           # f is H/8 x W/8
torch.Size([8, 10])
>>> model.decode(latent).shape                    # 4H x 4W for the 1024 models (H x W at 256)
torch.Size([1, 3, 256, 320])
>>> model.kind, model.variant
('rgb', 'inversion')

Frames enter as ``[B, C, H, W]`` in [-1, 1] (sketches: 1 channel in [0, 1]; parsing masks: 19-channel
one-hot). ``aligned`` is the 256x256 FFHQ-aligned face that gives w+; without it w+ comes from the
frame itself.
"""

from __future__ import annotations

import contextlib
import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from ..base.errors import InputError, ModelKindError
from ..base.validation import SIGNED, check_image
from . import fast, kernels
from .config import KIND_FILES, ModelConfig, model_kind
from .encoder import Encoder, EncoderFeatures, batch_statistics, batch_statistics_enabled
from .generator import Generator
from .latent import Latent

MIX_SCALE = 0.7
"""The release's scale of mapped random styles injected into w+ (style mixing, sketch/mask samples)."""


class StyleGANEX(nn.Module):
    latent_avg: torch.Tensor  # [n_latent, S] buffer
    editing_w: torch.Tensor | None
    source: str | None  # the file it was loaded from

    def __init__(self, config: ModelConfig, opts: dict | None = None, variant: str = "custom"):
        super().__init__()
        self.config = config
        self.opts = dict(opts or {})
        self.variant = variant
        self.encoder = Encoder(config)
        self.decoder = Generator(config)
        self.register_buffer("latent_avg", torch.zeros(config.n_latent, config.style_dim))
        self.editing_w = None  # [K, n_latent, S] for the video-editing checkpoints
        self.source = None
        self.fast: str | None = None  # "0", "1", "auto" or None (the environment's STYLEGANEX_FAST)

    # ---- properties --------------------------------------------------------------------------
    @property
    def n_latent(self) -> int:
        return self.config.n_latent

    @property
    def has_fusion(self) -> bool:
        return self.encoder.has_fusion

    @property
    def is_label_model(self) -> bool:
        """Sketch / mask models: non-RGB input through the translation net T."""
        return self.config.input_nc != 3

    @property
    def kind(self) -> str:
        """What the model takes: ``"rgb"``, ``"sr"``, ``"sketch"`` or ``"mask"`` (``config.KINDS``)."""
        return model_kind(self.config.input_nc, self.opts, self.variant)

    def require_kind(self, *kinds: str, task: str = "this pipeline") -> None:
        """Raise :class:`~styleganex.base.errors.ModelKindError` naming the right checkpoint unless the
        model's :attr:`kind` is one of ``kinds``."""
        if self.kind in kinds:
            return
        want = " or ".join(KIND_FILES[k] for k in kinds)
        raise ModelKindError(f"{task} needs {want}, but this is the {self.variant} model (kind "
                             f"'{self.kind}', {self.config.input_nc}-channel input)")

    @property
    def device(self) -> torch.device:
        """Where the weights are."""
        return self.decoder.input.input.device

    @property
    def dtype(self) -> torch.dtype:
        """The weights' floating-point type."""
        return self.decoder.input.input.dtype

    # ---- encode ------------------------------------------------------------------------------
    def _batch_stats(self, batch_stats):
        use = self.is_label_model if batch_stats is None else batch_stats
        return batch_statistics() if use else contextlib.nullcontext()

    def add_latent_avg(self, codes: torch.Tensor) -> torch.Tensor:
        if not self.config.start_from_latent_avg:
            return codes
        return codes + self.latent_avg.to(codes.dtype)

    @torch.no_grad()
    def encode(self, frame: torch.Tensor, aligned: torch.Tensor | None = None,
               batch_stats: bool | None = None, skips: bool | None = None) -> Latent:
        """Encode a frame into the joint W+-F space.

        frame: [B, C, H, W], H and W multiples of 8 (C = 3 in [-1, 1]; sketch models: 1 in [0, 1];
        mask models: ``input_nc`` one-hot). aligned: optional [B, 3, h, w] in [-1, 1] giving w+.
        batch_stats: BatchNorm on batch statistics (default: on for sketch/mask models, as released).
        skips: compute fusion features (default: when the model has fusion layers).
        Returns a :class:`Latent` with wplus [B, n_latent, S] (latent_avg added) and f.
        """
        frame = self.check_frame(frame)
        if aligned is not None:
            aligned = check_image(aligned, "aligned", channels=3, multiple=1, value_range=SIGNED, ndims=(4,))
            if aligned.shape[0] != frame.shape[0]:
                raise InputError(f"batch mismatch: frame has {frame.shape[0]} images, aligned has "
                                 f"{aligned.shape[0]}")
        want_skips = self.has_fusion if skips is None else skips
        device, dtype = self.device, self.dtype
        frame = fast.to_channels_last(frame.to(device, dtype))
        with self._batch_stats(batch_stats):
            if aligned is None:
                taps = self.encoder.run_body(frame)
                codes = self.encoder.styles_from_taps(taps)
                feats = self.encoder.features_from_taps(taps)
            else:
                codes = self.encoder.codes(aligned.to(device, dtype))
                feats = self._features(frame)
        return Latent(wplus=self.add_latent_avg(codes), f=feats.f,
                      skips=list(feats.skips) if want_skips else None)

    @torch.no_grad()
    def encode_features(self, frame: torch.Tensor, batch_stats: bool | None = None):
        """Only f and the skip features of a frame (no style heads): the video path."""
        frame = self.check_frame(frame)
        device, dtype = self.device, self.dtype
        with self._batch_stats(batch_stats):
            return self._features(fast.to_channels_last(frame.to(device, dtype)))

    def _features(self, frame: torch.Tensor) -> EncoderFeatures:
        """``encoder.features`` of a checked frame, compiled when the fast switch says so (no grad)."""
        plan = fast.fast_plan(frame.device, self)
        if not plan.compile or torch.is_grad_enabled():
            return self.encoder.features(frame)
        key = (fast.shape_key(frame), fast.mode_key(frame.device), batch_statistics_enabled())
        return fast.compiled_call(self, "encoder features", _compiled_features, key, (frame,),
                                  self.encoder.features, plan.strict)

    def check_frame(self, frame: torch.Tensor) -> torch.Tensor:
        """Check a frame for :meth:`encode`: ``[B, C, H, W]``, H and W multiples of 8; ``C = 3`` in
        [-1, 1] (RGB models), else ``input_nc`` channels in [0, 1]. Returns it; raises ImageError."""
        c = self.config.input_nc
        if c == 3:
            return check_image(frame, "frame", channels=3, multiple=8, value_range=SIGNED, ndims=(4,))
        if frame.ndim == 4 and frame.shape[1] == 3:
            raise InputError(f"this is a {self.variant} model: it takes a {c}-channel "
                             f"{'sketch in [0,1]' if c == 1 else 'one-hot parsing map'}, not an RGB image")
        return check_image(frame, "frame", channels=c, multiple=8, value_range=(0.0, 1.0), ndims=(4,))

    # ---- decode ------------------------------------------------------------------------------
    def resolve_editing_w(self, editing_w, batch: int):
        """A tensor is used as is; a number scales the checkpoint's editing vector (row 0)."""
        if editing_w is None:
            return None
        if isinstance(editing_w, (int, float)):
            if self.editing_w is None:
                raise InputError(f"this {self.variant} model has no editing vector (editing_w); "
                                 "an edit scale needs an edit_age/edit_hair checkpoint")
            editing_w = self.editing_w[0:1] * float(editing_w)
        if editing_w.ndim != 3 or editing_w.shape[1:] != (self.n_latent, self.config.style_dim):
            raise InputError(f"editing_w must be [B, {self.n_latent}, {self.config.style_dim}], "
                             f"got {tuple(editing_w.shape)}")
        return editing_w.expand(batch, -1, -1)

    @torch.no_grad()
    def decode(self, latent: Latent, noise="zero", editing_w=None, use_skips: bool = True,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Render a latent: [B, 3, h*size/32, w*size/32] in about [-1, 1] (4H x 4W at 1024).

        noise: "zero" (default, stable for video), "random", "stored", or the latent's own maps
        when it carries optimised noise and noise is None.
        Raises ValueError for a latent that does not fit this model (``Latent.check_compatible``)
        and for NaN / infinite noise maps or editing vectors.
        """
        maps = latent.noise if noise is None else None if isinstance(noise, str) else noise
        if maps is not None:
            maps = list(maps)
            if len(maps) != self.decoder.num_layers:
                raise InputError(f"expected {self.decoder.num_layers} noise maps, got {len(maps)}: "
                                 "they come from another model")
            for i, n in enumerate(maps):
                if not isinstance(n, torch.Tensor) or n.ndim != 4:
                    raise InputError(f"noise map {i} must be a tensor [B, 1, h, w], got "
                                     f"{tuple(getattr(n, 'shape', ())) or type(n).__name__}")
                if not torch.isfinite(n).all():
                    raise InputError(f"noise map {i} contains NaN or infinite values")
        if isinstance(editing_w, torch.Tensor) and not torch.isfinite(editing_w).all():
            raise InputError("editing_w contains NaN or infinite values")
        return self.synthesize(latent, noise, editing_w, use_skips, generator)

    def synthesize(self, latent: Latent, noise="zero", editing_w=None, use_skips=True, generator=None):
        """Differentiable decode (used by inversion)."""
        latent.check_compatible(self, skips=use_skips)
        device, dtype = self.device, self.dtype
        if noise is None:
            noise = latent.noise if latent.noise is not None else "zero"
        if not isinstance(noise, str):
            noise = [n.to(device, dtype) for n in noise]
        wplus = latent.wplus.to(device, dtype)
        ew = self.resolve_editing_w(editing_w, wplus.shape[0])
        skips = None
        if use_skips and latent.skips is not None and self.has_fusion:
            skips = [s.to(device, dtype) for s in latent.skips]
        f = fast.to_channels_last(latent.f.to(device, dtype))
        if skips is not None:
            skips = [fast.to_channels_last(s) for s in skips]
        ew = None if ew is None else ew.to(device, dtype)
        plan = fast.fast_plan(device, self)
        # the fused kernels where no compiled graph runs (CUDA); setting "0" leaves the caller's choice (off)
        with kernels.enabled(plan.kernels) if plan.any else contextlib.nullcontext():
            if plan.compile and not torch.is_grad_enabled() and generator is None and not (
                    isinstance(noise, str) and noise == "random"):
                maps = [] if isinstance(noise, str) else noise
                key = (fast.shape_key(wplus, f, ew, *(skips or []), *maps),
                       noise if isinstance(noise, str) else "maps", fast.mode_key(device))
                out = fast.compiled_call(self, "decoder", _compiled_synthesize, key, (wplus, f, noise, skips, ew),
                                         self._reference_synthesize, plan.strict, plan.compile_mode)
                return out.clone() if plan.cudagraphs else out  # a CUDA graph's output is overwritten next call
            return self.decoder.synthesize(wplus, f, noise, skips, self.encoder.fusion if skips else None, ew,
                                           generator=generator)

    def _reference_synthesize(self, wplus, f, noise, skips, ew):
        return self.decoder.synthesize(wplus, f, noise, skips, self.encoder.fusion if skips else None, ew)

    # ---- the official pSp.forward, used by the parity runner ---------------------------------
    def forward(self, x1, x2=None, resize=True, latent_mask=None, randomize_noise=True,
                inject_latent=None, return_latents=False, alpha=None, use_feature=True,
                first_layer_feature_ind=0, use_skip=False, zero_noise=False, editing_w=None,
                noise=None):
        codes, feats = self.encoder(x1, return_feat=True, return_full=use_skip)
        if x2 is not None:
            codes = self.encoder(x2)
        codes = self.add_latent_avg(codes)
        if latent_mask is not None:
            codes = codes.clone()
            for i in latent_mask:
                if inject_latent is None:
                    codes[:, i] = 0
                elif alpha is None:
                    codes[:, i] = inject_latent[:, i]
                else:
                    codes[:, i] = alpha * inject_latent[:, i] + (1 - alpha) * codes[:, i]
        first = skips = fusion = None
        if use_feature:
            first = feats[0:2]
            if use_skip:
                skips, fusion = feats[2:], getattr(self.encoder, "fusion", None)
        images, latent = self.decoder([codes], input_is_latent=True, noise=noise,
                                      randomize_noise=randomize_noise, return_latents=return_latents,
                                      first_layer_feature=first, first_layer_feature_ind=first_layer_feature_ind,
                                      skip_layer_feature=skips, fusion_block=fusion,
                                      zero_noise=zero_noise, editing_w=editing_w)
        if resize:
            images = self.resize_output(images)
        return (images, latent) if return_latents else images

    def resize_output(self, images):
        """Official ``resize=True``: 1024 models pool by 4 to the input size, others to 256x256."""
        if self.config.size == 1024:
            return F.adaptive_avg_pool2d(images, (images.shape[2] // 4, images.shape[3] // 4))
        return F.adaptive_avg_pool2d(images, (256, 256))

    def swap_generator(self, generator: Generator | StyleGANEX) -> StyleGANEX:
        """Domain transfer: a new model that shares this encoder (and latent_avg) but decodes with
        another generator, e.g. a toonify / StyleGAN-NADA fine-tune, so the same w+ and f render
        in its domain. ``generator``: a ``Generator`` (``styleganex.load_generator(path)`` reads one
        from a StyleGAN2 ``g_ema`` or a StyleGANEX checkpoint) or a ``StyleGANEX`` (its decoder).
        This model is not changed."""
        if isinstance(generator, StyleGANEX):
            generator = generator.decoder
        if not isinstance(generator, Generator):
            raise TypeError(f"swap_generator takes a Generator (styleganex.load_generator(path)) or a "
                            f"StyleGANEX, got {type(generator).__name__}")
        gc, c = generator.config, self.config
        if (gc.size, gc.style_dim) != (c.size, c.style_dim) or gc.gen_channels[4] != c.gen_channels[4]:
            raise InputError(f"this generator (size {gc.size}, style_dim {gc.style_dim}, first-layer "
                             f"channels {gc.gen_channels[4]}) cannot decode this model's latents (size "
                             f"{c.size}, style_dim {c.style_dim}, channels {c.gen_channels[4]})")
        for k in range(c.n_fusion):
            r = 2 ** (k + 2)
            if gc.gen_channels[r] != c.gen_channels[r]:
                raise InputError(f"the generator has {gc.gen_channels[r]} channels at level {r} where "
                                 f"this model's fusion layers need {c.gen_channels[r]}")
        config = dataclasses.replace(c, gen_channels=dict(gc.gen_channels), n_mlp=gc.n_mlp,
                                     lr_mlp=gc.lr_mlp, blur_kernel=gc.blur_kernel)
        with torch.device("meta"):
            new = StyleGANEX(config, self.opts, self.variant)
        device, dtype = self.device, self.dtype
        new.encoder = self.encoder
        new.decoder = generator.to(device, dtype).eval()
        new.latent_avg = self.latent_avg
        new.editing_w = self.editing_w
        new.fast = self.fast
        new.source = self.source
        new.training = self.training
        return new

    @torch.no_grad()
    def styles_from_z(self, z: torch.Tensor, scale: float = MIX_SCALE) -> torch.Tensor:
        """The mapped styles of ``z`` [n, S] on every w+ row, times ``scale``: [n, n_latent, S], as the
        release injects them for multi-modal sketch/mask outputs and style mixing."""
        w = self.decoder.style(z.to(self.device, self.dtype))
        return w.unsqueeze(1).repeat(1, self.n_latent, 1) * scale

    def mixing_styles(self, n: int, scale: float = MIX_SCALE, generator: torch.Generator | None = None):
        """:meth:`styles_from_z` of ``n`` standard-normal z drawn (on the CPU) from ``generator``."""
        return self.styles_from_z(torch.randn(n, self.config.style_dim, generator=generator), scale)


# ---- the compiled entry points (module level: the compile cache holds no reference to a model) -------
def _compiled_synthesize(model: StyleGANEX, wplus, f, noise, skips, ew) -> torch.Tensor:
    return model.decoder.synthesize(wplus, f, noise, skips, model.encoder.fusion if skips else None, ew)


def _compiled_features(model: StyleGANEX, frame: torch.Tensor) -> EncoderFeatures:
    return model.encoder.features(frame)
