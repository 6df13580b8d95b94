"""The pack inside a real ComfyUI 0.3.75 server (CPU): import, /object_info, workflow templates, every
workflow of ``workflows/`` end to end, type checks, interrupt and error recovery.

Marker ``comfyui``. The first run downloads ComfyUI (a 8 MB wheel) into ``.scratch/comfyui``; later
runs reuse it. Run alone with ``python -m pytest -m comfyui -q``.
"""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.comfyui

_spec = importlib.util.spec_from_file_location("styleganex_comfyui_harness",
                                               Path(__file__).parent / "comfyui" / "harness.py")
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)

ROOT = harness.ROOT
WORKFLOWS = sorted((ROOT / "workflows").glob("*.json"))
PACK = harness.PACK_NAME

VIDEO_TRACKING = {"faces": "STRING", "mask": "COMBO", "erode": "FLOAT", "colour_match": "BOOLEAN", "smoothing": "FLOAT",
                  "state": "STYLEGANEX_VIDEO_STATE"}
VIDEO_OUTPUTS = ["IMAGE", "MASK", "STYLEGANEX_VIDEO_STATE"]

# node id -> (inputs: name -> type, outputs: types)
EXPECTED = {
    "StyleGANEXLoader": ({"ckpt_name": "COMBO", "device": "COMBO", "precision": "COMBO"}, ["STYLEGANEX_MODEL"]),
    "StyleGANEXFaceParserLoader": ({"parser_name": "COMBO", "device": "COMBO"}, ["STYLEGANEX_PARSER"]),
    "StyleGANEXFaceCrop": ({"image": "IMAGE", "padding": "INT", "face": "COMBO", "face_index": "INT",
                            "batch_mode": "COMBO", "if_no_face": "COMBO", "select": "COMBO", "indices": "STRING",
                            "max_faces": "INT", "min_face_size": "INT", "min_score": "FLOAT"},
                           ["IMAGE", "IMAGE", "STYLEGANEX_CROP", "IMAGE"]),
    "StyleGANEXFaceParse": ({"parser": "STYLEGANEX_PARSER", "image": "IMAGE", "resolution": "COMBO"},
                            ["IMAGE", "MASK"]),
    "StyleGANEXEncode": ({"model": "STYLEGANEX_MODEL", "image": "IMAGE", "aligned": "IMAGE",
                          "crop_info": "STYLEGANEX_CROP"}, ["STYLEGANEX_LATENT"]),
    "StyleGANEXOptimizeInversion": ({"model": "STYLEGANEX_MODEL", "image": "IMAGE", "latent": "STYLEGANEX_LATENT",
                                     "aligned": "IMAGE", "steps": "INT", "lr": "FLOAT", "lpips_weight": "FLOAT",
                                     "mse_weight": "FLOAT", "noise_reg_weight": "FLOAT", "seed": "INT",
                                     "lpips_backbone": "COMBO"}, ["STYLEGANEX_LATENT"]),
    "StyleGANEXDecode": ({"model": "STYLEGANEX_MODEL", "latent": "STYLEGANEX_LATENT", "noise": "COMBO", "seed": "INT",
                          "paste_back": "BOOLEAN", "feather": "FLOAT", "crop_info": "STYLEGANEX_CROP", "mask": "COMBO",
                          "erode": "FLOAT", "colour_match": "BOOLEAN", "parser": "STYLEGANEX_PARSER"},
                         ["IMAGE", "MASK"]),
    "StyleGANEXSuperResolve": ({"model": "STYLEGANEX_MODEL", "image": "IMAGE", "factor": "INT", "seed": "INT",
                                "crop_info": "STYLEGANEX_CROP"}, ["IMAGE"]),
    "StyleGANEXTranslateSketch": ({"model": "STYLEGANEX_MODEL", "image": "IMAGE", "mask": "MASK", "number": "INT",
                                   "seed": "INT"}, ["IMAGE"]),
    "StyleGANEXVideoEdit": ({"model": "STYLEGANEX_MODEL", "frames": "IMAGE", "editing_scale": "FLOAT", "crop": "COMBO",
                             "padding": "INT", "chunk_size": "INT", "paste_back": "BOOLEAN", "feather": "FLOAT",
                             **VIDEO_TRACKING}, VIDEO_OUTPUTS),
    "StyleGANEXVideoToonify": ({"model": "STYLEGANEX_MODEL", "frames": "IMAGE", "crop": "COMBO", "padding": "INT",
                                "chunk_size": "INT", "paste_back": "BOOLEAN", "feather": "FLOAT", **VIDEO_TRACKING},
                               VIDEO_OUTPUTS),
    "StyleGANEXApplyEdit": ({"latent": "STYLEGANEX_LATENT", "direction": "COMBO", "strength": "FLOAT",
                             "layer_start": "INT", "layer_end": "INT", "style_mix": "COMBO", "mix_seed": "INT",
                             "mix_layer_start": "INT", "mix_scale": "FLOAT", "model": "STYLEGANEX_MODEL",
                             "style_latent": "STYLEGANEX_LATENT", "directions": "STYLEGANEX_DIRECTIONS",
                             "direction_index": "INT"}, ["STYLEGANEX_LATENT"]),
    "StyleGANEXSeFaDirections": ({"model": "STYLEGANEX_MODEL", "layers": "STRING", "top_k": "INT"},
                                 ["STYLEGANEX_DIRECTIONS"]),
    "StyleGANEXEditSweep": ({"model": "STYLEGANEX_MODEL", "latent": "STYLEGANEX_LATENT", "direction": "COMBO",
                             "start": "FLOAT", "end": "FLOAT", "frames": "INT", "layer_start": "INT",
                             "layer_end": "INT", "noise": "COMBO", "seed": "INT", "frame": "INT",
                             "directions": "STYLEGANEX_DIRECTIONS", "direction_index": "INT"}, ["IMAGE"]),
    "StyleGANEXSwapGenerator": ({"model": "STYLEGANEX_MODEL", "generator": "COMBO"}, ["STYLEGANEX_MODEL"]),
    "StyleGANEXSaveLatent": ({"latent": "STYLEGANEX_LATENT", "filename_prefix": "STRING"}, []),
    "StyleGANEXLoadLatent": ({"latent_file": "COMBO", "model": "STYLEGANEX_MODEL", "frame": "IMAGE"},
                             ["STYLEGANEX_LATENT", "STYLEGANEX_CROP"]),
}

