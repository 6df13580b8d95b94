"""Reading and writing checkpoints safely.

Accepted files:
* official ``styleganex_*.pt``: ``{"state_dict": {"encoder.*", "decoder.*"}, "opts": dict,
  "latent_avg": [n_latent, 512], optional "editing_w": [K, n_latent, 512], optional "discriminator"}``;
* our ``.safetensors``: the same tensors (``latent_avg``, ``editing_w`` as tensors) with the opts,
  config and variant in the metadata;
* plain StyleGAN2 (rosinality) ``{"g_ema": ..., "latent_avg": ...}``: a generator alone
  (toonify / StyleGAN-NADA domain transfer).

Checkpoints are untrusted input. ``.pt`` files are read with ``torch.load(weights_only=True)`` only,
so pickled code never runs; anything else gets a :class:`CheckpointError` saying what the file is.
Every tensor is checked before anything is loaded: keys, shapes, dtypes (float16 / bfloat16 / float64
weights are converted to the requested dtype; integer or bool weights are refused; a float or int32
BatchNorm ``num_batches_tracked`` becomes int64) and values (NaN or infinite ones are refused).
A model is either loaded completely or not at all.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..base.catalogue import LICENSE_NOTE, WEIGHTS_URL
from ..base.errors import CheckpointError, InputError, OutputPathError
from ..base.filetypes import describe_bytes, safe_torch_load, sniff, zip_names
from ..base.outputs import check_not_inputs, write_all
from ..base.schema import parse_json
from .config import ModelConfig, check_opts, infer_widths, model_kind
from .generator import Generator
from .network import StyleGANEX
from .ops import binomial3x3, make_kernel

FORMAT = "styleganex"
FORMAT_VERSION = "1"


# ---- raw reading ---------------------------------------------------------------------------
def _sniff(path: Path) -> str:
    kind, head = sniff(path)
    if kind == "empty":
        raise CheckpointError(f"{path} is an empty file, not a checkpoint")
    if kind in ("zip", "safetensors", "pickle"):
        return kind
    raise CheckpointError(f"{path} is not a checkpoint: it is neither a PyTorch .pt file nor "
                          f".safetensors ({describe_bytes(path, head)})")


def read_file(path) -> tuple[dict, dict]:
    """Load a checkpoint file into (contents, safetensors metadata). Never runs pickled code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    kind = _sniff(path)
    if kind == "safetensors":
        try:
            from safetensors import safe_open
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
            return load_file(str(path)), meta
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{path} looks like .safetensors but cannot be read "
                                  f"(truncated or corrupt: {type(e).__name__})") from e
    if kind == "zip":
        names = zip_names(path)
        if names is None:
            raise CheckpointError(f"{path} is a truncated or corrupt zip/PyTorch file")
        if not any(n.endswith("data.pkl") for n in names):
            raise CheckpointError(f"{path} is a zip archive but not a PyTorch checkpoint (it holds {len(names)} "
                                  f"files and no data.pkl)")
    obj = safe_torch_load(path, CheckpointError)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a checkpoint dict")
    return obj, {}


_VARIANT = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def read_metadata(meta: dict, path) -> tuple[dict, ModelConfig | None, str | None]:
    """(opts, config or None, variant or None) of one of our ``.safetensors`` checkpoints, every field checked:
    ``opts`` a JSON object (:func:`config.check_opts`), ``config`` a JSON :meth:`ModelConfig.to_dict` (absent:
    None, the widths are then read off the tensors), ``variant`` a short name. CheckpointError naming the file
    and the field otherwise."""
    try:
        opts = check_opts(parse_json(meta["opts"], "the 'opts' metadata") if meta.get("opts") else {},
                          "the 'opts' metadata")
        config = None
        if meta.get("config"):
            config = ModelConfig.from_dict(parse_json(meta["config"], "the 'config' metadata"),
                                           "the 'config' metadata")
        variant = meta.get("variant") or None
        if variant is not None and not _VARIANT.fullmatch(variant):
            raise InputError(f"the 'variant' metadata must be a short name (letters, digits, _ . -), found "
                             f"{len(variant)} characters")
    except InputError as e:
        raise CheckpointError(f"{path}: {e}") from None
    return opts, config, variant


