"""Saving and loading latents (w+, f, noise maps, skips, crop info).

Our format is ``.safetensors`` with the tensors

    wplus [B, n_latent, S]    f [B, C, h, w]    noise.0 .. noise.N-1 [B, 1, hi, wi] (optional)
    skips.0 .. skips.K-1 (optional: encoder skip features of translation / video models)

and the metadata ``format = "styleganex-latent"``, ``version``, ``crop`` (the crop info as JSON, for
pasting back into the full frame; empty when there is none), ``size_record`` (JSON: how the frames were
padded to multiples of 8) and ``meta`` (JSON: e.g. the inversion settings). Every JSON field is checked
when read. Files are written to a temporary file beside the target and renamed, so an interrupted save
never leaves a half-written latent.

The crop info (:class:`~styleganex.faces.CropInfo`) <-> JSON conversion lives here
(:func:`crop_info_to_dict`, :func:`crop_info_from_dict`)::

    {"version": 2, "records": [<CropRecord.to_dict()>, ...], "padding": [l, r, t, b], "mode": "each image",
     "landmarks": [[[x, y] x 68], ...], "landmarks_of": [0, 0, -1, ...]}

Several faces of one photo (crops that do not map one to one onto the frames) or crops padded to one
canvas are version 3 (``"frame_index"``, ``"n_frames"``, ``"canvas"`` added); a single face per frame
still writes version 2. Two older layouts are still read: a single crop record (what ``invert`` wrote
before version 2) and ``{"records", "padding": <int>, "mode"}`` (what the nodes wrote; their padding
record sat in ``meta``).

``load_official_inversion`` reads the official ``inversion.py`` output, a ``.pt`` holding
``{'wplus': [1, 18, 512], 'f': [f, rgb] or f}`` (optionally ``'noise'``), with
``torch.load(weights_only=True)`` so no pickled code runs. ``load_latent`` reads either format.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..base.errors import InputError, LatentFileError
from ..base.filetypes import describe_bytes, safe_torch_load, sniff
from ..base.outputs import write_all
from ..base.schema import MAX_SIDE, as_float, as_int, as_list, parse_json, read_str
from ..faces.crop_info import BATCH_MODES, CropInfo, read_padding
from ..faces.crop_record import DEFAULT_PADDING, CropRecord
from ..faces.face import Face
from ..model.latent import Latent
from ..model.padding import SizeRecord

FORMAT = "styleganex-latent"
VERSION = "2"
LATENT_EXTENSIONS = (".safetensors", ".pt")
"""Latent files: ours (``.safetensors``) and the release's inversion results (``.pt``)."""
CROP_VERSION = 3
"""The newest crop info layout (:func:`crop_info_to_dict`); files of versions 1..3 are read."""
MAX_BATCH = 100_000

__all__ = ["LatentFileError", "crop_info_from_dict", "crop_info_to_dict", "load_latent", "load_official_inversion",
           "save_latent"]


def _tensor(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu", torch.float32).contiguous().clone()


def save_latent(latent: Latent, path) -> Path:
    """Write ``latent`` to ``path`` (``.safetensors``), atomically. Returns the path."""
    from safetensors.torch import save_file

    if not isinstance(latent, Latent):
        raise TypeError(f"save_latent takes a styleganex.Latent, got {type(latent).__name__}")
    _check_values(latent, "latent to save")
    path = Path(path)
    tensors = {"wplus": _tensor(latent.wplus), "f": _tensor(latent.f)}
    for name, maps in (("noise", latent.noise), ("skips", latent.skips)):
        for i, t in enumerate(maps or []):
            tensors[f"{name}.{i}"] = _tensor(t)
    crop = "" if latent.crop is None else json.dumps(crop_info_to_dict(latent.crop))
    size_record = "" if latent.size_record is None else json.dumps(latent.size_record.to_dict())
    meta = {"format": FORMAT, "version": VERSION, "crop": crop, "size_record": size_record,
            "meta": json.dumps(latent.meta or {}, default=str),
            "n_latent": str(latent.wplus.shape[1]), "style_dim": str(latent.wplus.shape[2])}
    write_all([(path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))])
    return path