# settings that keep the CPU run short: (node type -> widget overrides)
FAST = {
    "StyleGANEXFaceCrop": {"padding": 64},
    "StyleGANEXOptimizeInversion": {"steps": 3, "lpips_backbone": "random (tests only)"},
    "StyleGANEXTranslateSketch": {"number": 2},
    "StyleGANEXVideoToonify": {"padding": 64, "chunk_size": 2},
    "StyleGANEXVideoEdit": {"padding": 64, "chunk_size": 2},
    "StyleGANEXEditSweep": {"frames": 3},
}


@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    t0 = time.monotonic()
    comfy_dir = harness.ensure_comfyui()
    harness.ensure_requirements()
    base = tmp_path_factory.mktemp("comfyui-base")
    models = tmp_path_factory.mktemp("styleganex-models")
    yaml_path = harness.make_base_dir(base, models)
    files = harness.write_test_models(models)
    inputs = harness.write_test_inputs(base / "input")
    server = harness.ComfyServer(comfy_dir, base, yaml_path)
    server.start()
    server.files, server.inputs, server.models = files, inputs, models
    harness.log(f"ComfyUI up in {time.monotonic() - t0:.1f} s (port {server.port})")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def object_info(comfy):
    return comfy.get("/object_info")


def _types(spec) -> str:
    return "COMBO" if isinstance(spec[0], list) else spec[0]


def test_pack_imports_without_errors(comfy, object_info):
    log = comfy.log_text()
    bad = [line for line in log.splitlines()
           if PACK in line and ("IMPORT FAILED" in line or "Cannot import" in line or "Error" in line)]
    assert not bad, "\n".join(bad) + "\n" + comfy.log_tail()
    assert "comfy_entrypoint" not in log, comfy.log_tail()
    ours = {k for k in object_info if k.startswith("StyleGANEX")}
    assert ours, "no StyleGANEX node registered:\n" + comfy.log_tail()
    for key in ours:
        assert object_info[key]["category"].startswith("StyleGANEX"), key
        assert object_info[key]["python_module"].endswith(PACK), object_info[key]["python_module"]