def classify(obj: dict, meta: dict) -> str:
    """'styleganex', 'styleganex_tensors' (safetensors without our metadata), 'stylegan2' or raise."""
    if meta.get("format") == FORMAT:
        return "styleganex"
    inner = obj.get("state_dict")
    sd = inner if isinstance(inner, dict) else obj
    keys = [k for k in sd if isinstance(k, str)]
    if any(k.startswith("encoder.") for k in keys) and any(k.startswith("decoder.") for k in keys):
        return "styleganex" if "state_dict" in obj else "styleganex_tensors"
    if isinstance(obj.get("g_ema"), dict):
        return "stylegan2"
    shown = sorted(map(str, obj))[:8]
    raise CheckpointError(f"not a StyleGANEX or StyleGAN2 checkpoint: expected 'state_dict' with "
                          f"encoder./decoder. keys or 'g_ema'; found top-level keys {shown}")


# ---- state-dict checks ---------------------------------------------------------------------
_FIXED_BUFFER = re.compile(r"(\.kernel|\.blur_weight)$")
_NOISE = re.compile(r"(^|\.)noises\.noise_\d+$")


def _default_buffer(key: str, like: torch.Tensor, blur_kernel) -> torch.Tensor:
    if key.endswith("blur_weight"):
        return binomial3x3()
    if key.endswith(".kernel"):
        return make_kernel(blur_kernel) * 4
    return torch.zeros(like.shape)  # noise buffers


def _finite(t: torch.Tensor) -> bool:
    """No NaN / inf in ``t``. The sum (one pass, no allocation: 0.1 s for the 300M values of a
    released model) is finite unless a value is not; only then is every value checked (a sum can
    also overflow)."""
    return bool(torch.isfinite(t.sum())) or bool(torch.isfinite(t).all())


def load_weights(module: torch.nn.Module, state_dict: dict, what: str, ignorable=()) -> list[str]:
    """Copy ``state_dict`` into ``module`` with every key and shape checked.

    Missing noise buffers and fixed blur kernels are filled with their defaults (noise: zeros);
    keys matching ``ignorable`` regexes are skipped (the official loader ignores them too);
    anything else missing or unexpected, a wrong shape or dtype, or a NaN / infinite value raises
    CheckpointError and nothing is loaded. Dtypes: floating-point tensors of any precision
    (float16, bfloat16, float64) are taken as they are (``load_model`` then converts the whole model
    to its ``dtype``); integer tensors (or ``bool``) where the model has floating-point ones are
    refused; BatchNorm's ``num_batches_tracked`` counter (int64, unused in eval mode) is also
    accepted as any integer type or as a whole-valued float and converted to int64.
    Returns the warnings issued.
    """
    own = module.state_dict()
    notes, missing, unexpected, wrong, not_finite = [], [], [], [], []
    for k in state_dict:
        if k not in own:
            if any(re.search(p, k) for p in ignorable):
                continue
            unexpected.append(k)
    for k, ref in own.items():
        v = state_dict.get(k)
        if v is None:
            if _NOISE.search(k) or _FIXED_BUFFER.search(k):
                blur_kernel = getattr(getattr(module, "config", None), "blur_kernel", (1, 3, 3, 1))
                state_dict[k] = _default_buffer(k, ref, blur_kernel)
                if _NOISE.search(k):
                    notes.append(k)
                continue
            missing.append(k)
        elif not isinstance(v, torch.Tensor) or tuple(v.shape) != tuple(ref.shape):
            wrong.append(f"{k}: file {tuple(getattr(v, 'shape', ()))} vs model {tuple(ref.shape)}")
        elif k.endswith("num_batches_tracked") and not ref.is_floating_point():
            if v.dtype == torch.bool or (v.is_floating_point() and not bool((v == v.round()).all())):
                wrong.append(f"{k}: dtype {v.dtype} with values {v.flatten()[:3].tolist()}, expected a whole "
                             f"number ({ref.dtype})")
            elif v.dtype != ref.dtype:
                state_dict[k] = v.to(ref.dtype)
        elif v.is_floating_point() != ref.is_floating_point() or v.dtype == torch.bool:
            wrong.append(f"{k}: dtype {v.dtype}, expected {ref.dtype}")
        elif v.is_floating_point() and not _finite(v):
            not_finite.append(k)
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (e.g. {missing[:5]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[:5]})")
    if wrong:
        problems.append(f"{len(wrong)} tensors of the wrong shape/dtype (e.g. {wrong[:3]})")
    if not_finite:
        problems.append(f"{len(not_finite)} tensors with NaN or infinite values (e.g. {not_finite[:3]}): "
                        f"the file is corrupt or was saved from a diverged training run")
    if problems:
        why = "does not match the model its opts describe" if (missing or unexpected or wrong) else "is unusable"
        raise CheckpointError(f"{what} {why}: " + "; ".join(problems) + ". Nothing was loaded.")
    module.load_state_dict({k: state_dict[k] for k in own}, strict=True, assign=True)
    if notes:
        msg = (f"{what}: {len(notes)} stored noise buffers are absent; they were set to zeros, so "
               f"noise='stored' equals noise='zero'")
        warnings.warn(msg, stacklevel=3)
        return [msg]
    return []


