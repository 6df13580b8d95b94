"""Model configuration: every width and every structural option in one place.

``ModelConfig`` holds the layer widths (official values by default, reduced ones for tests) and the
structural options of the official ``opts`` dict (``input_nc``, ``use_skip``, ``skip_max_layer``, ...).
It can be built from an official ``opts`` dict, inferred from a state dict, and round-trips
through JSON (our ``.safetensors`` files store it as metadata).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from ..base.errors import InputError
from ..base.schema import as_float, as_int, as_list

RESOLUTIONS = (4, 8, 16, 32, 64, 128, 256, 512, 1024)

KINDS = ("rgb", "sr", "sketch", "mask")
"""What a model takes: ``rgb`` photos (inversion, edit, toonify), ``sr`` low-resolution faces
(super-resolution), ``sketch`` 1-channel sketches, ``mask`` one-hot parsing maps."""

KIND_FILES = {
    "rgb": "styleganex_inversion.pt (or an edit / toonify model)",
    "sr": "styleganex_sr.pt or styleganex_sr32.pt",
    "sketch": "styleganex_sketch2face.pt",
    "mask": "styleganex_mask2face.pt",
}
"""The released checkpoints of each kind, for messages."""


def model_kind(input_nc: int, opts: dict | None = None, variant: str = "") -> str:
    """The kind (one of :data:`KINDS`) of a model with ``input_nc`` input channels and these opts.

    >>> model_kind(3, {"dataset_type": "ffhq_super_resolution"})
    'sr'
    >>> model_kind(19)
    'mask'
    """
    if int(input_nc) == 1:
        return "sketch"
    if int(input_nc) != 3:
        return "mask"
    if str((opts or {}).get("dataset_type", "")) == "ffhq_super_resolution" or variant in ("sr", "sr32"):
        return "sr"
    return "rgb"
OFFICIAL_GEN_CHANNELS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64, 1024: 32}


@dataclass
class ModelConfig:
    # generator
    size: int = 1024  # output_size of the official opts; n_latent = 2*log2(size) - 2
    style_dim: int = 512
    n_mlp: int = 8
    lr_mlp: float = 0.01
    gen_channels: dict = field(default_factory=lambda: dict(OFFICIAL_GEN_CHANNELS))
    blur_kernel: tuple = (1, 3, 3, 1)
    # encoder (IR-SE-50)
    enc_stage_widths: tuple = (64, 128, 256, 512)
    enc_units_per_stage: tuple = (3, 4, 14, 3)
    enc_input_width: int = 64
    fpn_width: int = 512
    translation_net_width: int = 16
    se_reduction: int = 16
    # structure (from the official opts)
    input_nc: int = 3
    res_num: int = 2
    use_skip: bool = False
    skip_max_layer: int = 7
    use_skip_torgb: bool = False
    use_att: int = 0
    max_pooling: bool = False
    start_from_latent_avg: bool = True
    learn_in_w: bool = False

    def __post_init__(self):
        # only the resolutions the generator has (4 .. size) are kept
        self.gen_channels = {int(k): int(v) for k, v in self.gen_channels.items() if int(k) <= self.size}
        self.blur_kernel = tuple(self.blur_kernel)
        self.enc_stage_widths = tuple(self.enc_stage_widths)
        self.enc_units_per_stage = tuple(self.enc_units_per_stage)
        if self.size not in RESOLUTIONS[3:]:
            raise InputError(f"output size must be a power of two from 32 to 1024, got {self.size}")
        missing = [r for r in RESOLUTIONS if r <= self.size and r not in self.gen_channels]
        if missing:
            raise InputError(f"gen_channels lacks resolutions {missing}")

    # ---- derived quantities -------------------------------------------------------------
    @property
    def log_size(self) -> int:
        return int(math.log2(self.size))

    @property
    def n_latent(self) -> int:
        """Number of w+ rows (official ``n_styles``): 18 at 1024, 14 at 256."""
        return 2 * self.log_size - 2

    @property
    def upscale(self) -> int:
        """Output side / f side (f is the 32x32 level of the generator)."""
        return self.size // 32

    @property
    def skip_widths(self) -> list[int]:
        """Channels of the 7 encoder skip features [c2, c2, c22, c21, c1, c128, c256]."""
        w1, w2, w3, _ = self.enc_stage_widths
        return [w3, w3, w3, w3, w2, w1, self.enc_input_width]

    @property
    def n_fusion(self) -> int:
        """How many fusion layers exist (0 without ``use_skip``)."""
        return max(1, min(7, self.skip_max_layer)) if self.use_skip else 0

    def fusion_channels(self) -> list[tuple[int, int]]:
        """(encoder channels, generator channels) of each fusion layer k (before stage k)."""
        return [(self.skip_widths[k], self.gen_channels[2 ** (k + 2)]) for k in range(self.n_fusion)]

    # ---- construction --------------------------------------------------------------------
    STRUCTURAL_OPTS = ("input_nc", "res_num", "use_skip", "skip_max_layer", "use_skip_torgb",
                       "use_att", "max_pooling", "start_from_latent_avg", "learn_in_w")

    @classmethod
    def from_opts(cls, opts: dict, widths: dict | None = None) -> "ModelConfig":
        """Official opts dict (+ optional width overrides such as the fixtures' reduced_config).
        The opts are checked first (:func:`check_opts`)."""
        opts = check_opts(opts)
        kw = {}
        if opts.get("output_size") is not None:
            kw["size"] = opts["output_size"]
        for name in cls.STRUCTURAL_OPTS:
            if name in opts and opts[name] is not None:
                kw[name] = type(getattr(cls(), name))(opts[name])
        if opts.get("encoder_type", "GradualStyleEncoder") != "GradualStyleEncoder":
            raise InputError(f"unsupported encoder_type {opts.get('encoder_type')!r}: "
                             "StyleGANEX checkpoints use GradualStyleEncoder")
        kw.update(widths_from_reduced_config(widths) if widths else {})
        return cls(**kw)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["gen_channels"] = {str(k): v for k, v in self.gen_channels.items()}
        d["blur_kernel"] = list(self.blur_kernel)
        d["enc_stage_widths"] = list(self.enc_stage_widths)
        d["enc_units_per_stage"] = list(self.enc_units_per_stage)
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = "model config") -> "ModelConfig":
        """Read :meth:`to_dict`'s layout (e.g. from a ``.safetensors`` file's metadata), every field checked
        for type and range; fields left out take their defaults. Raises ``InputError`` naming the field."""
        if not isinstance(d, dict):
            raise InputError(f"{where} must be a JSON object, found {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise InputError(f"{where}: unknown config fields {sorted(map(str, unknown))[:8]}")
        return cls(**{name: _config_field(name, value, where) for name, value in d.items()})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


MAX_WIDTH = 4096
"""Largest channel count a config or checkpoint may describe (the released models use at most 512)."""
_INT_FIELDS = {"size": (32, 1024), "style_dim": (1, MAX_WIDTH), "n_mlp": (1, 16), "enc_input_width": (1, MAX_WIDTH),
               "fpn_width": (1, MAX_WIDTH), "translation_net_width": (1, MAX_WIDTH), "se_reduction": (1, MAX_WIDTH),
               "input_nc": (1, 64), "res_num": (0, 16), "skip_max_layer": (0, 16), "use_att": (0, 8)}
_BOOL_FIELDS = ("use_skip", "use_skip_torgb", "max_pooling", "start_from_latent_avg", "learn_in_w")
_INT_LIST_FIELDS = {"enc_stage_widths": (4, 1, MAX_WIDTH), "enc_units_per_stage": (4, 1, 64)}


def _as_bool(value, name: str, where: str, ints: bool = False) -> bool:
    if isinstance(value, bool) or (ints and isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise InputError(f"{where}: field '{name}' must be true or false, found {value!r:.40}")


def _config_field(name: str, value, where: str):
    """One :class:`ModelConfig` field read from a file, checked."""
    if name in _INT_FIELDS:
        return as_int(value, name, where, *_INT_FIELDS[name])
    if name in _BOOL_FIELDS:
        return _as_bool(value, name, where)
    if name in _INT_LIST_FIELDS:
        length, low, high = _INT_LIST_FIELDS[name]
        return tuple(as_int(v, f"{name}[{i}]", where, low, high)
                     for i, v in enumerate(as_list(value, name, where, length)))
    if name == "lr_mlp":
        return as_float(value, name, where, 0.0, 10.0, low_open=True)
    if name == "blur_kernel":
        values = as_list(value, name, where, max_length=8)
        if not values:
            raise InputError(f"{where}: field 'blur_kernel' is empty")
        return tuple(as_float(v, f"blur_kernel[{i}]", where, 0.0, 1000.0) for i, v in enumerate(values))
    if name == "gen_channels":
        if not isinstance(value, dict) or len(value) > len(RESOLUTIONS):
            raise InputError(f"{where}: field 'gen_channels' must be an object {{resolution: channels}} with at most "
                             f"{len(RESOLUTIONS)} entries, found {value!r:.40}")
        out = {}
        for key, channels in value.items():
            res = as_int(int(key) if isinstance(key, str) and key.isdigit() else key, "gen_channels key", where)
            if res not in RESOLUTIONS:
                raise InputError(f"{where}: gen_channels has the resolution {res}, not one of {list(RESOLUTIONS)}")
            out[res] = as_int(channels, f"gen_channels[{res}]", where, 1, MAX_WIDTH)
        return out
    raise InputError(f"{where}: unknown field {name!r}")  # pragma: no cover - from_dict checks names


_OPT_INTS = {"output_size": (32, 1024), "input_nc": (1, 64), "label_nc": (0, 64), "res_num": (0, 16),
             "skip_max_layer": (0, 16), "use_att": (0, 8)}
_OPT_BOOLS = ("use_skip", "use_skip_torgb", "max_pooling", "start_from_latent_avg", "learn_in_w", "use_latent_mask")
_OPT_INT_LISTS = ("resize_factors", "latent_mask")
_OPT_STRINGS = ("encoder_type", "dataset_type")


def check_opts(opts, where: str = "opts") -> dict:
    """The official ``opts`` dict with every field this package reads checked for type and range (other
    fields are kept as they are): sizes and counts are whole numbers in range, switches true/false (or
    0/1), ``resize_factors`` / ``latent_mask`` comma-separated whole numbers. Returns a copy with the
    numbers as ints; ``InputError`` naming the field otherwise.

    >>> check_opts({"output_size": 1024, "latent_mask": "8,9"})["output_size"]
    1024
    >>> check_opts({"output_size": "big"})
    Traceback (most recent call last):
    ...
    styleganex.base.errors.InputError: opts: field 'output_size' must be a whole number, found 'big'
    """
    if not isinstance(opts, dict):
        raise InputError(f"{where} must be a dict of training options, found {type(opts).__name__}")
    out = dict(opts)
    for name, value in opts.items():
        if value is None:
            continue
        if name in _OPT_INTS:
            out[name] = as_int(value, name, where, *_OPT_INTS[name])
        elif name in _OPT_BOOLS:
            out[name] = _as_bool(value, name, where, ints=True)
        elif name in _OPT_STRINGS and not isinstance(value, str):
            raise InputError(f"{where}: field '{name}' must be a string, found {value!r:.40}")
        elif name in _OPT_INT_LISTS:
            parts = value.replace(" ", "").split(",") if isinstance(value, str) else (
                [value] if isinstance(value, int) else value)
            items = as_list(parts, name, where, max_length=64)
            for i, v in enumerate(items):
                if isinstance(v, str) and v.isdigit():
                    v = int(v)
                if v != "":
                    as_int(v, f"{name}[{i}]", where, 0, 1024)
    if "output_size" in out and out["output_size"] is not None and out["output_size"] not in RESOLUTIONS[3:]:
        raise InputError(f"{where}: field 'output_size' is {out['output_size']}, not a power of two from 32 to 1024")
    return out


def widths_from_reduced_config(rc: dict) -> dict:
    """Map the fixtures' ``reduced_config`` names onto ModelConfig fields (unknown names ignored)."""
    out = {}
    simple = {"style_dim": "style_dim", "enc_stage_widths": "enc_stage_widths",
              "enc_units_per_stage": "enc_units_per_stage", "enc_input_width": "enc_input_width",
              "fpn_width": "fpn_width", "translation_net_width": "translation_net_width",
              "se_reduction": "se_reduction", "n_mlp": "n_mlp", "lr_mlp": "lr_mlp",
              "blur_kernel": "blur_kernel", "gen_channels": "gen_channels"}
    for src, dst in simple.items():
        if src in rc:
            out[dst] = rc[src]
    return out