def test_object_info_lists_every_node(object_info):
    for node_id, expected in EXPECTED.items():
        if expected is None:
            continue
        assert node_id in object_info, f"{node_id} missing from /object_info"
        info = object_info[node_id]
        got = {name: _types(spec) for group in ("required", "optional")
               for name, spec in info["input"].get(group, {}).items()}
        assert got == expected[0], node_id
        assert info["output"] == expected[1], node_id
    ours = {k for k in object_info if k.startswith("StyleGANEX")}
    assert ours == set(EXPECTED), sorted(ours ^ set(EXPECTED))
    for key in ours:  # never ComfyUI's LATENT
        info = object_info[key]
        sockets = [spec[0] for group in ("required", "optional") for spec in info["input"].get(group, {}).values()]
        assert "LATENT" not in info["output"] and "LATENT" not in sockets, key
    directions = object_info["StyleGANEXApplyEdit"]["input"]["required"]["direction"][1]["options"]
    assert "smile.npy" in directions and "direction_dics.pt [slender]" in directions, directions
    generators = object_info["StyleGANEXSwapGenerator"]["input"]["required"]["generator"][1]["options"]
    assert "disney_princess.pt" in generators, generators


def test_models_folder_keeps_user_paths(object_info, comfy):
    ckpts = object_info["StyleGANEXLoader"]["input"]["required"]["ckpt_name"][1]["options"]
    # the checkpoints exist only in the folder that extra_model_paths.yaml names
    assert "styleganex_inversion.pt" in ckpts and "styleganex_sketch2face.pt" in ckpts, ckpts
    assert not any(c.startswith(("faceparsing", "vgg16")) or c.startswith("directions") for c in ckpts), ckpts


def test_workflow_templates_listed(comfy):
    templates = comfy.get("/workflow_templates")
    assert sorted(templates.get(PACK, [])) == sorted(p.stem for p in WORKFLOWS), templates
    status, body = comfy.request("GET", f"/api/workflow_templates/{PACK}/{WORKFLOWS[0].name}")
    assert status == 200 and body["nodes"], status


def _fast(prompt: dict) -> dict:
    for node in prompt.values():
        node["inputs"].update(FAST.get(node["class_type"], {}))
    return prompt


def _image_size(comfy, item) -> tuple[int, int]:
    from PIL import Image

    folder = comfy.base / item.get("type", "output") / item.get("subfolder", "")
    with Image.open(folder / item["filename"]) as im:
        return im.size


def _video_info(comfy, item) -> tuple[int, int, int]:
    import av

    path = comfy.base / item.get("type", "output") / item.get("subfolder", "") / item["filename"]
    with av.open(str(path)) as c:
        frames = [f for f in c.decode(video=0)]
        return frames[0].width, frames[0].height, len(frames)


def _crop_size(image_path: Path, padding: int) -> tuple[int, int]:
    """(w, h) of the StyleGANEX crop the pipeline makes of this image (computed with the core)."""
    from styleganex.faces import crop_record, detect_face
    from styleganex.images import load_image

    frame = load_image(image_path)
    rec = crop_record(tuple(frame.shape[-2:]), detect_face(frame), padding)
    h, w = rec.crop_size
    return w, h


def _first_frame_crop(video: Path, padding: int) -> tuple[int, int, tuple[int, int]]:
    import av
    import torch

    from styleganex.faces import crop_record, detect_face

    with av.open(str(video)) as c:
        frame = next(iter(c.decode(video=0))).to_ndarray(format="rgb24")
    x = torch.from_numpy(frame).permute(2, 0, 1).float() / 255
    rec = crop_record(tuple(x.shape[-2:]), detect_face(x), padding)
    return rec.crop_size[1], rec.crop_size[0], (x.shape[-1], x.shape[-2])


