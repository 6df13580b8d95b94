"""The pack inside a real ComfyUI 0.3.75 server (CPU): import, /object_info, workflow templates, type
checks, interrupt and error recovery (every workflow of ``workflows/`` runs in the browser tier,
``tests/test_browser.py``, queued from the real frontend).

Marker ``comfyui``. The first run downloads ComfyUI (a 8 MB wheel) into ``.scratch/comfyui``; later
runs reuse it. Run alone with ``python -m pytest -m comfyui -q``.
"""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest

pytestmark = pytest.mark.comfyui

import harness  # noqa: E402 - tests/comfyui/harness.py (conftest.py puts its folder on sys.path)

ROOT = harness.ROOT
WORKFLOWS = sorted((ROOT / "workflows").glob("*.json"))
PACK = harness.PACK_NAME

VIDEO_TRACKING = {"faces": "STRING", "mask": "COMBO", "erode": "FLOAT", "colour_match": "BOOLEAN", "smoothing": "FLOAT",
                  "state": "STYLEGANEX_VIDEO_STATE"}
VIDEO_OUTPUTS = ["IMAGE", "MASK", "STYLEGANEX_VIDEO_STATE"]
TRAIN_OUTPUTS = ["STYLEGANEX_MODEL", "LOSS_MAP", "IMAGE", "INT"]
# a few reduced training steps: pairs from the 8 px constant, two fixed pairs, no discriminator
TRAIN_FAST = json.dumps({"pair_pool": 2, "pair_feature": 8, "adv_lambda": 0, "val_interval": 100000})

# node id -> (inputs: name -> type, outputs: types)
EXPECTED = {
    "StyleGANEXLoader": ({"ckpt_name": "COMBO", "device": "COMBO", "precision": "COMBO",
                          "download_if_missing": "BOOLEAN", "fast": "COMBO"}, ["STYLEGANEX_MODEL"]),
    "StyleGANEXFaceParserLoader": ({"parser_name": "COMBO", "device": "COMBO", "download_if_missing": "BOOLEAN"},
                                   ["STYLEGANEX_PARSER"]),
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
    **{node: ({"model": "STYLEGANEX_MODEL", **first, "steps": "INT", "batch_size": "INT", "learning_rate": "FLOAT",
               "seed": "INT", "lpips": "COMBO", "save_name": "STRING", "resume": "BOOLEAN", "options": "STRING",
               **last}, TRAIN_OUTPUTS) for node, first, last in (
        ("StyleGANEXTrainVideoEdit", {"direction": "COMBO", "strength": "FLOAT"},
         {"directions": "STYLEGANEX_DIRECTIONS", "direction_index": "INT"}),
        ("StyleGANEXTrainToonify", {"generator": "COMBO"}, {}),
        ("StyleGANEXTrainOnPhotos", {"recipe": "COMBO", "folder": "STRING", "prepare_faces": "BOOLEAN"}, {}))},
}