# ---- variants ------------------------------------------------------------------------------
def variant_name(opts: dict, has_editing_w: bool, filename: str = "") -> str:
    """Name the released model a checkpoint is: inversion, sr, sr32, sketch2face, mask2face,
    edit_age, edit_hair, edit, toonify_<style>, toonify, or custom.

    The name comes from the opts (and editing_w); a released file name (``styleganex_edit_age.pt``)
    only refines it (edit -> edit_age, toonify -> toonify_pixar) and is ignored where it contradicts
    the opts, so a renamed file is still recognised as what it is (an inversion model saved as
    ``styleganex_sr.pt`` stays "inversion" and is refused by ``super_resolve``)."""
    derived = _variant_from_opts(opts, has_editing_w)
    m = re.search(r"styleganex_([a-z0-9_]+?)(?:\.pt|\.safetensors)?$", os.path.basename(filename))
    known = ("inversion", "sr32", "sr", "sketch2face", "mask2face", "edit_age", "edit_hair",
             "toonify_cartoon", "toonify_arcane", "toonify_pixar")
    if m and m.group(1) in known:
        name = m.group(1)
        if name == derived or derived == "custom" or name.startswith(derived + "_"):
            return name
    return derived


def _variant_from_opts(opts: dict, has_editing_w: bool) -> str:
    kind = model_kind(int(opts.get("input_nc", 3)), opts)
    if kind == "sketch":
        return "sketch2face"
    if kind == "mask":
        return "mask2face"
    if has_editing_w or int(opts.get("use_att", 0)):
        return "edit"
    if str(opts.get("dataset_type", "")) == "toonify":
        return "toonify"
    if kind == "sr":
        return "sr32" if str(opts.get("resize_factors", "")) == "8" else "sr"
    if not opts.get("use_skip", False):
        return "inversion"
    return "custom"


def _split_state(obj: dict, what="checkpoint") -> tuple[dict, torch.Tensor | None, torch.Tensor | None]:
    sd = obj["state_dict"] if "state_dict" in obj else {k: v for k, v in obj.items()
                                                       if isinstance(k, str) and k.startswith(("encoder.", "decoder."))}
    if not isinstance(sd, dict) or not all(isinstance(k, str) for k in sd):
        raise CheckpointError(f"{what}: 'state_dict' must be a dict of named tensors")
    extra = {name: obj.get(name) for name in ("latent_avg", "editing_w")}
    for name, value in extra.items():
        if value is not None and not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{what}: '{name}' must be a tensor, found {type(value).__name__}")
    return dict(sd), extra["latent_avg"], extra["editing_w"]


def config_from_tensors(state_dict: dict, opts: dict, what: str = "checkpoint") -> ModelConfig:
    """The :class:`ModelConfig` of a state dict: widths read off its tensors, structure from ``opts``."""
    try:
        widths = infer_widths(state_dict)
    except KeyError as e:
        raise CheckpointError(f"{what} lacks the key {e} every StyleGANEX checkpoint has") from e
    except (AttributeError, IndexError, TypeError) as e:
        raise CheckpointError(f"{what}: its tensors do not have the shapes of a StyleGANEX model") from e
    try:
        return ModelConfig.from_opts(opts, widths)
    except InputError as e:
        raise CheckpointError(f"{what}: {e}") from None


def build_model(state_dict: dict, opts: dict, latent_avg=None, editing_w=None, config=None,
                variant: str = "custom", what: str = "checkpoint") -> StyleGANEX:
    """Build a StyleGANEX of the structure ``opts`` describe (widths inferred from the tensors
    unless ``config`` is given) and load the weights with every key checked."""
    if config is None:
        config = config_from_tensors(state_dict, opts, what)
    with torch.device("meta"):
        model = StyleGANEX(config, opts, variant)
    ignorable = [r"^encoder\.fusion\.\d+\.fusion_skip\."] if not config.use_skip_torgb else []
    load_weights(model, {**state_dict, "latent_avg": _latent_avg(latent_avg, config, what)}, what, ignorable)
    if editing_w is not None:
        if editing_w.ndim != 3 or tuple(editing_w.shape[1:]) != (config.n_latent, config.style_dim):
            raise CheckpointError(f"{what}: editing_w has shape {tuple(editing_w.shape)}, expected "
                                  f"[K, {config.n_latent}, {config.style_dim}]")
        if not editing_w.is_floating_point() or not bool(torch.isfinite(editing_w).all()):
            raise CheckpointError(f"{what}: editing_w must hold finite floating-point values "
                                  f"(dtype {editing_w.dtype}). Nothing was loaded.")
        model.editing_w = editing_w.float()
    return model.eval().requires_grad_(False)