def _outputs_by_node(entry) -> dict:
    return {nid: [i for key in ("images", "gifs", "video", "videos") for i in (out.get(key) or [])
                  if isinstance(i, dict) and "filename" in i]
            for nid, out in entry.get("outputs", {}).items()}


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_workflow_runs_end_to_end(comfy, object_info, path):
    from PIL import Image

    workflow = json.loads(path.read_text())
    prompt = _fast(harness.ui_to_api(workflow, object_info))
    t0 = time.monotonic()
    entry = comfy.run(prompt, timeout=300)
    harness.log(f"{path.stem}: {time.monotonic() - t0:.1f} s")
    assert entry["status"]["status_str"] == "success", harness.error_text(entry) + "\n" + comfy.log_tail()
    outs = _outputs_by_node(entry)
    types = {nid: node["class_type"] for nid, node in prompt.items()}
    input_dir = comfy.base / "input"
    pad = FAST["StyleGANEXFaceCrop"]["padding"]
    saved = {nid: items for nid, items in outs.items() if types[nid] in ("SaveImage", "SaveVideo")}
    assert saved, f"{path.stem} saved nothing: {entry.get('outputs')}"
    for nid, items in saved.items():
        src = _upstream(prompt, nid)
        kind = prompt[src]["class_type"] if src else None
        if types[nid] == "SaveVideo":
            width, height, frames = _video_info(comfy, items[0])
            vpad = FAST["StyleGANEXVideoToonify"]["padding"]
            cw, ch, frame_size = _first_frame_crop(input_dir / "clip.mp4", vpad)
            assert frames == 3
            video_node = next(k for k, v in prompt.items() if v["class_type"].startswith("StyleGANEXVideo"))
            if prompt[video_node]["inputs"].get("paste_back"):
                assert (width, height) == frame_size
            else:
                assert (width, height) == (4 * cw, 4 * ch)
            continue
        sizes = [_image_size(comfy, item) for item in items]
        if kind == "StyleGANEXDecode" and "crop_info" in prompt[src]["inputs"]:
            photo = next(n["inputs"]["image"] for n in prompt.values() if n["class_type"] == "LoadImage")
            with Image.open(input_dir / photo) as im:
                assert sizes == [im.size]  # every face pasted back into the photo
        elif kind == "StyleGANEXSuperResolve":
            cw, ch = _crop_size(input_dir / "astronaut.png", pad)
            low = (round(cw * 0.125), round(ch * 0.125))
            factor = prompt[src]["inputs"]["factor"]
            assert sizes == [(factor * low[0], factor * low[1])]
        elif kind == "StyleGANEXEditSweep":
            cw, ch = _crop_size(input_dir / "astronaut.png", pad)
            assert sizes == [(4 * cw, 4 * ch)] * FAST["StyleGANEXEditSweep"]["frames"]
        elif kind == "StyleGANEXTranslateSketch":
            number = prompt[src]["inputs"]["number"]
            if "mask" in prompt[src]["inputs"]:
                cw, ch = _crop_size(input_dir / "astronaut.png", pad)
            else:
                cw, ch = 256, 256  # sketch.png
            assert sizes == [(4 * cw, 4 * ch)] * number
        else:
            raise AssertionError(f"no expectation for {kind} -> {types[nid]}")


def _upstream(prompt, nid):
    for value in prompt[nid]["inputs"].values():
        if isinstance(value, list) and len(value) == 2:
            return value[0]
    return None


def _loader(ckpt="styleganex_inversion.pt"):
    return {"class_type": "StyleGANEXLoader", "inputs": {"ckpt_name": ckpt, "device": "auto", "precision": "auto"}}


def _crop_prompt(image="astronaut.png", padding=64):
    return {
        "2": {"class_type": "LoadImage", "inputs": {"image": image}},
        "3": {"class_type": "StyleGANEXFaceCrop", "inputs": {"image": ["2", 0], "padding": padding, "face": "largest",
                                                             "face_index": 0, "batch_mode": "each image",
                                                             "if_no_face": "error"}},
    }


def test_wrong_custom_type_is_rejected(comfy):
    prompt = {"1": _loader(), **_crop_prompt(),
              "4": {"class_type": "StyleGANEXEncode", "inputs": {"model": ["1", 0], "image": ["3", 0]}},
              # a latent where a model belongs, and a crop record where a latent belongs
              "5": {"class_type": "StyleGANEXDecode", "inputs": {"model": ["4", 0], "latent": ["3", 2], "noise": "auto",
                                                               "seed": 0, "paste_back": False, "feather": 0.1}},
              "6": {"class_type": "PreviewImage", "inputs": {"images": ["5", 0]}}}
    with pytest.raises(harness.PromptRejected) as err:
        comfy.queue(prompt)
    assert err.value.status == 400
    text = json.dumps(err.value.body)
    assert "return_type_mismatch" in text and "STYLEGANEX_LATENT" in text and "STYLEGANEX_MODEL" in text, text