def _indexed(tensors: dict, name: str, path) -> list | None:
    keys = [k for k in tensors if k.startswith(name + ".")]
    if not keys:
        return None
    try:
        idx = sorted(int(k.split(".", 1)[1]) for k in keys)
    except ValueError as e:
        raise LatentFileError(f"{path}: unexpected tensor names {sorted(keys)[:4]}") from e
    if idx != list(range(len(idx))):
        raise LatentFileError(f"{path}: the {name} maps are not numbered 0..{len(idx) - 1} (found {idx})")
    return [tensors[f"{name}.{i}"] for i in idx]


def _check_values(latent: Latent, what) -> None:
    named = [("wplus", latent.wplus), ("f", latent.f)]
    named += [(f"noise map {i}", t) for i, t in enumerate(latent.noise or [])]
    named += [(f"skip feature {i}", t) for i, t in enumerate(latent.skips or [])]
    for name, t in named:
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise LatentFileError(f"{what}: {name} is not a float tensor")
        if not torch.isfinite(t).all():
            raise LatentFileError(f"{what}: {name} contains NaN or infinite values")
    for i, n in enumerate(latent.noise or []):
        if n.ndim != 4 or n.shape[1] != 1 or n.shape[0] not in (1, latent.batch):
            raise LatentFileError(f"{what}: noise map {i} has shape {tuple(n.shape)}, expected "
                                  f"[{latent.batch}, 1, h, w]")
    for i, s in enumerate(latent.skips or []):
        if s.ndim != 4 or s.shape[0] != latent.batch:
            raise LatentFileError(f"{what}: skip feature {i} has shape {tuple(s.shape)}, expected "
                                  f"[{latent.batch}, C, h, w]")


def _make_latent(wplus, f, noise, skips, crop, meta, what, size_record=None) -> Latent:
    if not isinstance(wplus, torch.Tensor) or not isinstance(f, torch.Tensor):
        raise LatentFileError(f"{what}: 'wplus' and 'f' must be tensors")
    if wplus.ndim == 2:
        wplus = wplus.unsqueeze(0)
    if f.ndim == 3:
        f = f.unsqueeze(0)
    try:
        latent = Latent(wplus=wplus.float(), f=f.float(), skips=skips, noise=noise, crop=crop, meta=meta,
                        size_record=size_record)
    except ValueError as e:
        raise LatentFileError(f"{what}: {e}") from e
    _check_values(latent, what)
    return latent


def _sniff(path: Path) -> str:
    kind, head = sniff(path)
    if kind == "empty":
        raise LatentFileError(f"{path} is an empty file, not a latent")
    if kind == "safetensors":
        return kind
    if kind in ("zip", "pickle"):
        return "pt"
    raise LatentFileError(f"{path} is not a latent: neither .safetensors nor a PyTorch .pt file "
                          f"({describe_bytes(path, head)})")


