"""The released parser's weights: what ``faceparsing.pth`` holds and how it is read.

``styleganex/faces/data/faceparsing_keys.json`` lists every state-dict key and shape the file is
expected to hold (:data:`KEY_MANIFEST_PATH`). It equals :func:`state_dict_manifest`, which a test
checks; after a change to the network, write it again with
``json.dump(state_dict_manifest(), file, indent=1)`` and a final newline.

Checkpoints are untrusted: they are read with ``torch.load(..., weights_only=True)`` (or with
``safetensors``) and never unpickled otherwise; :func:`load_bisenet` names the file and what it is
when it is another checkpoint or does not match the network's keys and shapes.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor, nn

from ...base.errors import InputError
from .labels import NUM_CLASSES
from .network import BiSeNet

#: Expected state-dict keys and shapes of ``faceparsing.pth``.
KEY_MANIFEST_PATH = Path(__file__).resolve().parents[1] / "data" / "faceparsing_keys.json"

_DOWNLOAD_HINT = (
    "download faceparsing.pth from the Hugging Face repository PKUWilliamYang/StyleGANEX "
    "(folder pretrained_models/, S-Lab License 1.0, non-commercial use only)"
)


def state_dict_manifest(model: nn.Module | None = None) -> dict:
    """Key/shape manifest of a BiSeNet state dict (the content of ``faceparsing_keys.json``).

    ``num_batches_tracked`` BatchNorm counters are listed with ``"optional": true``: checkpoints saved
    by old PyTorch versions may lack them, and :func:`load_bisenet` fills them in.
    """
    if model is None:
        model = BiSeNet(NUM_CLASSES)
    keys = []
    for name, tensor in model.state_dict().items():
        entry = {"key": name, "shape": list(tensor.shape), "dtype": str(tensor.dtype).replace("torch.", "")}
        if name.endswith(".num_batches_tracked"):
            entry["optional"] = True
        keys.append(entry)
    return {
        "description": "State-dict keys and shapes of the BiSeNet face parser faceparsing.pth "
        "(StyleGANEX release, 19 classes), generated from styleganex.faces.parsing.BiSeNet",
        "num_classes": getattr(model, "n_classes", NUM_CLASSES),
        "n_keys": len(keys),
        "keys": keys,
    }


def _read_checkpoint(path: Path) -> object:
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:  # noqa: BLE001 - report any parse failure with the file name
            raise InputError(f"Face parser checkpoint {path} could not be read as safetensors "
                             f"({type(exc).__name__}: truncated or not safetensors)") from exc
    from ...base.filetypes import safe_torch_load

    try:
        return safe_torch_load(str(path), InputError)
    except InputError as exc:
        raise InputError(f"Face parser checkpoint: {exc} (expected faceparsing.pth, a plain BiSeNet "
                         "state dict)") from exc


def _describe_wrong_checkpoint(obj: object) -> str | None:
    """Name what a checkpoint is when it is clearly not the face parser."""
    if not isinstance(obj, dict):
        return f"it holds a {type(obj).__name__}, not a state dict"
    keys = [k[len("module."):] if k.startswith("module.") else k for k in obj.keys() if isinstance(k, str)]
    if "state_dict" in obj and isinstance(obj["state_dict"], dict):
        inner = [str(k) for k in obj["state_dict"].keys()]
        if any(k.startswith(("encoder.", "decoder.")) for k in inner):
            return "it is a StyleGANEX/pSp checkpoint (encoder.*/decoder.* weights)"
        return None  # a wrapped state dict; unwrapped by the caller
    if "g_ema" in obj or ("g" in obj and "d" in obj):
        return "it is a StyleGAN2 generator checkpoint (g_ema)"
    if any(k.startswith(("encoder.", "decoder.")) for k in keys):
        return "it is a StyleGANEX/pSp state dict (encoder.*/decoder.* weights)"
    if any(k.startswith(("style.", "convs.", "to_rgbs.")) for k in keys):
        return "it is a StyleGAN2 generator state dict"
    if keys and not any(k.startswith("cp.") for k in keys):
        sample = ", ".join(keys[:3])
        return f"it has no BiSeNet context-path keys (cp.*); first keys: {sample}"
    return None


def _normalise_state_dict(obj: dict) -> dict[str, Tensor]:
    if "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    out = {}
    for k, v in obj.items():
        if not isinstance(k, str) or not isinstance(v, Tensor):
            continue
        if k.startswith("module."):  # saved from (Distributed)DataParallel
            k = k[len("module."):]
        out[k] = v
    return out


def load_bisenet(path: str | os.PathLike) -> BiSeNet:
    """Read ``faceparsing.pth`` (or a ``.safetensors`` copy of it) into a :class:`BiSeNet` with strict key
    matching (on the CPU, in eval mode).

    Errors: ``FileNotFoundError`` naming the file when it is missing; ``InputError`` (a ``ValueError``)
    naming the file and what it is when it is another checkpoint (e.g. a StyleGANEX ``.pt``) or does not
    match the BiSeNet keys/shapes.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(
            f"Face parser checkpoint not found: {p}. The mask2face pipeline needs the BiSeNet "
            f"face parser: {_DOWNLOAD_HINT}, and put it in the models folder (models/styleganex)."
        )
    obj = _read_checkpoint(p)
    what = _describe_wrong_checkpoint(obj)
    if what is not None:
        raise InputError(
            f"{p} is not the BiSeNet face parser checkpoint (faceparsing.pth): {what}. {_DOWNLOAD_HINT}."
        )
    sd = _normalise_state_dict(obj)  # type: ignore[arg-type]
    model = BiSeNet(NUM_CLASSES)
    expected = model.state_dict()
    # Checkpoints written by PyTorch < 0.4.1 have no BatchNorm counters: fill them in.
    for k, v in expected.items():
        if k.endswith(".num_batches_tracked") and k not in sd:
            sd[k] = torch.zeros_like(v)
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    if missing or unexpected:
        raise InputError(
            f"{p} does not match the BiSeNet face parser (faceparsing.pth): "
            f"{len(missing)} missing key(s) {missing[:4]}, {len(unexpected)} unexpected key(s) "
            f"{unexpected[:4]}."
        )
    wrong = [
        f"{k}: {list(sd[k].shape)} != {list(v.shape)}" for k, v in expected.items() if sd[k].shape != v.shape
    ]
    if wrong:
        hint = ""
        if sd["conv_out.conv_out.weight"].shape[0] != NUM_CLASSES:
            hint = f" (the file predicts {sd['conv_out.conv_out.weight'].shape[0]} classes, expected {NUM_CLASSES})"
        raise InputError(f"{p} has BiSeNet keys with wrong shapes{hint}: {wrong[:4]}")
    sd = {k: v.to(expected[k].dtype) if v.is_floating_point() else v for k, v in sd.items()}
    model.load_state_dict(sd, strict=True)
    return model.eval()