def test_missing_checkpoint_names_where_to_get_it(comfy):
    prompt = {"1": _loader("styleganex_sr32.pt"), **_crop_prompt(),
              "5": {"class_type": "StyleGANEXSuperResolve", "inputs": {"model": ["1", 0], "image": ["3", 0],
                                                                       "factor": 32, "seed": 0}},
              "6": {"class_type": "PreviewImage", "inputs": {"images": ["5", 0]}}}
    with pytest.raises(harness.PromptRejected) as err:
        comfy.queue(prompt)
    text = json.dumps(err.value.body)
    assert "styleganex_sr32.pt" in text and "huggingface.co/PKUWilliamYang/StyleGANEX" in text, text
    assert "non-commercial" in text, text


def test_file_names_outside_comfyui_folders_are_rejected(comfy, tmp_path):
    """Issue 14: a prompt (UI or API) cannot make a node read a file outside ComfyUI's folders."""
    from styleganex.testing import random_model, save_official_pt

    outside = save_official_pt(random_model("inversion", size=256, seed=4), tmp_path / "outside.pt")
    save_latent = {"class_type": "StyleGANEXSaveLatent", "inputs": {"latent": ["4", 0], "filename_prefix": "x"}}
    prompts = {
        "absolute path": {"1": _loader(str(outside)), **_crop_prompt(), "5": save_latent,
                          "4": {"class_type": "StyleGANEXEncode", "inputs": {"model": ["1", 0], "image": ["3", 0]}}},
        "'..'": {"4": {"class_type": "StyleGANEXLoadLatent", "inputs": {"latent_file": "../../elsewhere/x.safetensors"}},
                 "5": save_latent},
    }
    for why, prompt in prompts.items():
        with pytest.raises(harness.PromptRejected) as err:
            comfy.queue(prompt)
        text = json.dumps(err.value.body)
        assert err.value.status == 400 and why in text and "ComfyUI's" in text, text


def test_interrupt_stops_optimize_inversion(comfy):
    prompt = {"1": _loader(), **_crop_prompt(),
              "4": {"class_type": "StyleGANEXOptimizeInversion", "inputs": {
                  "model": ["1", 0], "image": ["3", 0], "aligned": ["3", 1], "steps": 10000, "lr": 0.05,
                  "lpips_weight": 0.0, "mse_weight": 1.0, "noise_reg_weight": 1000.0, "seed": 1,
                  "lpips_backbone": "random (tests only)"}},
              "5": {"class_type": "StyleGANEXDecode", "inputs": {"model": ["1", 0], "latent": ["4", 0], "noise": "auto",
                                                               "seed": 0, "paste_back": False, "feather": 0.1}},
              "6": {"class_type": "PreviewImage", "inputs": {"images": ["5", 0]}}}
    prompt_id = comfy.queue(prompt)
    deadline = time.monotonic() + 60
    while not comfy.running() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(4.0)  # inside the optimisation loop by now (crop, encode and a few steps)
    t0 = time.monotonic()
    status, _ = comfy.post("/interrupt")
    assert status == 200
    entry = comfy.wait(prompt_id, timeout=60)
    stopped_after = time.monotonic() - t0
    kinds = [m[0] for m in harness.status_messages(entry)]
    assert "execution_interrupted" in kinds, entry["status"]
    assert stopped_after < 20, f"took {stopped_after:.1f} s to stop"
    assert entry["status"]["status_str"] != "success"