def load_latent(path, model=None) -> Latent:
    """Read a latent written by :func:`save_latent` (or an official inversion ``.pt``).

    With ``model``, also check that the latent fits it (n_latent, style_dim, f channels, number
    of noise maps). Raises ``FileNotFoundError`` or :class:`LatentFileError` (a ``ValueError``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"latent file not found: {path}")
    if _sniff(path) == "pt":
        latent = load_official_inversion(path)
    else:
        from safetensors import SafetensorError, safe_open
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
        except (SafetensorError, OSError, ValueError) as e:
            raise LatentFileError(f"{path} looks like .safetensors but cannot be read (truncated or "
                                  f"corrupt): {e}") from e
        if meta.get("format") != FORMAT:
            if any(k.startswith(("encoder.", "decoder.")) for k in tensors) or "style.1.weight" in tensors:
                raise LatentFileError(f"{path} is a model checkpoint, not a latent (expected a file "
                                      f"written by save_latent)")
            if "wplus" not in tensors or "f" not in tensors:
                raise LatentFileError(f"{path} is not a latent: it has no 'wplus' and 'f' tensors "
                                      f"(found {sorted(tensors)[:6]})")
        elif "wplus" not in tensors or "f" not in tensors:
            raise LatentFileError(f"{path}: latent file without 'wplus' or 'f' (damaged?)")
        crop, size_record, extra = _read_metadata(meta, path)
        latent = _make_latent(tensors["wplus"], tensors["f"], _indexed(tensors, "noise", path),
                              _indexed(tensors, "skips", path), crop, extra, str(path), size_record)
        _check_frame_sizes(latent, str(path))
    if model is not None:
        check_latent_fits(latent, model, str(path))
    return latent


def _read_metadata(meta: dict, path) -> tuple:
    """(CropInfo or None, SizeRecord or None, meta dict) from a latent file's metadata, every field
    checked; LatentFileError naming the file and the field otherwise."""
    try:
        extra = parse_json(meta["meta"], "the 'meta' metadata") if meta.get("meta") else {}
        if not isinstance(extra, dict):
            raise InputError(f"the 'meta' metadata must be a JSON object, found {type(extra).__name__}")
        crop = crop_info_from_dict(parse_json(meta["crop"], "the 'crop' metadata"), "the 'crop' metadata") \
            if meta.get("crop") else None
        size = meta.get("size_record") or extra.pop("size_record", None)  # version 1 kept it in meta
        if isinstance(size, str):
            size = parse_json(size, "the 'size_record' metadata")
        size_record = None if not size else SizeRecord.from_dict(size, "the 'size_record' metadata")
    except InputError as e:
        raise LatentFileError(f"{path}: {e}") from None
    return crop, size_record, extra


def _check_frame_sizes(latent: Latent, what: str) -> None:
    """The size record must describe the frames f was encoded from (f is 1/8 of the padded frame), and the
    crops (or their canvas) must have the shape of those frames, so a paste-back puts f's image where its
    crop came from."""
    record = latent.size_record
    f_size = (latent.f.shape[-2] * 8, latent.f.shape[-1] * 8)
    if record is not None and (record.mode != "pad" or tuple(record.size) != f_size):
        raise LatentFileError(f"{what}: the 'size_record' metadata describes a {record.size[1]}x{record.size[0]} "
                              f"{record.mode} but f was encoded from a {f_size[1]}x{f_size[0]} frame: the record "
                              "belongs to another latent")
    crop = latent.crop
    if crop is None:
        return
    encoded_h, encoded_w = record.original_size if record is not None else f_size
    shown = [crop.canvas] if crop.canvas is not None else [r.crop_size for r in crop.records]
    for k, (h, w) in enumerate(shown):
        # the encoded frame is the crop at any scale (e.g. a crop resized before encoding): same shape
        if abs(encoded_h - h * encoded_w / w) > max(8.0, 0.02 * encoded_h):
            which = "canvas" if crop.canvas is not None else f"crop {k}"
            raise LatentFileError(f"{what}: the 'crop' metadata's {which} is {w}x{h} but f was encoded from a "
                                  f"{encoded_w}x{encoded_h} image: the crop info belongs to another latent")


def check_latent_fits(latent: Latent, model, what: str = "latent") -> None:
    """ValueError (LatentFileError) when ``latent`` cannot drive ``model``."""
    try:
        latent.check_compatible(model)
    except ValueError as e:
        raise LatentFileError(f"{what}: {e}") from e
    if latent.noise is not None and len(latent.noise) != model.decoder.num_layers:
        raise LatentFileError(f"{what}: {len(latent.noise)} noise maps, but this model has "
                              f"{model.decoder.num_layers} layers: the latent comes from another model")


def load_official_inversion(path) -> Latent:
    """Read the official ``{'wplus', 'f'}`` inversion output (``f`` may be ``[f, rgb]``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"latent file not found: {path}")
    obj = safe_torch_load(path, LatentFileError)
    if not isinstance(obj, dict) or "wplus" not in obj or "f" not in obj:
        found = sorted(map(str, obj))[:8] if isinstance(obj, dict) else type(obj).__name__
        hint = " (it looks like a model checkpoint)" if isinstance(obj, dict) and (
            "state_dict" in obj or "g_ema" in obj) else ""
        raise LatentFileError(f"{path} is not an inversion latent{hint}: expected a dict with 'wplus' "
                              f"and 'f', found {found}")
    f = obj["f"]
    if isinstance(f, (list, tuple)):
        if not f:
            raise LatentFileError(f"{path}: 'f' is an empty list")
        f = f[0]
    noise = obj.get("noise")
    if noise is not None and not (isinstance(noise, (list, tuple)) and all(isinstance(n, torch.Tensor) for n in noise)):
        raise LatentFileError(f"{path}: 'noise' must be a list of tensors")
    return _make_latent(obj["wplus"], f, list(noise) if noise is not None else None, None, None,
                        {"source": "official inversion"}, str(path))


