"""Write ``workflows/*.json`` (ComfyUI UI format) from compact specs and a server's /object_info.

    python tests/comfyui/make_workflows.py            # boots the test ComfyUI (harness), writes the files
    python tests/comfyui/make_workflows.py info.json  # uses a saved /object_info instead

Widgets are laid out as the frontend does (required then optional inputs, in order; a seed is
followed by its "fixed/randomize" value; image/video upload combos by the upload button's value), so
the committed files load in the frontend and convert back to API prompts (``harness.ui_to_api``).
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness  # noqa: E402

WORKFLOWS_DIR = harness.ROOT / "workflows"
HUB = "https://huggingface.co/PKUWilliamYang/StyleGANEX/resolve/main/pretrained_models/"
LICENSE = "Official StyleGANEX weights: S-Lab License 1.0, non-commercial use only."


def loader(ckpt):
    return ("StyleGANEXLoader", {"ckpt_name": ckpt}, {})


# (id, column, row, type, widget values by name, links {input: (src id, src slot)})
SPECS = {
    "styleganex_photo_inversion_edit_pasteback": {
        "title": "Photo: invert, edit, paste back",
        "models": ["styleganex_inversion.pt", "vgg16-397923af.pth", "directions/smile.npy (yours)"],
        "inputs": ["a photo with a face (astronaut.png here)"],
        "note": "Photo -> Face Crop -> Encode (step I) -> Optimize Inversion (step II, 500 steps, LPIPS-VGG) -> "
                "Apply Edit (smile.npy x 2 on w+ rows 0-7) -> Decode, pasted back into the photo; the lower Decode "
                "shows the plain reconstruction. Needs styleganex_inversion.pt and vgg16-397923af.pth "
                "(https://download.pytorch.org/models/vgg16-397923af.pth) in models/styleganex, and an "
                "InterFaceGAN-style direction ([512] or [18, 512] .npy/.pt) in models/styleganex/directions "
                "(choose yours in Apply Edit, or use style mixing instead).",
        "nodes": [
            (1, 0, 0, *loader("styleganex_inversion.pt")),
            (2, 0, 1, "LoadImage", {"image": "astronaut.png"}, {}),
            (3, 1, 1, "StyleGANEXFaceCrop", {}, {"image": (2, 0)}),
            (4, 2, 0, "StyleGANEXEncode", {},
             {"model": (1, 0), "image": (3, 0), "aligned": (3, 1), "crop_info": (3, 2)}),
            (5, 3, 0, "StyleGANEXOptimizeInversion", {}, {"model": (1, 0), "image": (3, 0), "latent": (4, 0)}),
            (6, 4, 0, "StyleGANEXApplyEdit", {"direction": "smile.npy", "strength": 2.0, "layer_start": 0,
                                              "layer_end": 7}, {"latent": (5, 0), "model": (1, 0)}),
            (7, 5, 0, "StyleGANEXDecode", {}, {"model": (1, 0), "latent": (6, 0), "crop_info": (3, 2)}),
            (8, 6, 0, "SaveImage", {"filename_prefix": "styleganex/edit"}, {"images": (7, 0)}),
            (9, 5, 1, "StyleGANEXDecode", {"paste_back": False}, {"model": (1, 0), "latent": (5, 0)}),
            (10, 6, 1, "PreviewImage", {}, {"images": (9, 0)}),
        ],
    },
    "styleganex_face_super_resolution": {
        "title": "Face super-resolution (32x)",
        "models": ["styleganex_sr.pt"],
        "inputs": ["a photo with a face"],
        "note": "Face Crop -> shrink 8x (a stand-in for a low-resolution face) -> Super-Resolve 32x. For a real "
                "low-resolution face, connect it to Super-Resolve directly (it is then aligned by dlib). Needs "
                "styleganex_sr.pt (4-48x) or styleganex_sr32.pt (32x) in models/styleganex.",
        "nodes": [
            (1, 0, 0, *loader("styleganex_sr.pt")),
            (2, 0, 1, "LoadImage", {"image": "astronaut.png"}, {}),
            (3, 1, 1, "StyleGANEXFaceCrop", {}, {"image": (2, 0)}),
            (4, 2, 1, "ImageScaleBy", {"upscale_method": "area", "scale_by": 0.125}, {"image": (3, 0)}),
            (5, 3, 0, "StyleGANEXSuperResolve", {"factor": 32},
             {"model": (1, 0), "image": (4, 0), "crop_info": (3, 2)}),
            (6, 4, 0, "SaveImage", {"filename_prefix": "styleganex/super_resolution"}, {"images": (5, 0)}),
            (7, 3, 1, "PreviewImage", {}, {"images": (4, 0)}),
        ],
    },
    "styleganex_sketch_to_face": {
        "title": "Sketch to face",
        "models": ["styleganex_sketch2face.pt"],
        "inputs": ["a black-on-white face sketch (sketch.png here)"],
        "note": "A sketch (dark lines on white, any size; the release uses 512x512) -> 4 faces, each with its own "
                "random style for the upper layers. Needs styleganex_sketch2face.pt in models/styleganex.",
        "nodes": [
            (1, 0, 0, *loader("styleganex_sketch2face.pt")),
            (2, 0, 1, "LoadImage", {"image": "sketch.png"}, {}),
            (3, 1, 0, "StyleGANEXTranslateSketch", {"number": 4}, {"model": (1, 0), "image": (2, 0)}),
            (4, 2, 0, "SaveImage", {"filename_prefix": "styleganex/sketch2face"}, {"images": (3, 0)}),
        ],
    },
    "styleganex_photo_parsing_mask_to_face": {
        "title": "Photo -> parsing mask -> face",
        "models": ["styleganex_mask2face.pt", "faceparsing.pth"],
        "inputs": ["a photo with a face"],
        "note": "Face Crop -> Face Parse (BiSeNet, 19 classes) -> Sketch/Mask to Face: new faces with the layout of "
                "the photo. Edit the colour mask in an image editor and feed it to 'image' instead to change the "
                "layout. Needs styleganex_mask2face.pt and faceparsing.pth in models/styleganex.",
        "nodes": [
            (1, 0, 0, *loader("styleganex_mask2face.pt")),
            (2, 0, 1, "StyleGANEXFaceParserLoader", {"parser_name": "faceparsing.pth"}, {}),
            (3, 0, 2, "LoadImage", {"image": "astronaut.png"}, {}),
            (4, 1, 2, "StyleGANEXFaceCrop", {}, {"image": (3, 0)}),
            (5, 2, 1, "StyleGANEXFaceParse", {}, {"parser": (2, 0), "image": (4, 0)}),
            (6, 3, 2, "PreviewImage", {}, {"images": (5, 0)}),
            (7, 3, 0, "StyleGANEXTranslateSketch", {"number": 4}, {"model": (1, 0), "mask": (5, 1)}),
            (8, 4, 0, "SaveImage", {"filename_prefix": "styleganex/mask2face"}, {"images": (7, 0)}),
        ],
    },
    "styleganex_video_toonify": {
        "title": "Video toonify",
        "models": ["styleganex_toonify_cartoon.pt"],
        "inputs": ["a video whose first frame shows the face (clip.mp4 here)"],
        "note": "Load Video -> frames (IMAGE batch) -> Video Toonify (crop from the first frame's face, 4x output) -> "
                "Create Video (same fps and audio) -> Save Video. Also styleganex_toonify_arcane.pt / _pixar.pt.",
        "nodes": [
            (1, 0, 0, *loader("styleganex_toonify_cartoon.pt")),
            (2, 0, 1, "LoadVideo", {"file": "clip.mp4"}, {}),
            (3, 1, 1, "GetVideoComponents", {}, {"video": (2, 0)}),
            (4, 2, 0, "StyleGANEXVideoToonify", {}, {"model": (1, 0), "frames": (3, 0)}),
            (5, 3, 0, "CreateVideo", {}, {"images": (4, 0), "fps": (3, 2), "audio": (3, 1)}),
            (6, 4, 0, "SaveVideo", {"filename_prefix": "styleganex/toonify"}, {"video": (5, 0)}),
        ],
    },
    "styleganex_video_edit_age_pasteback": {
        "title": "Video age edit, pasted back",
        "models": ["styleganex_edit_age.pt"],
        "inputs": ["a video whose first frame shows the face"],
        "note": "Frames -> Video Edit (editing_scale x the model's age vector; negative = younger) pasted back into "
                "every full frame -> video. styleganex_edit_hair.pt works the same way.",
        "nodes": [
            (1, 0, 0, *loader("styleganex_edit_age.pt")),
            (2, 0, 1, "LoadVideo", {"file": "clip.mp4"}, {}),
            (3, 1, 1, "GetVideoComponents", {}, {"video": (2, 0)}),
            (4, 2, 0, "StyleGANEXVideoEdit", {"editing_scale": 1.0, "paste_back": True},
             {"model": (1, 0), "frames": (3, 0)}),
            (5, 3, 0, "CreateVideo", {}, {"images": (4, 0), "fps": (3, 2), "audio": (3, 1)}),
            (6, 4, 0, "SaveVideo", {"filename_prefix": "styleganex/edit_age"}, {"video": (5, 0)}),
        ],
    },
}


def edit_directions_workflow() -> dict:
    """Invert once, then only decode: the official directions by name, a SeFa direction of the model itself,
    a StyleGAN-NADA generator (domain transfer) and a strength sweep."""
    from styleganex.directions import OFFICIAL_FILE, OFFICIAL_URL
    from styleganex.editing import NADA_REPO

    nada = "disney_princess.pt"
    return {
        "title": "Photo: invert once, edit by name and with SeFa, sweep, domain transfer",
        "models": ["styleganex_inversion.pt", "vgg16-397923af.pth", f"directions/{OFFICIAL_FILE}", nada],
        "model_files": [
            {"name": "styleganex_inversion.pt", "url": HUB + "styleganex_inversion.pt", "directory": "styleganex"},
            {"name": "vgg16-397923af.pth", "url": "https://download.pytorch.org/models/vgg16-397923af.pth",
             "directory": "styleganex"},
            {"name": OFFICIAL_FILE, "url": OFFICIAL_URL, "directory": "styleganex_directions"},
            {"name": nada, "url": f"{NADA_REPO}/resolve/main/{nada}", "directory": "styleganex"},
        ],
        "inputs": ["a photo with a face (astronaut.png here)"],
        "note": "Face Crop -> Encode -> Optimize Inversion: the photo is inverted once; every node after it only "
                "edits w+ and decodes, so changing a strength re-runs just those nodes. Apply Edit 'direction_dics.pt "
                "[smile]' (the official web demo's directions by name: smile, open_eye, open_mouth, pose, "
                "reduce_age, glasses, light_hair_color, slender; rows -1/-1 = the direction's own) -> Apply Edit "
                "with SeFa direction 0 of the model's own weights (rows 0-5, no download) -> Decode, pasted back. "
                "Edit Sweep renders smile at 5 strengths over its own range (-2..2) as a filmstrip. Swap Generator "
                f"decodes the smile edit with the StyleGAN-NADA '{nada}' generator. Files: {OFFICIAL_FILE} from "
                f"{OFFICIAL_URL} into models/styleganex/directions; {nada} (also vintage_comics, pixar, "
                f"edvard_munch, modigliani) from {NADA_REPO} into models/styleganex (StyleGAN-NADA code: MIT; see the "
                "hub repository for the models' licence).",
        "nodes": [
            (1, 0, 0, *loader("styleganex_inversion.pt")),
            (2, 0, 1, "LoadImage", {"image": "astronaut.png"}, {}),
            (3, 1, 1, "StyleGANEXFaceCrop", {}, {"image": (2, 0)}),
            (4, 2, 0, "StyleGANEXEncode", {},
             {"model": (1, 0), "image": (3, 0), "aligned": (3, 1), "crop_info": (3, 2)}),
            (5, 3, 0, "StyleGANEXOptimizeInversion", {}, {"model": (1, 0), "image": (3, 0), "latent": (4, 0)}),
            (6, 4, 0, "StyleGANEXApplyEdit", {"direction": f"{OFFICIAL_FILE} [smile]", "strength": 1.5},
             {"latent": (5, 0)}),
            (7, 4, 1, "StyleGANEXSeFaDirections", {"layers": "0-5", "top_k": 5}, {"model": (1, 0)}),
            (8, 5, 0, "StyleGANEXApplyEdit", {"direction": "none", "strength": 8.0, "direction_index": 0},
             {"latent": (6, 0), "directions": (7, 0)}),
            (9, 6, 0, "StyleGANEXDecode", {}, {"model": (1, 0), "latent": (8, 0), "crop_info": (3, 2)}),
            (10, 7, 0, "SaveImage", {"filename_prefix": "styleganex/edit_smile_sefa"}, {"images": (9, 0)}),
            (11, 4, 2, "StyleGANEXEditSweep", {"direction": f"{OFFICIAL_FILE} [smile]", "frames": 5},
             {"model": (1, 0), "latent": (5, 0)}),
            (12, 5, 2, "SaveImage", {"filename_prefix": "styleganex/sweep_smile"}, {"images": (11, 0)}),
            (13, 5, 3, "StyleGANEXSwapGenerator", {"generator": nada}, {"model": (1, 0)}),
            (14, 6, 3, "StyleGANEXDecode", {}, {"model": (13, 0), "latent": (6, 0), "crop_info": (3, 2)}),
            (15, 7, 3, "SaveImage", {"filename_prefix": "styleganex/smile_disney_princess"}, {"images": (14, 0)}),
        ],
    }


def group_photo_workflow() -> dict:
    """A group photo: every face inverted, edited and pasted back into the one photo."""
    return {
        "title": "Group photo: every face edited and pasted back",
        "models": ["styleganex_inversion.pt", "vgg16-397923af.pth", "directions/smile.npy (yours)"],
        "inputs": ["a photo with several faces (group.png here)"],
        "note": "Photo -> Face Crop (select: all; the preview numbers every face left to right, so 'indices' can "
                "pick some, e.g. 0,2; unusable faces are marked with the reason) -> Encode -> Optimize Inversion -> "
                "Apply Edit (smile.npy x 2 on w+ rows 0-7) -> Decode: each face is pasted back into the one photo "
                "with a mask that follows the face, faded inside its border, colours matched to the photo around "
                "it. The mask output (previewed below) shows the changed region, for inpainting or blending. "
                "Connect a Face Parser Loader to Decode's parser input for masks from the parsed face; set mask "
                "to 'head' for hair edits. Needs styleganex_inversion.pt and vgg16-397923af.pth in "
                "models/styleganex and a direction in models/styleganex/directions.",
        "nodes": [
            (1, 0, 0, *loader("styleganex_inversion.pt")),
            (2, 0, 1, "LoadImage", {"image": "group.png"}, {}),
            (3, 1, 1, "StyleGANEXFaceCrop", {"select": "all"}, {"image": (2, 0)}),
            (4, 2, 2, "PreviewImage", {}, {"images": (3, 3)}),
            (5, 2, 0, "StyleGANEXEncode", {},
             {"model": (1, 0), "image": (3, 0), "aligned": (3, 1), "crop_info": (3, 2)}),
            (6, 3, 0, "StyleGANEXOptimizeInversion", {}, {"model": (1, 0), "image": (3, 0), "latent": (5, 0)}),
            (7, 4, 0, "StyleGANEXApplyEdit", {"direction": "smile.npy", "strength": 2.0, "layer_start": 0,
                                              "layer_end": 7}, {"latent": (6, 0), "model": (1, 0)}),
            (8, 5, 0, "StyleGANEXDecode", {"mask": "face", "colour_match": True},
             {"model": (1, 0), "latent": (7, 0), "crop_info": (3, 2)}),
            (9, 6, 0, "SaveImage", {"filename_prefix": "styleganex/group"}, {"images": (8, 0)}),
            (10, 6, 1, "MaskToImage", {}, {"mask": (8, 1)}),
            (11, 7, 1, "PreviewImage", {}, {"images": (10, 0)}),
        ],
    }


SPECS["styleganex_photo_edit_directions_sefa_sweep"] = edit_directions_workflow()
SPECS["styleganex_group_photo_every_face"] = group_photo_workflow()


def _default(name: str, opts: dict, spec_type):
    if "default" in opts:
        return opts["default"]
    options = spec_type if isinstance(spec_type, list) else opts.get("options") or []
    if options:
        return options[0]
    raise ValueError(f"no value and no default for widget {name}")


def _widget_values(info: dict, given: dict) -> list:
    values = []
    used = set()
    specs = {**info["input"].get("required", {}), **info["input"].get("optional", {})}
    for name, opts in harness.widget_inputs(info):
        value = given[name] if name in given else _default(name, opts, specs[name][0])
        used.add(name)
        values.append(value)
        if opts.get("control_after_generate") or name in ("seed", "noise_seed"):
            values.append("fixed")
    for name, opts in harness.widget_inputs(info):
        if opts.get("image_upload") or opts.get("video_upload"):
            values.append("image")
    unknown = set(given) - used
    if unknown:
        raise KeyError(f"{info['name']}: no widget named {sorted(unknown)}")
    return values


def _socket_inputs(info: dict) -> list[tuple[str, str, bool]]:
    """(name, type, is_widget) of every input that can take a link, in order."""
    out = []
    widgets = {n for n, _ in harness.widget_inputs(info)}
    order = info.get("input_order") or {}
    for group in ("required", "optional"):
        specs = info["input"].get(group, {})
        for name in order.get(group, list(specs)):
            typ = specs[name][0]
            out.append((name, "COMBO" if isinstance(typ, list) else typ, name in widgets))
    return out


def build(name: str, spec: dict, object_info: dict) -> dict:
    nodes_by_id = {n[0]: n for n in spec["nodes"] if n[3] in object_info}
    links, ui_nodes, link_id = [], [], 0
    outputs_links: dict[tuple[int, int], list[int]] = {}
    inputs_of: dict[int, list[dict]] = {}
    # resolve skipped nodes (a type the server lacks) by passing their first input through
    def source(src):
        nid, slot = src
        if nid in nodes_by_id:
            return nid, slot
        node = next(n for n in spec["nodes"] if n[0] == nid)
        return source(next(iter(node[5].values())))

    for nid, col, row, ctype, given, wired in spec["nodes"]:
        if nid not in nodes_by_id:
            continue
        info = object_info[ctype]
        entries = []
        for in_name, in_type, is_widget in _socket_inputs(info):
            if in_name not in wired and is_widget:
                continue
            entry = {"name": in_name, "type": in_type, "link": None}
            if is_widget:
                entry["widget"] = {"name": in_name}
            if in_name in wired:
                src_id, src_slot = source(wired[in_name])
                out_type = object_info[nodes_by_id[src_id][3]]["output"][src_slot]
                if out_type != in_type and in_type != "*":
                    raise TypeError(f"{name}: {ctype}.{in_name} ({in_type}) <- node {src_id} slot {src_slot} "
                                    f"({out_type})")
                link_id += 1
                links.append([link_id, src_id, src_slot, nid, len(entries), in_type])
                outputs_links.setdefault((src_id, src_slot), []).append(link_id)
                entry["link"] = link_id
            entries.append(entry)
        missing = set(wired) - {e["name"] for e in entries}
        if missing:
            raise KeyError(f"{name}: {ctype} has no input {sorted(missing)}")
        inputs_of[nid] = entries

    for order, (nid, col, row, ctype, given, wired) in enumerate(n for n in spec["nodes"] if n[0] in nodes_by_id):
        info = object_info[ctype]
        outputs = []
        for slot, (otype, oname) in enumerate(zip(info["output"], info["output_name"])):
            outputs.append({"name": oname, "type": otype, "slot_index": slot,
                            "links": outputs_links.get((nid, slot), [])})
        widgets = _widget_values(info, given)
        props = {"Node name for S&R": ctype}
        if ctype == "StyleGANEXLoader":
            props["models"] = [{"name": given["ckpt_name"], "url": HUB + given["ckpt_name"], "directory": "styleganex"}]
        if ctype == "StyleGANEXFaceParserLoader":
            props["models"] = [{"name": given["parser_name"], "url": HUB + given["parser_name"],
                                "directory": "styleganex"}]
        height = 46 + 24 * (len(inputs_of[nid]) + max(len(outputs), 1)) + 26 * len(widgets)
        ui_nodes.append({
            "id": nid, "type": ctype, "pos": [60 + 380 * col, 80 + 340 * row], "size": [330, height],
            "flags": {}, "order": order, "mode": 0, "inputs": inputs_of[nid], "outputs": outputs,
            "properties": props, "widgets_values": widgets,
        })
    note_id = max(nodes_by_id) + 1
    text = (f"{spec['title']}\n\n{spec['note']}\n\nModel files (models/styleganex): {', '.join(spec['models'])}\n"
            f"Download: {HUB.replace('/resolve/', '/tree/').rstrip('/')}\n{LICENSE}\n"
            f"Inputs: {'; '.join(spec['inputs'])}")
    ui_nodes.append({"id": note_id, "type": "Note", "pos": [60, -260], "size": [760, 220], "flags": {},
                     "order": len(ui_nodes), "mode": 0, "inputs": [], "outputs": [],
                     "properties": {}, "widgets_values": [text]})
    models = spec.get("model_files") or [
        {"name": m, "url": (HUB + m) if m.startswith(("styleganex_", "faceparsing")) else
         "https://download.pytorch.org/models/" + m, "directory": "styleganex"} for m in spec["models"]
        if not m.endswith("(yours)")]
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"comfyui-styleganex/{name}")),
        "revision": 0,
        "last_node_id": note_id,
        "last_link_id": link_id,
        "nodes": ui_nodes,
        "links": links,
        "groups": [],
        "config": {},
        "extra": {"ds": {"scale": 0.8, "offset": [0, 0]},
                  "styleganex": {"title": spec["title"], "models": spec["models"], "inputs": spec["inputs"],
                                 "license": LICENSE}},
        "models": models,
        "version": 0.4,
    }


def write_all(object_info: dict, out_dir: Path = WORKFLOWS_DIR) -> list[Path]:
    out_dir.mkdir(exist_ok=True)
    written = []
    for name, spec in SPECS.items():
        path = out_dir / f"{name}.json"
        path.write_text(json.dumps(build(name, spec, object_info), indent=1) + "\n")
        written.append(path)
    return written


def _object_info_from_server() -> dict:
    import shutil
    import tempfile

    comfy = harness.ensure_comfyui()
    harness.ensure_requirements()
    tmp = Path(tempfile.mkdtemp(prefix="sgx-wf-"))
    try:
        yaml = harness.make_base_dir(tmp / "base", tmp / "models")
        harness.write_test_inputs(tmp / "base" / "input")
        server = harness.ComfyServer(comfy, tmp / "base", yaml)
        server.start()
        try:
            return server.get("/object_info")
        finally:
            server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    info = json.loads(Path(sys.argv[1]).read_text()) if len(sys.argv) > 1 else _object_info_from_server()
    for p in write_all(info):
        print(p.relative_to(harness.ROOT))