def test_node_errors_are_clear_and_server_survives(comfy):
    # no face in the image: the nodes behind the crop are blocked with the reason (ComfyUI shows it as an
    # "Execution Blocked" error; the message itself is checked in test_nodes.py), the preview still comes
    entry = comfy.run({**_crop_prompt("blank.png"),
                       "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
                       "5": {"class_type": "PreviewImage", "inputs": {"images": ["3", 3]}}}, timeout=120)
    outs = _outputs_by_node(entry)
    assert not outs.get("4"), entry.get("outputs")
    assert len(outs.get("5", [])) == 1 and _image_size(comfy, outs["5"][0]) == (128, 128), entry.get("outputs")
    # the wrong kind of model for the node
    prompt = {"1": _loader("styleganex_sketch2face.pt"), **_crop_prompt(),
              "5": {"class_type": "StyleGANEXSuperResolve", "inputs": {"model": ["1", 0], "image": ["3", 0],
                                                                       "factor": 32, "seed": 0}},
              "6": {"class_type": "PreviewImage", "inputs": {"images": ["5", 0]}}}
    entry = comfy.run(prompt, timeout=120)
    msg = harness.error_text(entry)
    assert "styleganex_sr.pt" in msg and "sketch2face" in msg, msg
    # a MASK that is not a parsing label map (a sketch's red channel: values up to 1.0 = class 255)
    prompt = {"1": _loader("styleganex_mask2face.pt"),
              "2": {"class_type": "LoadImageMask", "inputs": {"image": "sketch.png", "channel": "red"}},
              "3": {"class_type": "StyleGANEXTranslateSketch", "inputs": {"model": ["1", 0], "mask": ["2", 0],
                                                                          "number": 1, "seed": 0}},
              "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}}}
    entry = comfy.run(prompt, timeout=120)
    msg = harness.error_text(entry)
    assert "not a parsing label mask" in msg and "Face Parse" in msg, msg
    # a mask too small for the encoder
    prompt["2"]["inputs"]["image"] = "tiny.png"
    entry = comfy.run(prompt, timeout=120)
    msg = harness.error_text(entry)
    assert "16x16" in msg and "at least" in msg, msg
    # still serving, and still running prompts
    assert comfy.get("/system_stats")
    entry = comfy.run({**_crop_prompt(), "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 1]}}},
                      timeout=120)
    assert entry["status"]["status_str"] == "success", harness.error_text(entry)
    sizes = [_image_size(comfy, i) for items in _outputs_by_node(entry).values() for i in items]
    assert sizes == [(256, 256)]


def test_save_load_latent_swap_generator_and_paste_back(comfy):
    prompt = {"1": _loader(), **_crop_prompt(),
              "4": {"class_type": "StyleGANEXEncode", "inputs": {"model": ["1", 0], "image": ["3", 0],
                                                               "aligned": ["3", 1], "crop_info": ["3", 2]}},
              "5": {"class_type": "StyleGANEXSaveLatent", "inputs": {"latent": ["4", 0],
                                                                   "filename_prefix": "styleganex/test_latent"}}}
    entry = comfy.run(prompt, timeout=120)
    assert entry["status"]["status_str"] == "success", harness.error_text(entry)
    saved = entry["outputs"]["5"]["latents"][0]
    name = f"{saved['subfolder']}/{saved['filename']} [output]".lstrip("/")
    info = comfy.get("/object_info/StyleGANEXLoadLatent")["StyleGANEXLoadLatent"]
    assert name in info["input"]["required"]["latent_file"][1]["options"]
    prompt = {"1": _loader(),
              "2": {"class_type": "LoadImage", "inputs": {"image": "astronaut.png"}},
              "3": {"class_type": "StyleGANEXLoadLatent", "inputs": {"latent_file": name, "model": ["1", 0],
                                                                   "frame": ["2", 0]}},
              "4": {"class_type": "StyleGANEXSwapGenerator", "inputs": {"model": ["1", 0],
                                                                      "generator": "stylegan2_toon_g_ema.pt"}},
              "5": {"class_type": "StyleGANEXApplyEdit", "inputs": {
                  "latent": ["3", 0], "model": ["1", 0], "direction": "none", "strength": 1.0, "layer_start": 0,
                  "layer_end": 17, "style_mix": "random style", "mix_seed": 3, "mix_layer_start": 8,
                  "mix_scale": 0.7}},
              "6": {"class_type": "StyleGANEXDecode", "inputs": {"model": ["4", 0], "latent": ["5", 0], "noise": "auto",
                                                               "seed": 0, "paste_back": True, "feather": 0.1,
                                                               "crop_info": ["3", 1]}},
              "7": {"class_type": "PreviewImage", "inputs": {"images": ["6", 0]}}}
    entry = comfy.run(prompt, timeout=120)
    assert entry["status"]["status_str"] == "success", harness.error_text(entry)
    sizes = [_image_size(comfy, i) for items in _outputs_by_node(entry).values() for i in items]
    assert sizes == [(512, 512)]
    # a plain StyleGAN2 generator is not a StyleGANEX model: the loader says what to do with it
    entry = comfy.run({"1": _loader("stylegan2_toon_g_ema.pt"), **_crop_prompt(),
                       "4": {"class_type": "StyleGANEXEncode", "inputs": {"model": ["1", 0], "image": ["3", 0]}},
                       "5": {"class_type": "StyleGANEXSaveLatent", "inputs": {"latent": ["4", 0],
                                                                            "filename_prefix": "x"}}}, timeout=120)
    assert "swap_generator" in harness.error_text(entry), harness.error_text(entry)
