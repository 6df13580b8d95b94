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


# The template browser of ComfyUI's frontend (1.32.9) shows a custom node pack's workflow by its file
# name: the name is the card's title, and again its description (with "-" and "_" read as spaces); the
# thumbnail is "<name>.jpg" beside the JSON (served under /api/workflow_templates/<pack>/). So each file is
# named by its title. The longer description goes in the workflow's note and in extra.styleganex.
#
# nodes: (id, column, row, type, widget values by name, links {input: (src id, src slot)}); a column's
# nodes are stacked by row, the note goes at the bottom of column 0.
SPECS = {
    "StyleGANEX photo - invert, edit, paste back": {
        "slug": "styleganex_photo_inversion_edit_pasteback",
        "description": "Invert a photo's face into W+ and F (encoder, then 500 optimisation steps), edit it with a "
                       "direction and paste it back into the photo.",
        "models": ["styleganex_inversion.pt", "vgg16-397923af.pth", "directions/smile.npy (yours)"],
        "inputs": ["a photo with a face (astronaut.png here)"],
        "note": "Photo -> Face Crop -> Encode (step I) -> Optimize Inversion (step II, 500 steps, LPIPS-VGG) -> "
                "Apply Edit (smile.npy x 2 on w+ rows 0-7) -> Decode, pasted back into the photo; the lower Decode "
                "shows the plain reconstruction. CPU setting: the 500 steps take hours on a CPU (Optimize Inversion "
                "shows its estimate after the first steps); set steps to 50 for a first look (minutes), or "
                "bypass Optimize Inversion (Ctrl+B) to decode the encoder's latent. Needs "
                "styleganex_inversion.pt and vgg16-397923af.pth "
                "(https://download.pytorch.org/models/vgg16-397923af.pth) "
                "in models/styleganex, and an InterFaceGAN-style direction ([512] or [18, 512] .npy/.pt) in "
                "models/styleganex/directions (choose yours in Apply Edit, or use style mixing instead).",
        "nodes": [
            (1, 0, 0, *loader("styleganex_inversion.pt")),
            (2, 0, 1, "LoadImage", {"image": "astronaut.png"}, {}),
            (3, 1, 0, "StyleGANEXFaceCrop", {}, {"image": (2, 0)}),
            (4, 1, 1, "StyleGANEXEncode", {},
             {"model": (1, 0), "image": (3, 0), "aligned": (3, 1), "crop_info": (3, 2)}),
            (5, 2, 0, "StyleGANEXOptimizeInversion", {}, {"model": (1, 0), "image": (3, 0), "latent": (4, 0)}),
            (6, 2, 1, "StyleGANEXApplyEdit", {"direction": "smile.npy", "strength": 2.0, "layer_start": 0,
                                              "layer_end": 7}, {"latent": (5, 0), "model": (1, 0)}),
            (7, 3, 0, "StyleGANEXDecode", {}, {"model": (1, 0), "latent": (6, 0), "crop_info": (3, 2)}),
            (8, 4, 0, "SaveImage", {"filename_prefix": "styleganex/edit"}, {"images": (7, 0)}),
            (9, 3, 1, "StyleGANEXDecode", {"paste_back": False}, {"model": (1, 0), "latent": (5, 0)}),
            (10, 4, 1, "PreviewImage", {}, {"images": (9, 0)}),
        ],
    },
    "StyleGANEX face super-resolution 32x": {
        "slug": "styleganex_face_super_resolution",
        "description": "Super-resolve a low-resolution face 32x (here: the photo's face shrunk 8x).",
        "models": ["styleganex_sr.pt"],
        "inputs": ["a photo with a face"],
        "note": "Face Crop -> shrink 8x (a stand-in for a low-resolution face) -> Super-Resolve 32x. For a real "
                "low-resolution face, connect it to Super-Resolve directly (it is then aligned by dlib). Needs "
                "styleganex_sr.pt (4-48x) or styleganex_sr32.pt (32x) in models/styleganex.",
        "nodes": [
            (1, 0, 0, *loader("styleganex_sr.pt")),
            (2, 0, 1, "LoadImage", {"image": "astronaut.png"}, {}),
            (3, 1, 0, "StyleGANEXFaceCrop", {}, {"image": (2, 0)}),
            (4, 1, 1, "ImageScaleBy", {"upscale_method": "area", "scale_by": 0.125}, {"image": (3, 0)}),
            (5, 2, 0, "StyleGANEXSuperResolve", {"factor": 32},
             {"model": (1, 0), "image": (4, 0), "crop_info": (3, 2)}),
            (7, 2, 1, "PreviewImage", {}, {"images": (4, 0)}),
            (6, 3, 0, "SaveImage", {"filename_prefix": "styleganex/super_resolution"}, {"images": (5, 0)}),
        ],
    },
    "StyleGANEX sketch to face": {
        "slug": "styleganex_sketch_to_face",
        "description": "Turn a face sketch into several faces, each with its own random style.",
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
    "StyleGANEX photo to parsing mask to face": {
        "slug": "styleganex_photo_parsing_mask_to_face",
        "description": "Parse a photo's face into a 19-class mask and make new faces with that layout.",
        "models": ["styleganex_mask2face.pt", "faceparsing.pth"],
        "inputs": ["a photo with a face"],
        "note": "Face Crop -> Face Parse (BiSeNet, 19 classes) -> Sketch/Mask to Face: new faces with the layout of "
                "the photo. Edit the colour mask in an image editor and feed it to 'image' instead to change the "
                "layout. Needs styleganex_mask2face.pt and faceparsing.pth in models/styleganex.",
        "nodes": [
            (1, 0, 0, *loader("styleganex_mask2face.pt")),
            (2, 1, 0, "StyleGANEXFaceParserLoader", {"parser_name": "faceparsing.pth"}, {}),
            (3, 0, 1, "LoadImage", {"image": "astronaut.png"}, {}),
            (4, 1, 1, "StyleGANEXFaceCrop", {}, {"image": (3, 0)}),
            (5, 2, 1, "StyleGANEXFaceParse", {}, {"parser": (2, 0), "image": (4, 0)}),
            (6, 3, 1, "PreviewImage", {}, {"images": (5, 0)}),
            (7, 2, 0, "StyleGANEXTranslateSketch", {"number": 4}, {"model": (1, 0), "mask": (5, 1)}),
            (8, 3, 0, "SaveImage", {"filename_prefix": "styleganex/mask2face"}, {"images": (7, 0)}),
        ],
    },
    "StyleGANEX video toonify": {
        "slug": "styleganex_video_toonify",
        "description": "Toonify every frame of a video (cartoon style; arcane and pixar models work the same), "
                       "audio kept.",
        "models": ["styleganex_toonify_cartoon.pt"],
        "inputs": ["a video whose first frame shows the face (clip.mp4 here)"],
        "note": "Load Video -> frames (IMAGE batch) -> Video Toonify (crop from the first frame's face, 4x output) -> "
                "Create Video (same fps and audio) -> Save Video. Also styleganex_toonify_arcane.pt / _pixar.pt.",
        "nodes": [
            (1, 0, 0, *loader("styleganex_toonify_cartoon.pt")),
            (2, 0, 1, "LoadVideo", {"file": "clip.mp4"}, {}),
            (3, 1, 1, "GetVideoComponents", {}, {"video": (2, 0)}),
            (4, 1, 0, "StyleGANEXVideoToonify", {}, {"model": (1, 0), "frames": (3, 0)}),
            (5, 2, 0, "CreateVideo", {}, {"images": (4, 0), "fps": (3, 2), "audio": (3, 1)}),
            (6, 2, 1, "SaveVideo", {"filename_prefix": "styleganex/toonify"}, {"video": (5, 0)}),
        ],
    },
    "StyleGANEX video age edit, pasted back": {
        "slug": "styleganex_video_edit_age_pasteback",
        "description": "Make the face in a video older or younger, pasted back into every full frame.",
        "models": ["styleganex_edit_age.pt"],
        "inputs": ["a video whose first frame shows the face"],
        "note": "Frames -> Video Edit (editing_scale x the model's age vector; negative = younger) pasted back into "
                "every full frame -> video. styleganex_edit_hair.pt works the same way.",
        "nodes": [
            (1, 0, 0, *loader("styleganex_edit_age.pt")),
            (2, 0, 1, "LoadVideo", {"file": "clip.mp4"}, {}),
            (3, 1, 1, "GetVideoComponents", {}, {"video": (2, 0)}),
            (4, 1, 0, "StyleGANEXVideoEdit", {"editing_scale": 1.0, "paste_back": True},
             {"model": (1, 0), "frames": (3, 0)}),
            (5, 2, 0, "CreateVideo", {}, {"images": (4, 0), "fps": (3, 2), "audio": (3, 1)}),
            (6, 2, 1, "SaveVideo", {"filename_prefix": "styleganex/edit_age"}, {"video": (5, 0)}),
        ],
    },
}

# ---- layout and the stored view ----------------------------------------------------------------
NODE_WIDTH = 285  # the widest node's own minimum (Sketch/Mask to Face) is 282 in frontend 1.32.9
COLUMN_GAP = 30
ROW_GAP = 50  # the title bar (30) sits above a node's pos
TITLE_HEIGHT = 30
NOTE_HEIGHT = 250
# nodes that show a picture or a video under their widgets: room for it
PREVIEW_HEIGHT = {"LoadImage": 310, "LoadVideo": 400, "SaveImage": 270, "PreviewImage": 270, "SaveVideo": 270}
# The view a workflow opens with (extra.ds): the whole graph inside the part of a 1280x720 window that the
# frontend's bars leave free (tabs and banner above, side bar left, run bar at the top right, minimap and
# canvas controls at the bottom right), at a zoom where node text is still drawn (low-detail rendering
# starts below 8 px / 14 px = 0.57).
VIEW_FREE_AREA = (75, 145, 1010, 705)  # x0, y0, x1, y1 in window pixels
MIN_READABLE_SCALE = 0.6


def node_height(ctype: str, n_inputs: int, n_outputs: int, n_widgets: int) -> int:
    """At least what the frontend computes (1.32.9: ~20 px a socket row, ~26 a widget, plus the padding)."""
    return max(26 + 22 * max(n_inputs, n_outputs) + 26 * n_widgets, PREVIEW_HEIGHT.get(ctype, 0))


def stored_view(bbox: tuple[float, float, float, float]) -> dict:
    """extra.ds (scale, offset) that shows ``bbox`` (graph units: x0, y0, x1, y1) centred in VIEW_FREE_AREA;
    the frontend draws graph point p at (p + offset) * scale."""
    fx0, fy0, fx1, fy1 = VIEW_FREE_AREA
    bx0, by0, bx1, by1 = bbox
    scale = min(1.0, (fx1 - fx0) / (bx1 - bx0), (fy1 - fy0) / (by1 - by0))
    if scale < MIN_READABLE_SCALE:
        raise ValueError(f"graph of {bx1 - bx0:.0f}x{by1 - by0:.0f} needs zoom {scale:.2f} to fit: lay it out smaller")
    ox = (fx0 + fx1) / 2 / scale - (bx0 + bx1) / 2
    oy = fy0 / scale - by0
    return {"scale": round(scale, 4), "offset": [round(ox, 1), round(oy, 1)]}


def layout(nodes: list[tuple], sizes: dict[int, tuple[int, int]]) -> dict[int, tuple[int, int]]:
    """Positions: columns left to right, a column's nodes stacked by row (then the note in column 0)."""
    columns: dict[int, list[tuple[int, int]]] = {}
    for nid, col, row, *_ in nodes:
        columns.setdefault(col, []).append((row, nid))
    pos = {}
    for col in sorted(columns):
        x = col * (NODE_WIDTH + COLUMN_GAP)
        y = TITLE_HEIGHT
        for _, nid in sorted(columns[col]):
            pos[nid] = (x, y)
            y += sizes[nid][1] + ROW_GAP
    return pos


def edit_directions_workflow() -> dict:
    """Invert once, then only decode: the official directions by name, a SeFa direction of the model itself
    and a strength sweep."""
    from styleganex.io.directions import OFFICIAL_FILE, OFFICIAL_URL
    from styleganex.pipelines.editing import NADA_REPO

    return {
        "slug": "styleganex_photo_edit_directions_sefa_sweep",
        "description": "Invert a photo once, then edit it with the official directions by name and a SeFa direction "
                       "of the model itself, and sweep a strength as a filmstrip.",
        "models": ["styleganex_inversion.pt", "vgg16-397923af.pth", f"directions/{OFFICIAL_FILE}"],
        "model_files": [
            {"name": "styleganex_inversion.pt", "url": HUB + "styleganex_inversion.pt", "directory": "styleganex"},
            {"name": "vgg16-397923af.pth", "url": "https://download.pytorch.org/models/vgg16-397923af.pth",
             "directory": "styleganex"},
            {"name": OFFICIAL_FILE, "url": OFFICIAL_URL, "directory": "styleganex_directions"},
        ],
        "inputs": ["a photo with a face (astronaut.png here)"],
        "note": "Face Crop -> Encode -> Optimize Inversion: the photo is inverted once; every node after it only "
                "edits w+ and decodes, so changing a strength re-runs just those nodes. Apply Edit 'direction_dics.pt "
                "[smile]' (the official web demo's directions by name: smile, open_eye, open_mouth, pose, "
                "reduce_age, glasses, light_hair_color, slender; rows -1/-1 = the direction's own) -> Decode, "
                "pasted back. SeFa Directions factorises the model's own weights (rows 0-5, no download); Edit "
                "Sweep renders its direction 0 on the smiling latent at 5 strengths over SeFa's range (-15..15) as "
                "a filmstrip. CPU setting: set Optimize Inversion's steps to 50 (minutes instead of hours). Files: "
                f"{OFFICIAL_FILE} from {OFFICIAL_URL} into models/styleganex/directions. For domain transfer, add "
                f"Swap Generator with a StyleGAN-NADA generator (disney_princess, vintage_comics, pixar, "
                f"edvard_munch, modigliani .pt from {NADA_REPO}, into models/styleganex).",
        "nodes": [
            (1, 0, 0, *loader("styleganex_inversion.pt")),
            (2, 0, 1, "LoadImage", {"image": "astronaut.png"}, {}),
            (3, 1, 0, "StyleGANEXFaceCrop", {}, {"image": (2, 0)}),
            (4, 1, 1, "StyleGANEXEncode", {},
             {"model": (1, 0), "image": (3, 0), "aligned": (3, 1), "crop_info": (3, 2)}),
            (5, 2, 0, "StyleGANEXOptimizeInversion", {}, {"model": (1, 0), "image": (3, 0), "latent": (4, 0)}),
            (6, 2, 1, "StyleGANEXApplyEdit", {"direction": f"{OFFICIAL_FILE} [smile]", "strength": 1.5},
             {"latent": (5, 0)}),
            (7, 3, 0, "StyleGANEXSeFaDirections", {"layers": "0-5", "top_k": 5}, {"model": (1, 0)}),
            (8, 3, 1, "StyleGANEXDecode", {}, {"model": (1, 0), "latent": (6, 0), "crop_info": (3, 2)}),
            (9, 3, 2, "StyleGANEXEditSweep", {"frames": 5, "direction_index": 0},
             {"model": (1, 0), "latent": (6, 0), "directions": (7, 0)}),
            (10, 4, 0, "SaveImage", {"filename_prefix": "styleganex/edit_smile"}, {"images": (8, 0)}),
            (11, 4, 1, "SaveImage", {"filename_prefix": "styleganex/sweep_sefa0"}, {"images": (9, 0)}),
        ],
    }


def group_photo_workflow() -> dict:
    """A group photo: every face inverted, edited and pasted back into the one photo."""
    return {
        "slug": "styleganex_group_photo_every_face",
        "description": "Every face of a group photo inverted, edited and pasted back into the one photo, with the "
                       "numbered preview and the mask of the pasted region.",
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
            (3, 1, 0, "StyleGANEXFaceCrop", {"select": "all"}, {"image": (2, 0)}),
            (4, 1, 1, "PreviewImage", {}, {"images": (3, 3)}),
            (5, 2, 0, "StyleGANEXEncode", {},
             {"model": (1, 0), "image": (3, 0), "aligned": (3, 1), "crop_info": (3, 2)}),
            (6, 2, 1, "StyleGANEXOptimizeInversion", {}, {"model": (1, 0), "image": (3, 0), "latent": (5, 0)}),
            (7, 3, 0, "StyleGANEXApplyEdit", {"direction": "smile.npy", "strength": 2.0, "layer_start": 0,
                                              "layer_end": 7}, {"latent": (6, 0), "model": (1, 0)}),
            (8, 3, 1, "StyleGANEXDecode", {"mask": "face", "colour_match": True},
             {"model": (1, 0), "latent": (7, 0), "crop_info": (3, 2)}),
            (9, 4, 0, "SaveImage", {"filename_prefix": "styleganex/group"}, {"images": (8, 0)}),
            (10, 4, 1, "MaskToImage", {}, {"mask": (8, 1)}),
            (11, 4, 2, "PreviewImage", {}, {"images": (10, 0)}),
        ],
    }