@pytest.fixture(scope="module")
def comfy(tmp_path_factory):
    server = harness.start_session(tmp_path_factory.mktemp("comfyui-base"),
                                   tmp_path_factory.mktemp("styleganex-models"))
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
    ours_path = f"custom_nodes/{PACK}"  # the pack as ComfyUI loads it (a clone's own folder may be named so too)
    bad = [line for line in log.splitlines()
           if ours_path in line.replace("\\", "/") and ("IMPORT FAILED" in line or "Cannot import" in line
                                                       or "Error" in line)]
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
    status, body = comfy.request("GET", urllib.parse.quote(f"/api/workflow_templates/{PACK}/{WORKFLOWS[0].name}"))
    assert status == 200 and body["nodes"], status


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
    """A prompt (UI or API) cannot make a node read a file outside ComfyUI's folders."""
    from styleganex.dev.testing import random_model, save_official_pt

    outside = save_official_pt(random_model("inversion", size=256, seed=4), tmp_path / "outside.pt")
    save_latent = {"class_type": "StyleGANEXSaveLatent", "inputs": {"latent": ["4", 0], "filename_prefix": "x"}}
    prompts = {
        "absolute path": {"1": _loader(str(outside)), **_crop_prompt(), "5": save_latent,
                          "4": {"class_type": "StyleGANEXEncode", "inputs": {"model": ["1", 0], "image": ["3", 0]}}},
        "'..'": {"4": {"class_type": "StyleGANEXLoadLatent",
                       "inputs": {"latent_file": "../../elsewhere/x.safetensors"}},
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
    outs = harness.outputs_by_node(entry)
    assert not outs.get("4"), entry.get("outputs")
    assert len(outs.get("5", [])) == 1 and harness.image_size(comfy, outs["5"][0]) == (128, 128), entry.get("outputs")
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
    sizes = [harness.image_size(comfy, i) for items in harness.outputs_by_node(entry).values() for i in items]
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
    sizes = [harness.image_size(comfy, i) for items in harness.outputs_by_node(entry).values() for i in items]
    assert sizes == [(512, 512)]
    # a plain StyleGAN2 generator is not a StyleGANEX model: the loader says what to do with it
    entry = comfy.run({"1": _loader("stylegan2_toon_g_ema.pt"), **_crop_prompt(),
                       "4": {"class_type": "StyleGANEXEncode", "inputs": {"model": ["1", 0], "image": ["3", 0]}},
                       "5": {"class_type": "StyleGANEXSaveLatent", "inputs": {"latent": ["4", 0],
                                                                            "filename_prefix": "x"}}}, timeout=120)
    assert "swap_generator" in harness.error_text(entry), harness.error_text(entry)


def test_train_video_edit_then_use_the_model_at_once(comfy):
    """Train Video Edit from the official direction file's 'smile' (stand-in weights), the loss graph through
    ComfyUI's own Plot Loss Graph node (LOSS_MAP) and ours, and the trained model straight into Video Edit;
    the run is saved in the models folder and the loader lists it."""
    prompt = {"1": _loader(),
              "2": {"class_type": "StyleGANEXTrainVideoEdit", "inputs": {
                  "model": ["1", 0], "direction": "direction_dics.pt [smile]", "strength": 1.0, "steps": 3,
                  "batch_size": 2, "learning_rate": 0.001, "seed": 0, "lpips": "off", "save_name": "tier_video_edit",
                  "resume": False, "options": TRAIN_FAST}},
              "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 2]}},
              "4": {"class_type": "LossGraphNode", "inputs": {"loss": ["2", 1], "filename_prefix": "loss_graph"}},
              "5": {"class_type": "LoadImage", "inputs": {"image": "astronaut.png"}},
              "6": {"class_type": "StyleGANEXVideoEdit", "inputs": {
                  "model": ["2", 0], "frames": ["5", 0], "editing_scale": 1.0, "crop": "first", "padding": 64,
                  "chunk_size": 1, "paste_back": False, "feather": 0.1}},
              "7": {"class_type": "PreviewImage", "inputs": {"images": ["6", 0]}}}
    entry = comfy.run(prompt, timeout=600)
    assert entry["status"]["status_str"] == "success", harness.error_text(entry) + comfy.log_tail()
    outs = harness.outputs_by_node(entry)
    assert len(outs.get("3", [])) == 1 and len(outs.get("4", [])) == 1 and len(outs.get("7", [])) == 1, outs
    folder = comfy.models / "styleganex" / "tier_video_edit"
    assert (folder / "last.pt").is_file() and (folder / "resume.pt").is_file()
    ckpts = comfy.get("/object_info/StyleGANEXLoader")["StyleGANEXLoader"]["input"]["required"]["ckpt_name"][1]
    assert "tier_video_edit/last.pt" in ckpts["options"] and "tier_video_edit/resume.pt" not in ckpts["options"]