def _latent_avg(latent_avg, config: ModelConfig, what: str) -> torch.Tensor:
    want = (config.n_latent, config.style_dim)
    if latent_avg is None:
        if config.start_from_latent_avg:
            raise CheckpointError(f"{what} has no latent_avg, which its opts (start_from_latent_avg) need")
        return torch.zeros(want)
    la = latent_avg.float()
    if la.ndim == 1 or la.shape[0] == 1:
        la = la.reshape(1, -1).expand(want[0], -1)
    if tuple(la.shape) != want:
        raise CheckpointError(f"{what}: latent_avg has shape {tuple(latent_avg.shape)}, expected {want}")
    return la.contiguous()


# ---- public API ----------------------------------------------------------------------------
def checkpoint_settings(obj: dict, meta: dict, path, opts: dict | None = None) -> tuple:
    """(state dict, latent_avg, editing_w, opts, config or None, variant) of a StyleGANEX checkpoint's
    contents (from :func:`read_file`), every field checked; the config is None where it must be read off
    the tensors (:func:`config_from_tensors`). ``opts``: used when an official file has none."""
    path = Path(path)
    sd, latent_avg, editing_w = _split_state(obj, str(path))
    config = None
    if meta.get("format") == FORMAT:
        opts, config, variant = read_metadata(meta, path)
        variant = variant or variant_name(opts, editing_w is not None, path.name)
    else:
        opts = obj.get("opts", opts)
        if not isinstance(opts, dict):
            raise CheckpointError(f"{path} has no opts dict (found {type(opts).__name__}); a "
                                  "StyleGANEX checkpoint stores its training options under 'opts'")
        try:
            opts = check_opts(opts, "its 'opts'")
        except InputError as e:
            raise CheckpointError(f"{path}: {e}") from None
        variant = variant_name(opts, editing_w is not None, path.name)
    return sd, latent_avg, editing_w, opts, config, variant


def load_model(path, device="cpu", dtype=torch.float32, opts: dict | None = None) -> StyleGANEX:
    """Load an official ``styleganex_*.pt`` or our ``.safetensors`` into a ready (eval) model."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(missing_weights_message(path))
    obj, meta = read_file(path)
    kind = classify(obj, meta)
    if kind == "stylegan2":
        raise CheckpointError(f"{path} is a plain StyleGAN2 generator checkpoint (g_ema), not a "
                              f"StyleGANEX model (encoder + decoder). Use it as the generator of an "
                              f"existing model: styleganex.load_generator / model.swap_generator.")
    sd, latent_avg, editing_w, opts, config, variant = checkpoint_settings(obj, meta, path, opts)
    model = build_model(sd, opts, latent_avg, editing_w, config, variant, what=str(path))
    model.source = str(path)
    if model.editing_w is not None:
        model.editing_w = model.editing_w.to(device, dtype)
    return model.to(device=device, dtype=dtype)


def save_safetensors(model: StyleGANEX, path) -> None:
    """Write a model to ``.safetensors`` (official key names; opts/config/variant as metadata).
    Written to a temporary file first, so an interrupted save leaves no half file. ``path`` must end in
    ``.safetensors`` (the bytes are safetensors whatever the name; OutputPathError otherwise)."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise OutputPathError(f"{path}: models are saved as .safetensors; give a name ending in .safetensors")
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    if model.editing_w is not None:
        tensors["editing_w"] = model.editing_w.detach().cpu().float().contiguous()
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "variant": model.variant,
            "opts": json.dumps(model.opts, default=str), "config": model.config.to_json(),
            "license": LICENSE_NOTE}
    write_all([(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))])