def train_video_edit_workflow() -> dict:
    """Train a video editing model for a direction in the graph, then edit a video with it at once."""
    from styleganex.io.directions import OFFICIAL_FILE, OFFICIAL_URL
    from styleganex.pipelines.lpips import ALEX_FILE, ALEX_URL

    return {
        "slug": "styleganex_train_video_edit_direction",
        "description": "Train a video editing model for any direction (here the official 'smile'), then edit a "
                       "video with the trained model at once.",
        "models": ["styleganex_inversion.pt", ALEX_FILE, f"directions/{OFFICIAL_FILE}"],
        "model_files": [
            {"name": "styleganex_inversion.pt", "url": HUB + "styleganex_inversion.pt", "directory": "styleganex"},
            {"name": OFFICIAL_FILE, "url": OFFICIAL_URL, "directory": "styleganex_directions"},
        ],  # the LPIPS backbone is named in the note (lpips alex or vgg: either file)
        "inputs": ["a video whose first frame shows the face"],
        "note": "Train Video Edit starts from styleganex_inversion.pt and learns the edit 'direction_dics.pt [smile]' "
                "(the release's video_edit recipe: pairs x = G(w) at a quarter size, y = G(w + s v) from the frozen "
                "generator every step; no dataset). The run is saved in models/styleganex/styleganex_video_edit/ "
                "(last.pt appears in Load StyleGANEX as styleganex_video_edit/last.pt; turn resume on to continue "
                "it). The trained model goes straight into Video Edit; loss_graph shows every loss term. Cancel "
                "stops at the next step and keeps the run. GPU setting: the release trains 10000+ steps; 2000 "
                "show the edit. CPU setting: set steps to 20 and options to {\"adv_lambda\": 0} for a first look. "
                f"Files: {ALEX_FILE} ({ALEX_URL}, LPIPS-AlexNet as the release; or lpips vgg with "
                f"vgg16-397923af.pth) into models/styleganex, {OFFICIAL_FILE} from {OFFICIAL_URL} into "
                "models/styleganex/directions.",
        "nodes": [
            (1, 0, 0, *loader("styleganex_inversion.pt")),
            (2, 1, 0, "StyleGANEXTrainVideoEdit", {"direction": f"{OFFICIAL_FILE} [smile]", "steps": 2000},
             {"model": (1, 0)}),
            (3, 0, 1, "LoadVideo", {"file": "clip.mp4"}, {}),
            (4, 1, 1, "GetVideoComponents", {}, {"video": (3, 0)}),
            (5, 2, 0, "StyleGANEXVideoEdit", {"editing_scale": 1.0, "paste_back": True},
             {"model": (2, 0), "frames": (4, 0)}),
            (6, 2, 1, "PreviewImage", {}, {"images": (2, 2)}),
            (7, 3, 0, "CreateVideo", {}, {"images": (5, 0), "fps": (4, 2), "audio": (4, 1)}),
            (8, 3, 1, "SaveVideo", {"filename_prefix": "styleganex/trained_edit"}, {"video": (7, 0)}),
        ],
    }


