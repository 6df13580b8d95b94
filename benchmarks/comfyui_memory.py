"""The node pack under ComfyUI's memory manager, measured in-process (run it where there is a GPU).

    python -m benchmarks.comfyui_memory --comfyui PATH_TO_COMFYUI [--json out.json] [--steps 100]

PATH_TO_COMFYUI: an unpacked ComfyUI 0.3.75 (``tests/comfyui/harness.py`` prepares one). The pack's nodes
run as ComfyUI runs them (inference mode, its ``comfy.model_management``), on full-size random weights
saved as an official ``styleganex_inversion.pt``:

* ``edit_after_inversion``: Encode -> Optimize Inversion (``--steps``) -> ApplyEdit + Decode, then
  ApplyEdit + Decode again with other strengths (the model stays loaded: no weights move);
  ``old_way`` times the previous behaviour (model to the GPU and back around each node run).
* ``precision``: ComfyUI's dtype choice for the device ("auto") against fp32: time and output difference.
* ``large_other_model``: another ComfyUI-managed model fills the GPU (the rest taken by a plain tensor);
  our Decode makes ComfyUI evict it; loading it back evicts ours; our next Decode loads ours again.
* ``lowvram`` / ``novram``: the same Decode with ComfyUI's --lowvram / --novram states.
* ``swap_generator``: a model sharing its encoder with another is kept consistent when one is evicted.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "comfyui_styleganex_pack"
GiB = 1024 ** 3


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed(fn, reps=1):
    times, out = [], None
    for _ in range(reps):
        _sync()
        t0 = time.perf_counter()
        out = fn()
        _sync()
        times.append(time.perf_counter() - t0)
    return out, times


def load_comfyui(comfy_dir: Path, cpu: bool = False):
    sys.path.insert(0, str(comfy_dir))
    from comfy.cli_args import args  # parsed with no flags: a GPU machine's defaults

    args.cpu = cpu

    import comfy.model_management as mm
    import folder_paths  # noqa: F401

    return mm


def load_pack(models: Path):
    import folder_paths

    folder_paths.add_model_folder_path("styleganex", str(models))
    spec = importlib.util.spec_from_file_location(PACKAGE, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    spec.loader.exec_module(module)
    extension = asyncio.run(module.comfy_entrypoint())
    return {cls.GET_SCHEMA().node_id: cls for cls in asyncio.run(extension.get_node_list())}


class MoveCounter:
    """Counts module moves/casts (nn.Module._apply) on the given modules."""

    def __init__(self, modules):
        self.ids = {id(m) for m in modules}
        self.count = 0
        self._orig = torch.nn.Module._apply
        counter = self

        def counting(mod, fn, recurse=True):
            if id(mod) in counter.ids:
                counter.count += 1
            return counter._orig(mod, fn, recurse)

        torch.nn.Module._apply = counting

    def take(self) -> int:
        n, self.count = self.count, 0
        return n


def crop_of_astronaut(size=256):
    """A 256x256 face region of scikit-image's astronaut as IMAGE [1, H, W, 3] (no dlib needed)."""
    import numpy as np
    from skimage import data

    img = torch.from_numpy(np.ascontiguousarray(data.astronaut()[30:286, 120:376])).float() / 255.0
    return img[None]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--comfyui", type=Path, required=True)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--other-gib", type=float, default=16.0, help="size of the other ComfyUI-managed model")
    ap.add_argument("--cpu", action="store_true", help="smoke run on the CPU (ComfyUI's --cpu)")
    ap.add_argument("--reduced", action="store_true", help="reduced-width models (smoke run)")
    a = ap.parse_args(argv)

    mm = load_comfyui(a.comfyui, a.cpu)
    from comfy.model_patcher import ModelPatcher

    dev = mm.get_torch_device()
    result = {"device": str(dev), "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
              "torch": torch.__version__, "vram_state": mm.vram_state.name}
    print(json.dumps(result), flush=True)

    import numpy as np

    from styleganex.dev.testing import random_model, save_official_pt

    tmp = Path(tempfile.mkdtemp(prefix="sgx-mm-"))
    model0 = random_model("inversion", reduced=a.reduced, seed=1)
    save_official_pt(model0, tmp / "styleganex_inversion.pt")
    (tmp / "directions").mkdir()
    np.save(tmp / "directions" / "smile.npy", np.random.default_rng(0).standard_normal(
        model0.config.style_dim).astype(np.float32))
    del model0
    nodes = load_pack(tmp)
    loader, enc, opt = nodes["StyleGANEXLoader"], nodes["StyleGANEXEncode"], nodes["StyleGANEXOptimizeInversion"]
    edit, dec = nodes["StyleGANEXApplyEdit"], nodes["StyleGANEXDecode"]
    crop = crop_of_astronaut()
    aligned = crop.clone()

    with torch.inference_mode():
        fp32 = loader.execute("styleganex_inversion.pt", "auto", "fp32").result[0]
        auto = loader.execute("styleganex_inversion.pt", "auto", "auto").result[0]
    result["auto_dtype"] = str(auto.dtype)
    result["model_bytes_fp32"] = fp32.managed.size
    result["model_bytes_auto"] = auto.managed.size
    moves = MoveCounter(list(fp32.managed.module.modules()) + list(auto.managed.module.modules()))

    # ---- edit after an inversion -----------------------------------------------------------------
    def edit_decode(handle, latent, strength):
        with torch.inference_mode():
            edited = edit.execute(latent, "smile.npy", strength, 0, 7).result[0]
            return dec.execute(handle, edited, "zero").result[0]

    r = {}
    for name, handle in (("fp32", fp32), (str(auto.dtype).replace("torch.", ""), auto)):
        with torch.inference_mode():
            (lat,), t_enc = _timed(lambda h=handle: enc.execute(h, crop, aligned).result)
            r[f"{name}_load_and_encode_s"] = t_enc[0]
            r[f"{name}_moves_load"] = moves.take()
            (inv,), t_opt = _timed(lambda h=handle, lt=lat: opt.execute(
                h, crop, lt, steps=a.steps, lpips_weight=1.0, lpips_backbone="random (tests only)").result)
        r[f"{name}_inversion_{a.steps}_steps_s"] = t_opt[0]
        moves.take()
        _, t_first = _timed(lambda: edit_decode(handle, inv, 1.0))
        outs, t_again = [], []
        for k in range(a.reps):
            out, t = _timed(lambda: edit_decode(handle, inv, 0.5 + 0.25 * k))
            t_again.append(t[0])
            outs.append(out)
        r[f"{name}_edit_decode_first_s"] = t_first[0]
        r[f"{name}_edit_decode_median_s"] = statistics.median(t_again)
        r[f"{name}_moves_during_edits"] = moves.take()
        r[f"{name}_loaded"] = handle.managed.patcher in mm.loaded_models()
        if name == "fp32":
            ref, inv32 = edit_decode(fp32, inv, 1.0), inv
    # the previous behaviour: the model to the GPU and back around every node run
    model = fp32.model
    with torch.inference_mode():
        lat_cpu = inv32.to("cpu")
    mm.unload_all_models()

    def old_way():
        with torch.inference_mode(False):
            model.to(dev)
        with torch.inference_mode():
            out = model.decode(lat_cpu.to(dev), noise="zero")
        with torch.inference_mode(False):
            model.to("cpu")
        mm.soft_empty_cache()
        return out

    _, t_old = _timed(old_way, reps=max(3, a.reps // 2))
    r["old_way_move_decode_move_median_s"] = statistics.median(t_old)
    result["edit_after_inversion"] = r
    print(json.dumps(r), flush=True)

    # ---- precision: ComfyUI's choice against fp32 ---------------------------------------------------------
    inv = inv32  # the fp32 inversion, decoded by both
    out_auto = edit_decode(auto, inv, 1.0)
    diff = (out_auto.float() - ref.float()).abs() * 255
    result["precision"] = {"auto": str(auto.dtype), "mean_abs_diff_0_255": float(diff.mean()),
                           "p99_abs_diff_0_255": float(diff.flatten().kthvalue(int(diff.numel() * 0.99)).values),
                           "max_abs_diff_0_255": float(diff.max())}
    print(json.dumps(result["precision"]), flush=True)

    # ---- a large other model ---------------------------------------------------------------------------
    lo = {}
    mm.unload_all_models()
    other_bytes = int(a.other_gib * GiB)
    other_module = torch.nn.Module()
    other_module.block = torch.nn.Module()  # ComfyUI's partial unload addresses weights as "<module>.<name>"
    other_module.block.weight = torch.nn.Parameter(torch.empty(other_bytes // 2, dtype=torch.float16),
                                                   requires_grad=False)
    other = ModelPatcher(other_module, load_device=dev, offload_device=torch.device("cpu"), size=other_bytes)
    _, t = _timed(lambda o=other: mm.load_models_gpu([o]))
    lo["other_model_gib"] = a.other_gib
    lo["other_load_s"] = t[0]
    free = torch.cuda.mem_get_info(dev)[0] if dev.type == "cuda" else 0
    need = fp32.managed.size
    hog_bytes = max(0, free - need // 2)  # leaves less than our model needs: ComfyUI must evict the other one
    hog = torch.empty(hog_bytes, dtype=torch.uint8, device=dev) if dev.type == "cuda" else None
    lo["free_gib_before_ours"] = (torch.cuda.mem_get_info(dev)[0] / GiB) if dev.type == "cuda" else None
    _, t = _timed(lambda: edit_decode(fp32, inv, 1.0))
    lo["our_decode_evicting_other_s"] = t[0]
    lo["other_loaded_after"] = other in mm.loaded_models()
    lo["ours_loaded_after"] = fp32.managed.patcher in mm.loaded_models()
    _, t = _timed(lambda o=other: mm.load_models_gpu([o]))
    lo["other_reload_s"] = t[0]
    lo["ours_on_gpu_after_other_reload"] = fp32.managed.module.on(dev)
    lo["ours_loaded_after_other_reload"] = fp32.managed.patcher in mm.loaded_models()
    _, t = _timed(lambda: edit_decode(fp32, inv, 1.0))
    lo["our_decode_again_s"] = t[0]
    lo["ours_on_gpu_after"] = fp32.managed.module.on(dev)
    del hog
    mm.unload_all_models()
    del other, other_module
    mm.soft_empty_cache()
    result["large_other_model"] = lo
    print(json.dumps(lo), flush=True)

    # ---- --lowvram / --novram ------------------------------------------------------------------------
    for state in ("LOW_VRAM", "NO_VRAM"):
        mm.unload_all_models()
        saved = mm.vram_state
        mm.vram_state = getattr(mm.VRAMState, state)
        s = {}
        try:
            _, t = _timed(lambda: edit_decode(fp32, inv, 1.0), reps=3)
            s["edit_decode_s"] = t
            s["loaded_after"] = fp32.managed.patcher in mm.loaded_models()
            s["weights_on_gpu_after"] = fp32.managed.module.on(dev)
            s["allocated_gib_after"] = torch.cuda.memory_allocated(dev) / GiB if dev.type == "cuda" else 0
        finally:
            mm.vram_state = saved
        result[state.lower()] = s
        print(state, json.dumps(s), flush=True)

    # ---- Swap Generator shares the encoder --------------------------------------------------------------
    mm.unload_all_models()
    save_official_pt(random_model("toonify", reduced=a.reduced, seed=2), tmp / "toon.pt")
    with torch.inference_mode():
        swapped = nodes["StyleGANEXSwapGenerator"].execute(fp32, "toon.pt").result[0]
    sw = {}
    edit_decode(fp32, inv, 1.0)
    edit_decode(swapped, inv, 1.0)
    mm.free_memory(1e30, dev, keep_loaded=[])  # evict both: the shared encoder goes to the CPU
    edit_decode(swapped, inv, 1.0)  # loads the swapped model (and the shared encoder) again
    sw["original_on_gpu_after_swapped_reload"] = fp32.managed.module.on(dev)
    edit_decode(fp32, inv, 1.0)  # loads the original (its decoder) and still works
    sw["original_works_after"] = fp32.managed.module.on(dev)
    for i, loaded in enumerate(list(mm.current_loaded_models)):  # evict the swapped one only
        if loaded.model is swapped.managed.patcher:
            mm.current_loaded_models.pop(i).model_unload()
            break
    sw["original_on_gpu_after_swapped_evicted"] = fp32.managed.module.on(dev)
    edit_decode(fp32, inv, 1.0)  # finds its encoder moved off and loads it again
    sw["original_reloaded_and_works"] = fp32.managed.module.on(dev)
    result["swap_generator"] = sw
    print(json.dumps(sw), flush=True)

    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