def convert(src, dst, overwrite: bool = False) -> StyleGANEX:
    """Official ``.pt`` -> ``.safetensors`` (loads with every check, then saves). ``dst`` naming ``src``
    itself is refused unless ``overwrite`` (then ``src`` is replaced only by the complete new file)."""
    if Path(dst).suffix.lower() != ".safetensors":
        raise OutputPathError(f"{dst}: models are saved as .safetensors; give a name ending in .safetensors")
    check_not_inputs([dst], [src], overwrite)
    model = load_model(src)
    save_safetensors(model, dst)
    return model


def load_generator(path, config: ModelConfig | None = None) -> tuple[Generator, torch.Tensor | None]:
    """Load a plain rosinality StyleGAN2 checkpoint (``g_ema`` + ``latent_avg``) into a StyleGANEX
    generator. Returns (generator, latent_avg or None)."""
    obj, meta = read_file(path)
    kind = classify(obj, meta)
    if kind == "stylegan2":
        sd = dict(obj["g_ema"])
        if not all(isinstance(k, str) for k in sd):
            raise CheckpointError(f"{path}: 'g_ema' must be a dict of named tensors")
    elif kind in ("styleganex", "styleganex_tensors"):
        full, _, _ = _split_state(obj, str(path))
        sd = {k[len("decoder."):]: v for k, v in full.items() if k.startswith("decoder.")}
    else:  # pragma: no cover - classify raises
        raise CheckpointError(f"{path}: unsupported checkpoint")
    if config is None:
        size = 2 ** (sum(1 for k in sd if re.fullmatch(r"to_rgbs\.\d+\.bias", k)) + 2)
        try:
            widths = infer_widths({f"decoder.{k}": v for k, v in sd.items()})
            config = ModelConfig(size=size, **{k: v for k, v in widths.items()})
        except KeyError as e:
            raise CheckpointError(f"{path} lacks the key {e} every StyleGAN2 generator has") from e
        except (AttributeError, IndexError, TypeError, InputError) as e:
            raise CheckpointError(f"{path} does not hold a StyleGAN2 generator of a size this package builds "
                                  f"(output size {size}): {e}") from e
    with torch.device("meta"):
        gen = Generator(config)
    load_weights(gen, sd, f"{path} (generator)")
    la = obj.get("latent_avg")
    if la is not None and (not isinstance(la, torch.Tensor) or not la.is_floating_point()
                           or not bool(torch.isfinite(la).all())):
        raise CheckpointError(f"{path}: 'latent_avg' must be a tensor of finite floating-point values")
    return gen.eval().requires_grad_(False), la


def missing_weights_message(path) -> str:
    path = Path(path)
    return (f"model file not found: {path}\n"
            f"Download {path.name} from {WEIGHTS_URL} ({LICENSE_NOTE}) and put it in "
            f"{path.parent if str(path.parent) not in ('', '.') else 'the models folder'} "
            f"(see README: models folder).")


def describe_checkpoint(path) -> dict:
    """A summary of a checkpoint file (what ``python -m styleganex info`` prints): its kind, variant,
    sizes, key groups and extra entries, read with every check of :func:`read_file`."""
    from collections import Counter

    obj, meta = read_file(path)
    kind = classify(obj, meta)
    if kind == "stylegan2":
        sd = obj["g_ema"]
        return {"file": str(path), "kind": "StyleGAN2 generator (rosinality g_ema)", "tensors": len(sd),
                "parameters": int(sum(v.numel() for v in sd.values() if hasattr(v, "numel"))),
                "has_latent_avg": "latent_avg" in obj}
    sd, latent_avg, editing_w, opts, config, variant = checkpoint_settings(obj, meta, path, {})
    config = config or config_from_tensors(sd, opts, str(path))
    groups = Counter(".".join(k.split(".")[:2]) for k in sd)
    return {
        "file": str(path),
        "kind": "StyleGANEX" + (" (safetensors)" if meta else " (official .pt)"),
        "variant": variant,
        "output_size": config.size, "n_latent": config.n_latent, "style_dim": config.style_dim,
        "input_nc": config.input_nc, "fusion_layers": config.n_fusion, "attention": config.use_att,
        "editing_w": None if editing_w is None else list(editing_w.shape),
        "latent_avg": None if latent_avg is None else list(latent_avg.shape),
        "tensors": len(sd), "parameters": int(sum(v.numel() for v in sd.values() if hasattr(v, "numel"))),
        "key_groups": dict(sorted(groups.items())),
        "extra_entries": sorted(str(k) for k in obj if k not in ("state_dict", "opts", "latent_avg", "editing_w")
                                and not str(k).startswith(("encoder.", "decoder."))),
    }