SPECS["StyleGANEX photo - invert once, edit by name, SeFa, sweep"] = edit_directions_workflow()
SPECS["StyleGANEX group photo - every face edited, pasted back"] = group_photo_workflow()
SPECS["StyleGANEX train a video edit from a direction"] = train_video_edit_workflow()


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

    kept = [n for n in spec["nodes"] if n[0] in nodes_by_id]
    widgets_of = {nid: _widget_values(object_info[ctype], given) for nid, _, _, ctype, given, _ in kept}
    sizes = {nid: (NODE_WIDTH, node_height(ctype, len(inputs_of[nid]), len(object_info[ctype]["output"]),
                                           len(widgets_of[nid])))
             for nid, _, _, ctype, _, _ in kept}
    positions = layout(kept, sizes)
    for order, (nid, col, row, ctype, given, wired) in enumerate(kept):
        info = object_info[ctype]
        outputs = []
        for slot, (otype, oname) in enumerate(zip(info["output"], info["output_name"])):
            outputs.append({"name": oname, "type": otype, "slot_index": slot,
                            "links": outputs_links.get((nid, slot), [])})
        props = {"Node name for S&R": ctype}
        if ctype == "StyleGANEXLoader":
            props["models"] = [{"name": given["ckpt_name"], "url": HUB + given["ckpt_name"], "directory": "styleganex"}]
        if ctype == "StyleGANEXFaceParserLoader":
            props["models"] = [{"name": given["parser_name"], "url": HUB + given["parser_name"],
                                "directory": "styleganex"}]
        ui_nodes.append({
            "id": nid, "type": ctype, "pos": list(positions[nid]), "size": list(sizes[nid]),
            "flags": {}, "order": order, "mode": 0, "inputs": inputs_of[nid], "outputs": outputs,
            "properties": props, "widgets_values": widgets_of[nid],
        })
    note_id = max(nodes_by_id) + 1
    text = (f"{name}\n\n{spec['description']}\n\n{spec['note']}\n\nModel files (models/styleganex): "
            f"{', '.join(spec['models'])}\nDownload: {HUB.replace('/resolve/', '/tree/').rstrip('/')}, or set "
            f"download_if_missing on the loader to have ComfyUI fetch a missing official file into "
            f"models/styleganex\n{LICENSE}\n"
            f"Inputs: {'; '.join(spec['inputs'])}")
    column0 = [n for n in ui_nodes if n["pos"][0] == 0]
    note_y = max(n["pos"][1] + n["size"][1] for n in column0) + ROW_GAP
    ui_nodes.append({"id": note_id, "type": "Note", "pos": [0, note_y], "size": [NODE_WIDTH, NOTE_HEIGHT],
                     "flags": {}, "order": len(ui_nodes), "mode": 0, "inputs": [], "outputs": [],
                     "properties": {}, "widgets_values": [text]})
    bbox = (min(n["pos"][0] for n in ui_nodes), min(n["pos"][1] for n in ui_nodes) - TITLE_HEIGHT,
            max(n["pos"][0] + n["size"][0] for n in ui_nodes), max(n["pos"][1] + n["size"][1] for n in ui_nodes))
    models = spec.get("model_files") or [
        {"name": m, "url": (HUB + m) if m.startswith(("styleganex_", "faceparsing")) else
         "https://download.pytorch.org/models/" + m, "directory": "styleganex"} for m in spec["models"]
        if not m.endswith("(yours)")]
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"comfyui-styleganex/{spec['slug']}")),
        "revision": 0,
        "last_node_id": note_id,
        "last_link_id": link_id,
        "nodes": ui_nodes,
        "links": links,
        "groups": [],
        "config": {},
        "extra": {"ds": stored_view(bbox),
                  "styleganex": {"title": name, "description": spec["description"], "models": spec["models"],
                                 "inputs": spec["inputs"], "license": LICENSE}},
        "models": models,
        "version": 0.4,
    }


def write_all(object_info: dict, out_dir: Path = WORKFLOWS_DIR) -> list[Path]:
    out_dir.mkdir(exist_ok=True)
    written = []
    for old in list(out_dir.glob("*.json")) + list(out_dir.glob("*.jpg")):
        if old.stem not in SPECS:
            old.unlink()  # a renamed or removed workflow (and its thumbnail)
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
