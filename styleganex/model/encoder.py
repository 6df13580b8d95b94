"""The StyleGANEX encoder: pSp's GradualStyleEncoder on IR-SE-50 with the StyleGANEX additions.

* ``body``: 24 IR-SE bottleneck units; taps at the input layer (c256, H), unit 2 (c128, H/2),
  unit 6 (c1, H/4), units 10/15/20 (c21, c22, c2, H/8) and unit 23 (c3, H/16).
* ``styles``: one GradualStyleBlock per w+ row, ending in a global average pool, so any H x W works.
* ``featlayer``: f = 1x1 conv on cat(c21, c22, c2) (H/8 x W/8); ``skiplayer``: unused RGB skip.
* ``fusion``: FusionLayers that merge the skip features [c2, c2, c22, c21, c1, c128, c256] into
  the generator (translation / video models), optionally gated by an attention mask.
* ``input_label_layer``: the light translation net T for 1- or 19-channel inputs.

BatchNorm can use batch statistics for one call without touching the module's mode or running
statistics: wrap the call in ``with batch_statistics():`` (sketch/mask models do this).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..base.errors import InputError
from .config import ModelConfig
from .ops import EqualLinear

_BATCH_STATS = contextvars.ContextVar("styleganex_batch_stats", default=False)


@contextlib.contextmanager
def batch_statistics(enabled: bool = True):
    """Within this block every encoder BatchNorm normalises with the batch's own statistics
    (biased variance, as in training mode) and leaves its running statistics unchanged.
    Thread- and task-local: other calls on the same model are unaffected."""
    token = _BATCH_STATS.set(enabled)
    try:
        yield
    finally:
        _BATCH_STATS.reset(token)


def batch_statistics_enabled() -> bool:
    """Whether :func:`batch_statistics` is on here (a cache key of the compiled encoder)."""
    return _BATCH_STATS.get()


class BatchNorm2d(nn.BatchNorm2d):
    """nn.BatchNorm2d that honours :func:`batch_statistics` (same state-dict keys)."""

    def forward(self, x):
        if _BATCH_STATS.get():
            return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
        return super().forward(x)


class SEModule(nn.Module):
    def __init__(self, channels: int, reduction: int):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)

    def forward(self, x):
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True)))))
        return x * s


class BottleneckIRSE(nn.Module):
    """IR-SE unit: BN, 3x3 conv, PReLU, 3x3 conv (stride), BN, SE; plus a shortcut."""

    def __init__(self, in_channel: int, depth: int, stride: int, se_reduction: int):
        super().__init__()
        self.stride = stride
        if in_channel == depth:
            self.shortcut_layer = None  # official MaxPool2d(1, stride): plain subsampling
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(in_channel, depth, 1, stride, bias=False),
                                                BatchNorm2d(depth))
        self.res_layer = nn.Sequential(
            BatchNorm2d(in_channel),
            nn.Conv2d(in_channel, depth, 3, 1, 1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False),
            BatchNorm2d(depth),
            SEModule(depth, se_reduction),
        )

    def forward(self, x):
        if self.shortcut_layer is None:
            shortcut = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
        else:
            shortcut = self.shortcut_layer(x)
        return self.res_layer(x) + shortcut


class GradualStyleBlock(nn.Module):
    """log2(spatial) stride-2 3x3 convs + LeakyReLU(0.01), global pool, EqualLinear -> one w row."""

    def __init__(self, in_c: int, out_c: int, spatial: int, max_pooling: bool = False):
        super().__init__()
        n = int(math.log2(spatial))
        layers = []
        for i in range(n):
            layers += [nn.Conv2d(in_c if i == 0 else out_c, out_c, 3, 2, 1), nn.LeakyReLU()]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(out_c, out_c)
        self.max_pooling = max_pooling

    def forward(self, x):
        x = self.convs(x)
        x = x.amax((2, 3)) if self.max_pooling else x.mean((2, 3))
        return self.linear(x)


class AdaptiveInstanceNorm(nn.Module):
    def __init__(self, channels: int, style_dim: int):
        super().__init__()
        self.style = nn.Linear(style_dim, channels * 2)

    def forward(self, x, style):
        gamma, beta = self.style(style)[:, :, None, None].chunk(2, 1)
        return gamma * F.instance_norm(x) + beta


class FusionLayer(nn.Module):
    """Merge an encoder feature into the generator's (out, skip) before a stage.

    x = LReLU(conv3x3(feat)); with attention and an editing vector, x is gated by
    m = tanh(relu(conv(AdaIN(cat(out, |out - x|), MLP(editing row))))); then
    out = conv3x3(cat(out, x)) and, with ``use_skip_torgb``, skip = conv3x3(cat(skip, x)).
    """

    def __init__(self, in_ch: int, out_ch: int, style_dim: int, use_skip_torgb: bool, use_att: int):
        super().__init__()
        self.transform = nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, 1, 1), nn.LeakyReLU())
        self.fusion_out = nn.Conv2d(out_ch * 2, out_ch, 3, 1, 1)
        self.use_skip_torgb = use_skip_torgb
        if use_skip_torgb:
            self.fusion_skip = nn.Conv2d(3 + out_ch, 3, 3, 1, 1)
        self.use_att = use_att
        if use_att:
            mlp: list[nn.Module] = [nn.Linear(style_dim, out_ch)]
            for _ in range(use_att):
                mlp += [nn.LeakyReLU(0.2), nn.Linear(out_ch, out_ch)]
            mlp.append(nn.LeakyReLU(0.2))
            self.linear = nn.Sequential(*mlp)
            self.norm = AdaptiveInstanceNorm(out_ch * 2, out_ch)
            self.conv = nn.Conv2d(out_ch * 2, 1, 3, 1, 1)

    def forward(self, feat, out, skip, editing_w=None):
        x = self.transform(feat)
        if self.use_att and editing_w is not None:
            label = self.linear(editing_w)
            m = torch.tanh(F.relu(self.conv(self.norm(torch.cat([out, (out - x).abs()], 1), label))))
            x = x * m
        out = self.fusion_out(torch.cat([out, x], 1))
        if self.use_skip_torgb:
            skip = self.fusion_skip(torch.cat([skip, x], 1))
        return out, skip


class ResnetBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1), nn.LeakyReLU(), nn.Conv2d(dim, dim, 3, 1, 1))

    def forward(self, x):
        return F.leaky_relu(x + self.conv_block(x), 0.01)


class TranslationNet(nn.Module):
    """T: 2 stride-2 convs, ``res_num`` ResBlocks, 2 stride-2 transposed convs, conv+BN+PReLU.

    Maps a 1-channel sketch or 19-channel parsing map [B, in, H, W] (H, W multiples of 4) to the
    encoder's input features [B, enc_input_width, H, W].
    """

    def __init__(self, in_channel: int, res_num: int, width: int, out_width: int):
        super().__init__()
        layers = [nn.Conv2d(in_channel, width, 3, 2, 1), nn.LeakyReLU(),
                  nn.Conv2d(width, width, 3, 2, 1), nn.LeakyReLU()]
        layers += [ResnetBlock(width) for _ in range(res_num)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(width, width, 3, 2, 1, output_padding=1), nn.LeakyReLU()]
        layers += [nn.Conv2d(width, out_width, 3, 1, 1, bias=False), BatchNorm2d(out_width), nn.PReLU(out_width)]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


@dataclass
class EncoderFeatures:
    """What the encoder body gives: f, the unused RGB skip, and the 7 fusion skip features."""

    f: torch.Tensor  # [B, C4, H/8, W/8]
    rgb: torch.Tensor  # [B, 3, H/8, W/8]
    skips: list  # [c2, c2, c22, c21, c1, c128, c256]


class Encoder(nn.Module):
    COARSE, MIDDLE = 3, 7  # style rows 0-2 from c3, 3-6 from p2, 7+ from p1

    def __init__(self, config: ModelConfig):
        super().__init__()
        c = config
        self.config = c
        w_in = c.enc_input_width
        if c.input_nc != 3:
            self.input_label_layer = TranslationNet(c.input_nc, c.res_num, c.translation_net_width, w_in)
        self.input_layer = nn.Sequential(nn.Conv2d(3, w_in, 3, 1, 1, bias=False), BatchNorm2d(w_in), nn.PReLU(w_in))
        units, in_ch = [], w_in
        for width, n in zip(c.enc_stage_widths, c.enc_units_per_stage):
            for u in range(n):
                units.append(BottleneckIRSE(in_ch, width, 2 if u == 0 else 1, c.se_reduction))
                in_ch = width
        self.body = nn.Sequential(*units)
        ends = [sum(c.enc_units_per_stage[:i + 1]) - 1 for i in range(4)]
        # official tap indices for IR-SE-50: 2, 6, 10, 15, 20, 23
        self.tap_c128, self.tap_c1, self.tap_c3 = ends[0], ends[1], ends[3]
        if c.enc_units_per_stage[2] < 10:
            raise InputError("the third encoder stage needs at least 10 units (IR-SE-50 has 14)")
        self.tap_c21, self.tap_c22, self.tap_c2 = ends[1] + 4, ends[1] + 9, ends[2]
        S = c.style_dim
        self.styles = nn.ModuleList()
        for i in range(c.n_latent):
            spatial = 16 if i < self.COARSE else 32 if i < self.MIDDLE else 64
            self.styles.append(GradualStyleBlock(c.fpn_width, S, spatial, c.max_pooling))
        w1, w2, w3, w4 = c.enc_stage_widths
        self.latlayer1 = nn.Conv2d(w3, c.fpn_width, 1)
        self.latlayer2 = nn.Conv2d(w2, c.fpn_width, 1)
        self.featlayer = nn.Conv2d(3 * w3, c.gen_channels[4], 1)
        self.skiplayer = nn.Conv2d(3 * w3, 3, 1)
        if c.use_skip:
            self.fusion = nn.ModuleList([FusionLayer(i, o, S, c.use_skip_torgb, c.use_att)
                                         for i, o in c.fusion_channels()])

    @property
    def has_fusion(self) -> bool:
        return hasattr(self, "fusion")

    def stem(self, x):
        """Input layer, or the translation net T for non-RGB inputs."""
        if x.shape[1] != 3:
            if not hasattr(self, "input_label_layer"):
                raise InputError(f"this model takes RGB input (3 channels), got {x.shape[1]} channels")
            return self.input_label_layer(x)
        return self.input_layer(x)

    def run_body(self, x, stop: int | None = None) -> dict:
        """Run the stem and body up to unit ``stop`` (inclusive); return the taps reached."""
        taps = {"c256": self.stem(x)}
        x = taps["c256"]
        names = {self.tap_c128: "c128", self.tap_c1: "c1", self.tap_c21: "c21", self.tap_c22: "c22",
                 self.tap_c2: "c2", self.tap_c3: "c3"}
        last = len(self.body) - 1 if stop is None else stop
        for i in range(last + 1):
            x = self.body[i](x)
            if i in names:
                taps[names[i]] = x
        return taps

    def styles_from_taps(self, t: dict) -> torch.Tensor:
        """The w+ codes [B, n_latent, S] (without latent_avg) from the body taps."""
        up = lambda x, y: F.interpolate(x, size=y.shape[-2:], mode="bilinear", align_corners=True) + y  # noqa: E731
        codes = [self.styles[j](t["c3"]) for j in range(self.COARSE)]
        p2 = up(t["c3"], self.latlayer1(t["c2"]))
        codes += [self.styles[j](p2) for j in range(self.COARSE, self.MIDDLE)]
        p1 = up(p2, self.latlayer2(t["c1"]))
        codes += [self.styles[j](p1) for j in range(self.MIDDLE, len(self.styles))]
        return torch.stack(codes, 1)

    def features_from_taps(self, t: dict) -> EncoderFeatures:
        cat = torch.cat([t["c21"], t["c22"], t["c2"]], 1)
        skips = [t["c2"], t["c2"], t["c22"], t["c21"], t["c1"], t["c128"], t["c256"]]
        return EncoderFeatures(self.featlayer(cat), self.skiplayer(cat), skips)

    def codes(self, x) -> torch.Tensor:
        """w+ codes only (the aligned-face path)."""
        return self.styles_from_taps(self.run_body(x))

    def features(self, x) -> EncoderFeatures:
        """f and skip features only: the body stops at unit 20 and no style head runs (E_F)."""
        return self.features_from_taps(self.run_body(x, stop=self.tap_c2))

    def forward(self, x, return_feat=False, return_full=False):
        """Official signature: codes, or (codes, [f, rgb] (+ 7 skip features if return_full))."""
        t = self.run_body(x)
        codes = self.styles_from_taps(t)
        if not return_feat:
            return codes
        feats = self.features_from_taps(t)
        out = [feats.f, feats.rgb] + (feats.skips if return_full else [])
        return codes, out

    def get_feat(self, x):
        return self.features(x).f
