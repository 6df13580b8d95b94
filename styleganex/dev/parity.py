"""Parity runner: replay reference cases of the official code with our modules.

    python -m styleganex.dev.parity DIR

``DIR/index.json`` describes variants (opts, widths, weights file with official key names) and cases
(kind ``map``, ``gen``, ``enc``, ``psp`` or ``utils``; call arguments naming tensors of the case file;
tolerances). Every case is run with our own code and compared elementwise:
``|ours - ref| <= atol + rtol * |ref|``. One line per case, then ``N passed, M failed``; exit status 1
on any failure. A case that cannot be run counts as failed, never skipped.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from ..model.checkpoints import build_model
from ..model.config import ModelConfig
from ..model.encoder import batch_statistics
from ..pipelines.degradation import bicubic_downsample
from ..pipelines.inversion import lr_schedule, noise_normalize_, noise_regularize


@dataclass
class CaseResult:
    name: str
    max_abs: float
    atol: float
    passed: bool
    detail: str = ""


class Fixtures:
    def __init__(self, root):
        self.root = Path(root)
        index = self.root / "index.json"
        if not index.is_file():
            raise FileNotFoundError(f"{index} not found: a parity directory holds index.json")
        self.index = json.loads(index.read_text())
        self._models = {}

    @property
    def cases(self) -> list[dict]:
        return self.index["cases"]

    def model(self, variant: str):
        if variant not in self._models:
            v = self.index["variants"][variant]
            sd = load_file(str(self.root / v["weights_file"]))
            for key, shape in (v.get("omitted_keys") or {}).items():
                sd.setdefault(key, torch.zeros(shape))
            latent_avg = sd.pop("latent_avg", None)
            editing_w = sd.pop("editing_w", None)
            widths = self.index.get("reduced_config")
            config = ModelConfig.from_opts(v["opts"], widths) if widths else None
            self._models[variant] = build_model(sd, v["opts"], latent_avg, editing_w, config,
                                                variant, what=f"parity weights {variant}")
        return self._models[variant]


def _resolve(arg, tensors: dict):
    """Turn a call argument of index.json into a value: 'in.x' -> tensor, '[in.f]' -> [tensor],
    'list in.noise.<i>' -> [in.noise.0, in.noise.1, ...]; other values pass through."""
    if isinstance(arg, str):
        m = re.fullmatch(r"list (\S+)\.<i>", arg)
        if m:
            out, i = [], 0
            while f"{m.group(1)}.{i}" in tensors:
                out.append(tensors[f"{m.group(1)}.{i}"])
                i += 1
            if not out:
                raise KeyError(f"no tensors {m.group(1)}.0, .1, ... for {arg!r}")
            return out
        m = re.fullmatch(r"\[(.+)\]", arg)
        if m:
            return [_resolve(a.strip(), tensors) for a in m.group(1).split(",")]
        if re.fullmatch(r"(in|out|mid)\.\S+", arg):
            if arg not in tensors:
                raise KeyError(f"case file has no tensor {arg!r}")
            return tensors[arg]
    return arg


def _mode_is_train(call: dict) -> bool:
    return str(call.get("mode", "eval")).strip().lower().startswith("train")


def _list_outputs(prefix: str, values) -> dict:
    return {f"{prefix}.{i}": v for i, v in enumerate(values)}


def run_case(case: dict, fx: Fixtures) -> dict:
    """Compute our outputs for one case: {tensor name: tensor}."""
    tensors = load_file(str(fx.root / case["file"]))
    call = case["call"]
    args = {k: _resolve(v, tensors) for k, v in (call.get("args") or {}).items()}
    kind = case["kind"]
    ctx = batch_statistics(_mode_is_train(call))
    out = {}
    with torch.no_grad(), ctx:
        if kind == "map":
            m = fx.model(case["variant"])
            out["out.w"] = m.decoder.style(args.pop("input"))
            _no_leftovers(args)
        elif kind == "gen":
            m = fx.model(case["variant"])
            hooks = _hook_intermediates(m, tensors, out)
            try:
                image, latent = m.decoder(**_take(args, GEN_ARGS))
            finally:
                for h in hooks:
                    h.remove()
            _no_leftovers(args)
            out["out.image"] = image
            if latent is not None:
                out["out.latent"] = latent
        elif kind == "enc":
            m = fx.model(case["variant"])
            res = m.encoder(**_take(args, {"x", "return_feat", "return_full"}))
            _no_leftovers(args)
            codes, feats = res if isinstance(res, tuple) else (res, [])
            out["out.codes"] = codes
            out.update(_list_outputs("out.feats", feats))
            out["out.get_feat"] = m.encoder.get_feat(tensors["in.x"])
        elif kind == "psp":
            m = fx.model(case["variant"])
            a = _take(args, PSP_ARGS)
            _no_leftovers(args)
            res = m(**a)
            image, latent = res if isinstance(res, tuple) else (res, None)
            out["out.image"] = image
            if latent is not None:
                out["out.latent"] = latent
            if "out.image_resized" in case["tensors"]:
                a["resize"] = True
                resized = m(**a)
                out["out.image_resized"] = resized[0] if isinstance(resized, tuple) else resized
        elif kind == "utils":
            out.update(_run_utils(case, tensors))
        else:
            raise ValueError(f"unknown case kind {kind!r}")
    return out


GEN_ARGS = {"styles", "input_is_latent", "noise", "randomize_noise", "first_layer_feature",
            "first_layer_feature_ind", "skip_layer_feature", "fusion_block", "zero_noise",
            "editing_w", "truncation", "truncation_latent", "inject_index", "return_latents"}
PSP_ARGS = {"x1", "x2", "resize", "latent_mask", "randomize_noise", "inject_latent",
            "return_latents", "alpha", "use_feature", "first_layer_feature_ind", "use_skip",
            "zero_noise", "editing_w"}


def _take(args: dict, names: set) -> dict:
    taken = {k: args.pop(k) for k in list(args) if k in names}
    return taken


def _no_leftovers(args: dict):
    if args:
        raise ValueError(f"call arguments this runner does not know: {sorted(args)}")


def _hook_intermediates(model, tensors: dict, out: dict):
    """Record outputs of modules named by mid.<module path> tensors."""
    hooks = []
    for name in tensors:
        if not name.startswith("mid."):
            continue
        module = model.get_submodule(name[len("mid."):])

        def hook(_mod, _inp, result, key=name):
            out[key] = result[0] if isinstance(result, tuple) else result
        hooks.append(module.register_forward_hook(hook))
    return hooks


def _run_utils(case: dict, tensors: dict) -> dict:
    out = {}
    noises = [tensors[f"in.noise.{i}"] for i in range(len([k for k in tensors if k.startswith("in.noise.")]))]
    expected = case["tensors"]
    if "out.noise_regularize" in expected:
        out["out.noise_regularize"] = torch.as_tensor(noise_regularize(noises)).reshape(1)
    if "out.get_lr" in expected:
        ts = case["call"].get("get_lr_t")
        if ts is None:
            raise ValueError("utils case has out.get_lr but no get_lr_t list")
        out["out.get_lr"] = torch.tensor([lr_schedule(t, 0.05) for t in ts], dtype=torch.float32)
    for name in expected:
        m = re.fullmatch(r"out\.bicubic_f(\d+)", name)
        if m:
            out[name] = bicubic_downsample(tensors["in.img01"], int(m.group(1)))
    if any(k.startswith("out.noise_normalized.") for k in expected):
        copies = [n.clone() for n in noises]
        noise_normalize_(copies)
        out.update(_list_outputs("out.noise_normalized", copies))
    return out


def compare(case: dict, ours: dict, reference: dict) -> CaseResult:
    tol = case.get("tolerance", {})
    atol, rtol = float(tol.get("atol", 1e-5)), float(tol.get("rtol", 1e-4))
    worst, ok, notes = 0.0, True, []
    expected = [k for k in reference if k.startswith(("out.", "mid."))]
    for key in expected:
        if key not in ours:
            ok = False
            notes.append(f"{key} not produced")
            continue
        a = ours[key].detach().float().cpu()
        b = reference[key].float()
        if a.shape != b.shape:
            ok = False
            notes.append(f"{key} shape {tuple(a.shape)} != {tuple(b.shape)}")
            continue
        err = (a - b).abs()
        worst = max(worst, float(err.max()) if err.numel() else 0.0)
        if not bool((err <= atol + rtol * b.abs()).all()):
            ok = False
            notes.append(f"{key} max err {float(err.max()):.3g}")
    return CaseResult(case["name"], worst, atol, ok, "; ".join(notes))


def run(root, verbose: bool = True, out=None) -> list[CaseResult]:
    out = out or sys.stdout
    fx = Fixtures(root)
    results = []
    for case in fx.cases:
        try:
            ours = run_case(case, fx)
            ref = load_file(str(fx.root / case["file"]))
            res = compare(case, ours, ref)
        except Exception as e:  # a case we cannot run is a failure, never a skip
            res = CaseResult(case.get("name", "?"), float("nan"), float("nan"), False,
                             f"could not run: {type(e).__name__}: {e}")
        results.append(res)
        if verbose:
            line = f"{res.name:40s} max_abs={res.max_abs:.3e} atol={res.atol:.3e} {'PASS' if res.passed else 'FAIL'}"
            print(line + (f"  ({res.detail})" if res.detail else ""), file=out)
    n_pass = sum(r.passed for r in results)
    print(f"{n_pass} passed, {len(results) - n_pass} failed", file=out)
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m styleganex.dev.parity", description=__doc__.split("\n")[0])
    p.add_argument("dir", help="folder with index.json, weights/ and cases/")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    results = run(a.dir)
    return 0 if results and all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