# ---- crop info <-> JSON ------------------------------------------------------------------------
def crop_info_to_dict(info: CropInfo, landmarks: bool = True) -> dict:
    """The JSON-serialisable part of ``info`` (records, padding, mode, frame indices, canvas and, with
    ``landmarks``, the faces' landmarks, identical sets stored once): the layout of the module docstring."""
    data = {"version": 3 if info.grouped or info.canvas else 2, "records": [r.to_dict() for r in info.records],
            "padding": list(info.padding), "mode": info.mode}
    if info.grouped or info.canvas:
        data.update(frame_index=list(info.frame_index), n_frames=info.n_frames)
        if info.canvas:
            data["canvas"] = list(info.canvas)
    if landmarks and info.faces is not None and any(f is not None and f.landmarks is not None for f in info.faces):
        sets, of = {}, []
        for face in info.faces:
            if face is None or face.landmarks is None:
                of.append(-1)
                continue
            key = tuple(np.round(face.landmarks, 3).ravel().tolist())
            of.append(sets.setdefault(key, len(sets)))
        data["landmarks"] = [np.asarray(k).reshape(68, 2).tolist() for k in sets]
        data["landmarks_of"] = of
    return data


def crop_info_from_dict(data, where: str = "crop info") -> CropInfo:
    """Read :func:`crop_info_to_dict`'s layout or an older one (see the module docstring), every field
    checked. Raises ``InputError`` naming ``where`` and the field."""
    if not isinstance(data, dict):
        raise InputError(f"{where} must be a JSON object, found {type(data).__name__}")
    if "box" in data and "records" not in data:  # one record, as `invert` wrote before version 2
        return CropInfo((CropRecord.from_dict(data, where),))
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= CROP_VERSION:
        raise InputError(f"{where}: version {version!r} is not one this release reads (1..{CROP_VERSION}); "
                         "it was written by a newer release")
    records = as_list(data.get("records"), "records", where, max_length=MAX_BATCH)
    if not records:
        raise InputError(f"{where}: field 'records' is empty")
    parsed = tuple(CropRecord.from_dict(r, f"{where}, record {i}") for i, r in enumerate(records))
    padding = read_padding(data.get("padding", DEFAULT_PADDING), where)  # one number: the nodes' old layout
    mode = read_str(data, "mode", where, BATCH_MODES) if "mode" in data else "each image"
    index, n_frames, canvas = None, None, None
    if version >= 3 and "frame_index" in data:
        n_frames = as_int(data.get("n_frames"), "n_frames", where, 1, MAX_BATCH)
        index = tuple(as_int(v, f"frame_index[{i}]", where, 0, n_frames - 1) for i, v in
                      enumerate(as_list(data["frame_index"], "frame_index", where, len(parsed))))
    if version >= 3 and data.get("canvas") is not None:
        values = as_list(data["canvas"], "canvas", where, 2)
        canvas = tuple(as_int(v, f"canvas[{i}]", where, 1, MAX_SIDE) for i, v in enumerate(values))
    faces = _read_landmarks(data, len(parsed), where) if "landmarks" in data else None
    return CropInfo(parsed, padding, mode, None, faces, index, n_frames, canvas)


def _read_landmarks(data: dict, count: int, where: str) -> tuple:
    sets = []
    for s, points in enumerate(as_list(data["landmarks"], "landmarks", where, max_length=MAX_BATCH)):
        rows = as_list(points, f"landmarks[{s}]", where, 68)
        sets.append(np.array([[as_float(c, f"landmarks[{s}][{i}]", where, -4.0 * MAX_SIDE, 4.0 * MAX_SIDE)
                               for c in as_list(row, f"landmarks[{s}][{i}]", where, 2)]
                              for i, row in enumerate(rows)]))
    of = [as_int(v, f"landmarks_of[{i}]", where, -1, len(sets) - 1)
          for i, v in enumerate(as_list(data.get("landmarks_of"), "landmarks_of", where, count))]
    return tuple(None if i < 0 else Face.from_landmarks(sets[i]) for i in of)