def infer_widths(state_dict: dict) -> dict:
    """Read the layer widths off a StyleGANEX state dict (keys ``encoder.*`` / ``decoder.*``).

    Lets a checkpoint of any width load without a separate config.
    """
    sd = state_dict
    w = {}
    w["style_dim"] = sd["decoder.style.1.weight"].shape[1]
    w["n_mlp"] = sum(1 for k in sd if k.startswith("decoder.style.") and k.endswith(".weight"))
    ch = {4: sd["decoder.conv1.conv.weight"].shape[1]}
    k = 0
    while f"decoder.convs.{2 * k}.conv.weight" in sd:
        ch[2 ** (k + 3)] = sd[f"decoder.convs.{2 * k}.conv.weight"].shape[1]
        k += 1
    w["gen_channels"] = ch
    if "encoder.input_layer.0.weight" in sd:
        w["enc_input_width"] = sd["encoder.input_layer.0.weight"].shape[0]
        units, widths, i, stage_w = [], [], 0, None
        while f"encoder.body.{i}.res_layer.1.weight" in sd:
            depth = sd[f"encoder.body.{i}.res_layer.1.weight"].shape[0]
            stride_start = f"encoder.body.{i}.shortcut_layer.0.weight" in sd or i == 0 or depth != stage_w
            if stride_start and depth != stage_w:
                widths.append(depth)
                units.append(0)
                stage_w = depth
            units[-1] += 1
            i += 1
        w["enc_stage_widths"] = tuple(widths)
        w["enc_units_per_stage"] = tuple(units)
        w["fpn_width"] = sd["encoder.latlayer1.weight"].shape[0]
        se = sd.get("encoder.body.0.res_layer.5.fc1.weight")
        if se is not None:
            w["se_reduction"] = max(1, widths[0] // se.shape[0])
        if "encoder.input_label_layer.model.0.weight" in sd:
            w["translation_net_width"] = sd["encoder.input_label_layer.model.0.weight"].shape[0]
    return w
