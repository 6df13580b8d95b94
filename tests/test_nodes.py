"""Fast tests of the ComfyUI nodes without a server: the node classes are called directly.

They use the real ``comfy_api`` (and ``comfy.utils``, ``comfy.model_management``, ``folder_paths``)
of the ComfyUI that the ``comfyui`` tier unpacks into ``.scratch/comfyui``; where it cannot be
prepared or imported, they are skipped (they fail under CI, where a skip would hide a missing step). The
entry-point and workflow-file checks need no ComfyUI.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "comfyui_styleganex_pack"
WORKFLOWS = sorted((ROOT / "workflows").glob("*.json"))

import harness  # noqa: E402 - tests/comfyui/harness.py (conftest.py puts its folder on sys.path)


# ---- no ComfyUI needed ------------------------------------------------------------------------
def test_entry_point_imports_without_comfyui():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('pack', {str(ROOT / '__init__.py')!r}, "
        f"submodule_search_locations=[{str(ROOT)!r}])\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['pack'] = m; spec.loader.exec_module(m)\n"
        "assert callable(m.comfy_entrypoint)\n"
        "assert not hasattr(m, 'NODE_CLASS_MAPPINGS'), 'NODE_CLASS_MAPPINGS would hide comfy_entrypoint'\n"
        "assert not [k for k in sys.modules if k == 'comfy' or k.startswith(('comfy.', 'comfy_api', 'torch'))]\n"
        "import styleganex\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(ROOT))
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_requirements_leave_torch_to_comfyui():
    reqs = [line.split("#")[0].strip().lower() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    names = {r.split("=")[0].split(">")[0].split("<")[0].split("[")[0].strip() for r in reqs if r}
    assert not names & {"torch", "torchvision", "torchaudio"}, names
    assert {"lpips", "dlib-bin", "face-recognition-models", "kornia", "safetensors"} <= names, names


def test_comfyignore_keeps_tests_out():
    ignored = (ROOT / ".comfyignore").read_text().split()
    assert "tests/" in ignored and ".scratch/" in ignored


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_workflow_file_is_valid_ui_format(path):
    wf = json.loads(path.read_text())
    assert wf["version"] == 0.4 and isinstance(wf["nodes"], list) and isinstance(wf["links"], list)
    nodes = {n["id"]: n for n in wf["nodes"]}
    assert len(nodes) == len(wf["nodes"]) and wf["last_node_id"] >= max(nodes)
    link_ids = [link[0] for link in wf["links"]]
    assert len(set(link_ids)) == len(link_ids) and wf["last_link_id"] >= max(link_ids)
    for link_id, src, src_slot, dst, dst_slot, typ in wf["links"]:
        out = nodes[src]["outputs"][src_slot]
        inp = nodes[dst]["inputs"][dst_slot]
        assert link_id in out["links"] and inp["link"] == link_id, link_id
        assert out["type"] == inp["type"] == typ, (link_id, out["type"], inp["type"], typ)
    for node in wf["nodes"]:
        for inp in node.get("inputs", []):
            assert inp["link"] is None or inp["link"] in link_ids
        for out in node.get("outputs", []):
            assert all(lid in link_ids for lid in out["links"] or [])
    loaders = [n for n in wf["nodes"] if n["type"] == "StyleGANEXLoader"]
    assert loaders, "every workflow loads a StyleGANEX checkpoint"
    note = next(n for n in wf["nodes"] if n["type"] == "Note")["widgets_values"][0]
    for n in loaders:
        assert n["widgets_values"][0] in note and n["widgets_values"][0] in wf["extra"]["styleganex"]["models"]
    assert "non-commercial" in note
    # what the template browser shows (frontend 1.32.9): the file name as title and description, and
    # "<name>.jpg" beside the file as the thumbnail
    assert path.stem.startswith("StyleGANEX ") and note.startswith(path.stem)
    assert wf["extra"]["styleganex"]["description"] in note
    thumb = path.with_suffix(".jpg")
    assert thumb.is_file(), f"no thumbnail {thumb.name}"
    assert thumb.read_bytes()[:3] == b"\xff\xd8\xff" and thumb.stat().st_size < 100_000
    # the stored view (checked on screen by the browser tier) zooms in far enough for text to be drawn
    assert 0.58 <= wf["extra"]["ds"]["scale"] <= 1.0


# ---- with ComfyUI's modules ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def comfy():
    """ComfyUI's python modules from the scratch ComfyUI (prepared by the harness, cached)."""
    try:
        comfy_dir = harness.ensure_comfyui()
        harness.ensure_requirements(comfy_dir)  # ComfyUI's own requirements.txt, never torch
    except Exception as e:  # noqa: BLE001 - no registry, no cache: nothing to test against
        harness.unavailable(f"ComfyUI could not be prepared: {e}")
    if str(comfy_dir) not in sys.path:
        sys.path.insert(0, str(comfy_dir))
    try:
        from comfy.cli_args import args

        args.cpu = True
        import comfy.model_management  # noqa: F401
        import comfy.utils  # noqa: F401
        from comfy_api.latest import ComfyExtension, io  # noqa: F401
    except Exception as e:  # noqa: BLE001
        harness.unavailable(f"ComfyUI's modules do not import here: {e}")
    return sys.modules


@pytest.fixture(scope="module")
def pack(comfy, tmp_path_factory):
    """The pack imported as ComfyUI imports it (a package from its folder), with a user models
    folder that stands for an extra_model_paths.yaml entry."""
    import folder_paths

    user_models = tmp_path_factory.mktemp("user-models")
    folder_paths.add_model_folder_path("styleganex", str(user_models))  # as extra_model_paths.yaml does
    spec = importlib.util.spec_from_file_location(PACKAGE, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = module
    spec.loader.exec_module(module)
    extension = asyncio.run(module.comfy_entrypoint())
    nodes = {cls.GET_SCHEMA().node_id: cls for cls in asyncio.run(extension.get_node_list())}
    module.test_nodes = nodes
    module.user_models = user_models
    return module


def _core(pack, name):
    return importlib.import_module(f"{PACKAGE}.styleganex.{name}")


def _nodes(pack, name):
    return importlib.import_module(f"{PACKAGE}.nodes.{name}")


@pytest.fixture(scope="module")
def handles(pack):
    testing = _core(pack, "dev.testing")
    sockets = _nodes(pack, "sockets")
    cpu = torch.device("cpu")
    out = {}
    for family in ("inversion", "sr", "sketch2face", "mask2face", "toonify", "edit_age"):
        model = testing.random_model(family, seed=3)
        out[family] = sockets.StyleGANEXModel(model, f"styleganex_{family}.pt", cpu, torch.float32)
    return out


def _img(h, w, b=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, h, w, 3, generator=g)


def _astronaut(size=None):
    from PIL import Image
    from skimage import data

    im = Image.fromarray(data.astronaut())
    if size:
        im = im.resize((size, size), Image.LANCZOS)
    return torch.from_numpy(np.array(im)).float()[None] / 255.0


def test_extension_lists_v3_nodes(pack):
    from comfy_api.latest import io

    nodes = pack.test_nodes
    assert set(nodes) == {
        "StyleGANEXLoader", "StyleGANEXFaceParserLoader", "StyleGANEXFaceCrop", "StyleGANEXFaceParse",
        "StyleGANEXEncode", "StyleGANEXOptimizeInversion", "StyleGANEXDecode", "StyleGANEXApplyEdit",
        "StyleGANEXSwapGenerator", "StyleGANEXSaveLatent", "StyleGANEXLoadLatent", "StyleGANEXSuperResolve",
        "StyleGANEXTranslateSketch", "StyleGANEXVideoEdit", "StyleGANEXVideoToonify", "StyleGANEXSeFaDirections",
        "StyleGANEXEditSweep", "StyleGANEXTrainVideoEdit", "StyleGANEXTrainToonify", "StyleGANEXTrainOnPhotos"}, \
        sorted(nodes)
    for node_id, cls in nodes.items():
        assert node_id.startswith("StyleGANEX") and issubclass(cls, io.ComfyNode)
        schema = cls.GET_SCHEMA()
        assert schema.category.startswith("StyleGANEX"), node_id
        types = [i.get_io_type() for i in schema.inputs] + [o.get_io_type() for o in schema.outputs]
        assert "LATENT" not in types, node_id


def test_models_folder_registration_keeps_user_entries(pack):
    import folder_paths

    paths = folder_paths.get_folder_paths("styleganex")
    assert paths[0] == str(pack.user_models), paths
    assert paths[1] == str(Path(folder_paths.models_dir) / "styleganex"), paths
    assert ".pt" in folder_paths.folder_names_and_paths["styleganex"][1]
    dirs = folder_paths.get_folder_paths("styleganex_directions")
    assert str(pack.user_models / "directions") in dirs


def test_image_conversion_helpers(pack):
    tensors = _nodes(pack, "tensors")
    img = _img(10, 12, b=2)
    core = tensors.image_to_core(img)
    assert core.shape == (2, 3, 10, 12) and core.dtype == torch.float32
    assert torch.equal(tensors.core_to_image(core), img)
    assert tensors.image_to_core(torch.rand(1, 4, 4, 1)).shape == (1, 3, 4, 4)
    assert tensors.image_to_core(torch.rand(1, 4, 4, 4)).shape == (1, 3, 4, 4)
    with pytest.raises(ValueError, match="IMAGE"):
        tensors.image_to_core(torch.rand(3, 4, 4, 5))
    assert tensors.mask_to_core(torch.rand(2, 5, 6)).shape == (2, 1, 5, 6)


def test_loader_missing_file_says_where_to_get_it(pack, tmp_path):
    loader = pack.test_nodes["StyleGANEXLoader"]
    msg = loader.validate_inputs("styleganex_sr32.pt")
    assert "huggingface.co/PKUWilliamYang/StyleGANEX" in msg and "non-commercial" in msg
    assert str(pack.user_models) in msg
    with pytest.raises(FileNotFoundError, match="styleganex_sr32.pt"):
        loader.execute("styleganex_sr32.pt")


def test_loader_downloads_on_request_only(pack, comfy, tmp_path, monkeypatch):
    """The opt-in download: the file comes from the hub (a local file:// folder stands in for it) into
    ComfyUI's models/styleganex, with ComfyUI's progress bar; without the option nothing is fetched."""
    import comfy.utils
    import folder_paths

    testing, paths = _core(pack, "dev.testing"), _core(pack, "io.paths")
    hub = tmp_path / "hub"
    hub.mkdir()
    testing.save_official_pt(testing.random_model("toonify", seed=7), hub / "styleganex_toonify_pixar.pt")
    monkeypatch.setattr(paths, "HUB_FILES_URL", hub.as_uri() + "/")
    monkeypatch.setattr(folder_paths, "models_dir", str(tmp_path / "comfy-models"))
    loader = pack.test_nodes["StyleGANEXLoader"]
    name = "styleganex_toonify_pixar.pt"
    msg = loader.validate_inputs(name)
    assert "download_if_missing" in msg and "non-commercial" in msg, msg
    assert loader.validate_inputs(name, download_if_missing=True) is True
    assert "download_if_missing" not in loader.validate_inputs("mine.pt")  # not an official file: no offer
    assert loader.validate_inputs("mine.pt", download_if_missing=True) is not True
    calls = []
    monkeypatch.setattr(comfy.utils, "PROGRESS_BAR_HOOK", lambda v, t, p, node_id=None: calls.append((v, t)))
    dest = tmp_path / "comfy-models" / "styleganex" / name
    folder_paths.add_model_folder_path("styleganex", str(dest.parent))
    try:
        with torch.inference_mode():
            handle = loader.execute(name, "cpu", "fp32", True).result[0]
    finally:
        folder_paths.folder_names_and_paths["styleganex"][0].remove(str(dest.parent))
    size = (hub / name).stat().st_size
    assert dest.read_bytes() == (hub / name).read_bytes() and handle.variant.startswith("toonify")
    assert calls and calls[-1] == (size, size)
    assert not [p for p in dest.parent.iterdir() if p.name.endswith(".partial")]


def test_loader_loads_from_the_user_folder(pack):
    testing = _core(pack, "dev.testing")
    testing.save_official_pt(testing.random_model("inversion", seed=5), pack.user_models / "styleganex_inversion.pt")
    loader = pack.test_nodes["StyleGANEXLoader"]
    info = loader.GET_SCHEMA()
    assert "styleganex_inversion.pt" in info.inputs[0].options
    assert loader.validate_inputs("styleganex_inversion.pt") is True
    with torch.inference_mode():  # as ComfyUI runs nodes
        handle = loader.execute("styleganex_inversion.pt", "cpu", "auto").result[0]
    assert handle.variant == "inversion" and handle.kind == "rgb"
    assert not next(handle.model.parameters()).is_inference()


def test_loader_fast_input_sets_the_model_switch(pack):
    testing = _core(pack, "dev.testing")
    testing.save_official_pt(testing.random_model("inversion", seed=5), pack.user_models / "fast_inv.pt")
    loader = pack.test_nodes["StyleGANEXLoader"]
    names = [i.id for i in loader.GET_SCHEMA().inputs]
    assert "fast" in names and names[-1] == "fast"  # last: saved workflows keep their widget order
    with torch.inference_mode():
        assert loader.execute("fast_inv.pt", "cpu", "auto").result[0].model.fast == "auto"
        assert loader.execute("fast_inv.pt", "cpu", "auto", False, "0").result[0].model.fast == "0"
    with pytest.raises(ValueError, match="fast must be one of"):
        loader.execute("fast_inv.pt", "cpu", "auto", False, "fastest")


def test_encode_decode_batch_and_odd_sizes(pack, handles):
    enc, dec = pack.test_nodes["StyleGANEXEncode"], pack.test_nodes["StyleGANEXDecode"]
    model = handles["inversion"]
    with torch.inference_mode():
        latent = enc.execute(model, _img(60, 68, b=2), _img(256, 256, b=1)).result[0]
        assert latent.batch == 2 and latent.f.shape[-2:] == (8, 9)
        out = dec.execute(model, latent, "auto", 0, False, 0.1).result[0]
    assert out.shape == (2, 240, 272, 3)  # 4x, padding to multiples of 8 removed again
    assert out.min() >= 0 and out.max() <= 1


def test_decode_pastes_back(pack, handles):
    faces = _core(pack, "faces")
    tensors = _nodes(pack, "tensors")
    frame = _img(100, 140)
    crop, record = faces.center_crop(tensors.image_to_core(frame)[0], 64)
    info = faces.CropInfo(records=[record], frames=tensors.image_to_core(frame))
    enc, dec = pack.test_nodes["StyleGANEXEncode"], pack.test_nodes["StyleGANEXDecode"]
    with torch.inference_mode():
        latent = enc.execute(handles["inversion"], tensors.core_to_image(crop[None]),
                             crop_info=info).result[0]
        assert latent.crop.records[0] == record
        out = dec.execute(handles["inversion"], latent, "zero", 0, True, 0.1, info).result[0]
    assert out.shape == (1, 100, 140, 3)
    # outside the crop the photo is untouched
    x0 = round(record.box[0] / record.scale_xy[0])
    assert torch.equal(out[0, :, : max(0, x0 - 2)], frame[0, :, : max(0, x0 - 2)])


def test_optimize_inversion_in_inference_mode_with_progress(pack, handles, comfy):
    import comfy.utils

    calls = []
    old = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.PROGRESS_BAR_HOOK = lambda value, total, preview, node_id=None: calls.append((value, total))
    try:
        node = pack.test_nodes["StyleGANEXOptimizeInversion"]
        with torch.inference_mode():
            latent = node.execute(handles["inversion"], _img(64, 64), None, _img(256, 256), steps=3, lr=0.05,
                                  lpips_weight=0.0, mse_weight=1.0, noise_reg_weight=1000.0, seed=0).result[0]
    finally:
        comfy.utils.PROGRESS_BAR_HOOK = old
    assert latent.noise is not None and latent.meta["inversion"]["steps"] == 3
    assert calls[-1] == (3, 3) and len(calls) >= 3


def test_optimize_inversion_stops_on_interrupt(pack, handles):
    import comfy.model_management as mm

    node = pack.test_nodes["StyleGANEXOptimizeInversion"]
    mm.interrupt_current_processing(True)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            node.execute(handles["inversion"], _img(64, 64), steps=50, lpips_weight=0.0, mse_weight=1.0)
        assert not mm.processing_interrupted()  # the flag is consumed, as ComfyUI expects
    finally:
        mm.interrupt_current_processing(False)


def test_optimize_inversion_needs_a_loss(pack, handles):
    node = pack.test_nodes["StyleGANEXOptimizeInversion"]
    with pytest.raises(ValueError, match="weight 0"):
        node.execute(handles["inversion"], _img(64, 64), steps=2, lpips_weight=0.0, mse_weight=0.0)
    msg = node.validate_inputs("no-such-vgg.pth", 1.0)
    assert msg is True or "vgg16" in msg.lower()


def test_wrong_model_kind_is_named(pack, handles):
    sr, tr = pack.test_nodes["StyleGANEXSuperResolve"], pack.test_nodes["StyleGANEXTranslateSketch"]
    with pytest.raises(ValueError, match="styleganex_sr.pt or styleganex_sr32.pt.*sketch2face"):
        sr.execute(handles["sketch2face"], _img(32, 32))
    with pytest.raises(ValueError, match="sketch2face.pt or styleganex_mask2face.pt.*inversion"):
        tr.execute(handles["inversion"], image=_img(64, 64))
    with pytest.raises(ValueError, match="Sketch/Mask to Face"):
        pack.test_nodes["StyleGANEXEncode"].execute(handles["mask2face"], _img(64, 64))


def test_sketch_to_face_samples_and_checks(pack, handles):
    tr = pack.test_nodes["StyleGANEXTranslateSketch"]
    with torch.inference_mode():
        out = tr.execute(handles["sketch2face"], image=_img(64, 64), number=2, seed=1).result[0]
        assert out.shape == (2, 256, 256, 3)
        out_mask = tr.execute(handles["sketch2face"], mask=torch.rand(1, 64, 64), number=1).result[0]
        assert out_mask.shape == (1, 256, 256, 3)
    with pytest.raises(ValueError, match="16x16.*at least"):
        tr.execute(handles["sketch2face"], image=_img(16, 16))
    with pytest.raises(ValueError, match="not both"):
        tr.execute(handles["sketch2face"], image=_img(64, 64), mask=torch.rand(1, 64, 64))


def test_mask_to_face_from_labels(pack, handles):
    tr = pack.test_nodes["StyleGANEXTranslateSketch"]
    labels = torch.randint(0, 19, (1, 64, 64)).float() / 255.0
    with torch.inference_mode():
        out = tr.execute(handles["mask2face"], mask=labels, number=2, seed=0).result[0]
    assert out.shape == (2, 256, 256, 3)
    with pytest.raises(ValueError, match="not a parsing label mask"):
        tr.execute(handles["mask2face"], mask=torch.rand(1, 64, 64))


def test_face_parse_outputs(pack):
    parsing = _core(pack, "faces.parsing")
    sockets = _nodes(pack, "sockets")
    handle = sockets.FaceParserHandle(parsing.FaceParser(), "faceparsing.pth", torch.device("cpu"))
    node = pack.test_nodes["StyleGANEXFaceParse"]
    with torch.inference_mode():
        colour, labels = node.execute(handle, _img(48, 40, b=2), "official (2x)").result
    assert colour.shape == (2, 48, 40, 3) and labels.shape == (2, 48, 40)
    ids = labels * 255
    assert torch.equal(ids, ids.round()) and int(ids.max()) < 19


def test_face_crop_on_a_real_photo(pack):
    pytest.importorskip("dlib")
    node = pack.test_nodes["StyleGANEXFaceCrop"]
    photo = _astronaut()
    with torch.inference_mode():
        crop, aligned, info, preview = node.execute(torch.cat([photo, photo]), 64).result
    assert crop.shape[0] == 2 and crop.shape[1] % 8 == 0 and crop.shape[2] % 8 == 0
    assert aligned.shape == (2, 256, 256, 3) and info.batch == 2 and info.faces[0] is not None
    assert preview.shape == (2, 512, 512, 3) and not torch.equal(preview, torch.cat([photo, photo]))
    # no face: the outputs that need one stop the nodes behind them with the reason; the preview still comes
    from comfy_execution.graph_utils import ExecutionBlocker

    blank = torch.full((1, 96, 96, 3), 0.5)
    crop, aligned, info, preview = node.execute(blank).result
    assert all(isinstance(x, ExecutionBlocker) for x in (crop, aligned, info))
    assert "no face found" in info.message and "if_no_face" in info.message and "preview" in info.message
    assert preview.shape == (1, 96, 96, 3)
    assert (preview[0, :4] - blank[0, :4]).abs().max() > 0.1  # the banner with the reason
    crop, aligned, info, _ = node.execute(blank, 32, if_no_face="center crop").result
    assert crop.shape == (1, 64, 64, 3) and aligned.shape == (1, 256, 256, 3)


def _group(faces=3):
    testing = importlib.import_module(f"{PACKAGE}.styleganex.dev.testing")
    return testing.group_photo(faces).permute(1, 2, 0)[None].contiguous()


def test_face_crop_every_face_and_decode_pastes_all_into_one_frame(pack, handles):
    pytest.importorskip("dlib")
    crop_node, enc, dec = (pack.test_nodes[n] for n in ("StyleGANEXFaceCrop", "StyleGANEXEncode", "StyleGANEXDecode"))
    photo = _group(3)
    blank = torch.full_like(photo, 0.5)
    with torch.inference_mode():
        crops, aligned, info, preview = crop_node.execute(torch.cat([photo, blank]), 128, if_no_face="skip image",
                                                          select="all").result
        assert crops.shape[0] == 3 and aligned.shape[0] == 3
        assert info.frame_index == (0, 0, 0) and info.n_frames == 2
        latent = enc.execute(handles["inversion"], crops, aligned, info).result[0]
        image, mask = dec.execute(handles["inversion"], latent, "zero", 0, True, 0.05, info).result
    assert image.shape == (2, 352, 768, 3) and mask.shape == (2, 352, 768)
    assert torch.equal(image[1], blank[0]) and mask[1].max() == 0  # the image without a face: unchanged
    # three separate face regions, one per person, and the photo untouched elsewhere
    columns = mask[0].amax(dim=0) > 0
    runs = int((columns[1:] & ~columns[:-1]).sum()) + int(columns[0])
    assert runs == 3
    assert torch.equal(image[0][mask[0] == 0], photo[0][mask[0] == 0])
    # choosing by index-map number
    with torch.inference_mode():
        crops, _, info, _ = crop_node.execute(photo, 128, select="indices", indices="2, 0").result
    centres = [float(info.records[k].crop_to_frame(info.landmarks(k))[:, 0].mean()) for k in range(2)]
    assert crops.shape[0] == 2 and centres[0] > 512 and centres[1] < 256  # face #2 (the right one), then #0
    with torch.inference_mode():
        blocked = crop_node.execute(photo, 128, select="indices", indices="5").result
    assert "#5" in blocked[2].message and "index map has 3" in blocked[2].message


def test_video_toonify_and_edit(pack, handles, comfy):
    pytest.importorskip("dlib")
    frames = _astronaut(256).repeat(3, 1, 1, 1)
    toon = pack.test_nodes["StyleGANEXVideoToonify"]
    with torch.inference_mode():
        out = toon.execute(handles["toonify"], frames, "first", 64, 2).result[0]
    assert out.shape[0] == 3 and out.shape[1] % 32 == 0
    edit = pack.test_nodes["StyleGANEXVideoEdit"]
    with torch.inference_mode():
        pasted, mask, state = edit.execute(handles["edit_age"], frames, 1.0, "first", 64, 2, True).result
    assert pasted.shape == (3, 256, 256, 3) and mask.shape == (3, 256, 256) and len(state.tracks) == 1
    assert 0 < float(mask.mean()) < 0.5  # the face, not the whole frame
    # the next chunk continues the tracks of the state (which is copied: the first output stays as it was)
    with torch.inference_mode():
        _, _, state2 = edit.execute(handles["edit_age"], frames, 1.0, "first", 64, 2, True, state=state).result
    assert state.frames_seen == 3 and state2.frames_seen == 6 and state2.tracks[0].record == state.tracks[0].record
    with pytest.raises(ValueError, match="edit_age.*Video Toonify"):
        edit.execute(handles["toonify"], frames)


def test_apply_edit_direction_and_style_mix(pack, handles, tmp_path):
    import folder_paths

    directions = pack.user_models / "directions"
    directions.mkdir(exist_ok=True)
    np.save(directions / "smile.npy", np.ones(16, np.float32))
    torch.save({"age": torch.ones(18, 16), "pose": torch.zeros(16)}, directions / "several.pt")
    node = pack.test_nodes["StyleGANEXApplyEdit"]
    options = node.GET_SCHEMA().inputs[1].options
    assert {"smile.npy", "several.pt [age]", "several.pt [pose]"} <= set(options), options
    enc = pack.test_nodes["StyleGANEXEncode"]
    with torch.inference_mode():
        latent = enc.execute(handles["inversion"], _img(64, 64)).result[0]
        edited = node.execute(latent, "smile.npy", 2.0, 0, 7).result[0]
        diff = (edited.wplus - latent.wplus)[0]
        assert torch.allclose(diff[:8], torch.full((8, 16), 2.0)) and torch.equal(diff[8:], torch.zeros(10, 16))
        aged = node.execute(latent, "several.pt [age]", 1.0, 0, 17).result[0]
        assert torch.allclose(aged.wplus - latent.wplus, torch.ones(1, 18, 16))
        mixed = node.execute(latent, "none", 1.0, 0, 17, "random style", 3, 8, 0.7,
                             model=handles["inversion"]).result[0]
        assert torch.equal(mixed.wplus[:, :8], latent.wplus[:, :8]) and not torch.equal(mixed.wplus, latent.wplus)
        vec = node.execute(latent, "model editing vector (edit_age / edit_hair)", 1.0, 0, 17,
                           model=handles["edit_age"]).result[0]
        assert torch.allclose(vec.wplus - latent.wplus, handles["edit_age"].model.editing_w[0:1])
    assert "not found" in node.validate_inputs("missing.npy")
    with pytest.raises(ValueError, match="edit_age"):
        node.execute(latent, "model editing vector (edit_age / edit_hair)", 1.0, 0, 17, model=handles["inversion"])
    assert folder_paths.get_full_path("styleganex_directions", "smile.npy")


def _latent(pack, handles):
    with torch.inference_mode():
        return pack.test_nodes["StyleGANEXEncode"].execute(handles["inversion"], _img(64, 64)).result[0]


def _rows_moved(edited, latent):
    return ((edited.wplus - latent.wplus)[0].abs().sum(1) > 0).nonzero().flatten().tolist()


def test_apply_edit_lists_what_the_core_reads(pack, handles):
    directions = _core(pack, "io.directions")
    folder = pack.user_models / "directions"
    folder.mkdir(exist_ok=True)
    g = torch.Generator().manual_seed(0)
    torch.save({n: torch.randn(1, 18, 16, generator=g) for n in directions.OFFICIAL_NAMES},
               folder / "direction_dics.pt")
    np.savez(folder / "pair.npz", a=np.ones(16, np.float32), b=np.zeros((18, 16), np.float32))
    v = np.random.default_rng(1).standard_normal((1, 16))
    np.save(folder / "expression.npy", v / np.linalg.norm(v))  # LowRankGAN layout: rows 4-7 by default
    (folder / "notes.json").write_text("{}")
    (folder / "broken.pt").write_bytes(b"not a tensor")
    node = pack.test_nodes["StyleGANEXApplyEdit"]
    options = node.GET_SCHEMA().inputs[1].options
    assert {f"direction_dics.pt [{n}]" for n in directions.OFFICIAL_NAMES} <= set(options)
    assert {"pair.npz [a]", "pair.npz [b]", "expression.npy", "broken.pt"} <= set(options), options
    assert not any(o.startswith("notes.json") for o in options)
    latent = _latent(pack, handles)
    with torch.inference_mode():
        smile = node.execute(latent, "direction_dics.pt [smile]", 2.0).result[0]  # rows -1/-1: the file's own
        lrg = node.execute(latent, "expression.npy", 3.0).result[0]
    official = directions.read_directions(folder / "direction_dics.pt")["smile"]
    torch.testing.assert_close(smile.wplus - latent.wplus, 2.0 * official.vector[None], rtol=0, atol=1e-5)
    assert _rows_moved(lrg, latent) == [4, 5, 6, 7]
    with pytest.raises(ValueError, match="both layer_start and layer_end"):
        node.execute(latent, "expression.npy", 3.0, -1, 5)
    with pytest.raises(_core(pack, "base.errors").DirectionError, match="broken.pt"):
        node.execute(latent, "broken.pt", 1.0)
    (folder / "direction_dics.pt").unlink()
    message = node.validate_inputs("direction_dics.pt [smile]")
    assert "not found" in message and directions.OFFICIAL_URL in message


def test_sefa_node_chained_edits_and_sweep(pack, handles):
    editing, sefa = _core(pack, "pipelines.editing"), _core(pack, "pipelines.sefa")
    latent = _latent(pack, handles)
    model = handles["inversion"]
    apply, sweep = pack.test_nodes["StyleGANEXApplyEdit"], pack.test_nodes["StyleGANEXEditSweep"]
    with torch.inference_mode():
        dirs = pack.test_nodes["StyleGANEXSeFaDirections"].execute(model, "0-5", 3).result[0]
        assert [d.name for d in dirs] == ["sefa0", "sefa1", "sefa2"]
        want = sefa.sefa_directions(model.model, "0-5", 3)
        assert torch.equal(dirs[1].vector, want["sefa1"].vector)
        # two chained Apply Edit nodes == the core's apply_edits == one after the other
        first = apply.execute(latent, "none", 10.0, directions=dirs, direction_index=1).result[0]
        second = apply.execute(first, "none", -4.0, 8, 11, directions=dirs, direction_index=0).result[0]
        core = editing.apply_edits(latent, [editing.Edit(dirs[1], 10.0), editing.Edit(dirs[0], -4.0, "8-11")])
        assert torch.equal(second.wplus, core.wplus)
        assert _rows_moved(second, latent) == [0, 1, 2, 3, 4, 5, 8, 9, 10, 11]
        with pytest.raises(ValueError, match="direction_index 3"):
            apply.execute(latent, "none", 1.0, directions=dirs, direction_index=3)
        # the sweep: start = end -> the direction's own range (SeFa: -15..15)
        strip = sweep.execute(model, latent, "none", 0.0, 0.0, 3, directions=dirs, direction_index=0).result[0]
        explicit = sweep.execute(model, latent, "none", -15.0, 15.0, 3, directions=dirs).result[0]
        assert strip.shape == (3, 256, 256, 3) and torch.equal(strip, explicit)
        core = editing.sweep(model.model, latent, dirs[0], [-15.0, 0.0, 15.0])
        torch.testing.assert_close(strip, core.permute(0, 2, 3, 1), rtol=0, atol=1e-6)
        with pytest.raises(ValueError, match="choose a direction"):
            sweep.execute(model, latent, "none")


def test_swap_generator_names_the_nada_hub(pack, handles):
    node = pack.test_nodes["StyleGANEXSwapGenerator"]
    message = node.validate_inputs("pixar.pt")
    assert "StyleGAN-NADA" in message and "rinong/stylegan-nada-models" in message
    assert "PKUWilliamYang" in node.validate_inputs("styleganex_toonify_pixar.pt")


def test_swap_generator(pack, handles):
    testing = _core(pack, "dev.testing")
    testing.save_stylegan2_pt(testing.random_model("toonify", seed=8), pack.user_models / "toon_g_ema.pt")
    node = pack.test_nodes["StyleGANEXSwapGenerator"]
    with torch.inference_mode():
        swapped = node.execute(handles["inversion"], "toon_g_ema.pt").result[0]
    assert swapped.model.encoder is handles["inversion"].model.encoder
    assert swapped.model.decoder is not handles["inversion"].model.decoder
    assert "not found" in node.validate_inputs("nope.pt")


def test_save_and_load_latent(pack, handles, tmp_path):
    import folder_paths

    folder_paths.set_output_directory(str(tmp_path / "output"))
    folder_paths.set_input_directory(str(tmp_path / "input"))
    (tmp_path / "input").mkdir()
    faces = _core(pack, "faces")
    tensors = _nodes(pack, "tensors")
    frame = _img(80, 80)
    crop, record = faces.center_crop(tensors.image_to_core(frame)[0], 64)
    info = faces.CropInfo(records=[record], frames=tensors.image_to_core(frame))
    with torch.inference_mode():
        latent = pack.test_nodes["StyleGANEXEncode"].execute(
            handles["inversion"], tensors.core_to_image(crop[None]), crop_info=info).result[0]
    saved = pack.test_nodes["StyleGANEXSaveLatent"].execute(latent, "styleganex/t").ui["latents"][0]
    name = f"{saved['subfolder']}/{saved['filename']} [output]"
    loader = pack.test_nodes["StyleGANEXLoadLatent"]
    assert name in loader.GET_SCHEMA().inputs[0].options
    assert loader.validate_inputs(name) is True and "not found" in loader.validate_inputs("x.safetensors")
    loaded, crop_info = loader.execute(name, handles["inversion"], frame).result
    assert torch.equal(loaded.wplus, latent.wplus) and crop_info.records[0] == record
    with pytest.raises(ValueError, match="original photo"):
        loader.execute(name, None, _img(50, 50))
    with pytest.raises(ValueError, match="another size|another width"):
        loader.execute(name, _small_model(pack))


def _small_model(pack):
    testing = _core(pack, "dev.testing")
    sockets = _nodes(pack, "sockets")
    return sockets.StyleGANEXModel(testing.random_model("inversion", size=256), "small.pt", torch.device("cpu"),
                                  torch.float32)


# ---- one latent format behind every front door ----------------------------------------------------
def test_latent_round_trip_cli_nodes_cli(pack, tmp_path, monkeypatch, vgg_dir):
    """CLI ``invert`` -> node Load Latent + Decode with paste-back -> node Save Latent -> CLI ``edit --frame``:
    the pasted photo is the same either way (within one 8-bit level: the CLI writes PNGs)."""
    import folder_paths
    from PIL import Image

    from styleganex.cli import main
    from styleganex.dev.testing import random_model, save_official_pt

    monkeypatch.setenv("STYLEGANEX_MODELS", str(vgg_dir))  # the LPIPS backbone for `invert`
    folder_paths.set_input_directory(str(tmp_path / "input"))
    folder_paths.set_output_directory(str(tmp_path / "output"))
    (tmp_path / "input").mkdir()
    ckpt = save_official_pt(random_model("inversion", size=256, seed=31), pack.user_models / "roundtrip_inv.pt")
    photo = tmp_path / "astronaut.png"
    Image.fromarray((_astronaut(256)[0].numpy() * 255).round().astype(np.uint8)).save(photo)
    frame = torch.from_numpy(np.array(Image.open(photo))).float()[None] / 255.0

    # 1. the CLI inverts the photo (dlib finds the face; two optimisation steps give noise maps)
    assert main(["invert", str(photo), "--model", str(ckpt), "--out", str(tmp_path / "cli"), "--steps", "2"]) == 0
    cli_latent = tmp_path / "cli" / "astronaut_latent.safetensors"
    (tmp_path / "input" / "from_cli.safetensors").write_bytes(cli_latent.read_bytes())

    # 2. the nodes load it, decode it and paste it back into the photo
    with torch.inference_mode():
        model = pack.test_nodes["StyleGANEXLoader"].execute("roundtrip_inv.pt", "cpu", "auto").result[0]
        latent, crop_info = pack.test_nodes["StyleGANEXLoadLatent"].execute("from_cli.safetensors", model,
                                                                            frame).result
        assert latent.noise is not None and crop_info.batch == 1
        node_pasted = pack.test_nodes["StyleGANEXDecode"].execute(model, latent, "auto", 0, True, 0.05,
                                                                  crop_info).result[0]  # the CLI's defaults
    assert node_pasted.shape == (1, 256, 256, 3)

    # 3. the nodes save it again; 4. the CLI edits (strength 0) and pastes back both files
    saved = pack.test_nodes["StyleGANEXSaveLatent"].execute(latent, "styleganex/rt").ui["latents"][0]
    node_file = tmp_path / "output" / saved["subfolder"] / saved["filename"]
    np.save(tmp_path / "zero.npy", np.zeros(random_model("inversion", size=256).config.style_dim, np.float32))
    outs = {}
    for name, path in (("from_nodes", node_file), ("from_cli", cli_latent)):
        out = tmp_path / f"{name}.png"
        assert main(["edit", str(path), "--model", str(ckpt), "--direction", str(tmp_path / "zero.npy"),
                     "--strength", "0", "--frame", str(photo), "--out", str(out)]) == 0
        outs[name] = np.asarray(Image.open(out)).astype(np.int16)
    assert np.array_equal(outs["from_nodes"], outs["from_cli"])  # the same file contents, the same code
    node_u8 = (node_pasted[0].numpy() * 255.0).round().astype(np.int16)
    assert np.abs(node_u8 - outs["from_cli"]).max() <= 1
    assert np.abs(outs["from_cli"] - np.asarray(Image.open(photo)).astype(np.int16)).max() > 20  # really pasted


def test_old_latent_layouts_load_in_the_nodes(pack, tmp_path):
    """Version-1 files: the single crop record `invert` wrote, and the nodes' records list with the padding
    record in meta, both load and paste back."""
    import json

    import folder_paths
    from safetensors.torch import save_file

    folder_paths.set_input_directory(str(tmp_path))
    record = {"frame_size": [40, 50], "scale": 1.0, "resized_size": [40, 50], "box": [8, 4, 40, 36]}
    handle = _small_model(pack)
    f = torch.zeros(1, handle.model.config.gen_channels[4], 4, 4)
    wplus = handle.model.latent_avg[None].clone()
    layouts = {
        "cli_v1.safetensors": {"crop": json.dumps(record), "meta": "{}"},
        "nodes_v1.safetensors": {"crop": json.dumps({"records": [record], "padding": 256, "mode": "each image"}),
                                 "meta": json.dumps({"size_record": {"mode": "pad", "original_size": [32, 30],
                                                                     "top": 0, "bottom": 0, "left": 1,
                                                                     "right": 1}})},
    }
    frame = _img(40, 50)
    for name, extra in layouts.items():
        save_file({"wplus": wplus, "f": f}, str(tmp_path / name),
                  metadata={"format": "styleganex-latent", "version": "1", **extra})
        with torch.inference_mode():
            latent, crop_info = pack.test_nodes["StyleGANEXLoadLatent"].execute(name, handle, frame).result
            out = pack.test_nodes["StyleGANEXDecode"].execute(handle, latent, "zero", 0, True, 0.1,
                                                              crop_info).result[0]
        assert crop_info.records[0].box == (8, 4, 40, 36) and out.shape == (1, 40, 50, 3)
        assert torch.equal(out[0, :, :7], frame[0, :, :7])  # outside the crop the photo is untouched
    assert latent.size_record is not None and latent.size_record.size == (32, 32)


# ---- ComfyUI's memory manager ------------------------------------------------------------------------
def _tensor_bytes(*tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def test_models_are_registered_with_comfyui_memory_manager(pack, comfy, monkeypatch):
    import comfy.model_management as mm

    testing, sockets = _core(pack, "dev.testing"), _nodes(pack, "sockets")
    model = testing.random_model("edit_age", seed=4)
    handle = sockets.StyleGANEXModel(model, "styleganex_edit_age.pt", torch.device("cpu"), torch.float32)
    expected = _tensor_bytes(*model.parameters(), *model.buffers(), model.editing_w)
    ours = {id(m) for m in handle.managed.module.modules()}
    moves = []
    apply = torch.nn.Module._apply

    def counting(self, fn, recurse=True):
        if id(self) in ours:
            moves.append(type(self).__name__)
        return apply(self, fn, recurse)

    monkeypatch.setattr(torch.nn.Module, "_apply", counting)
    enc, dec = pack.test_nodes["StyleGANEXEncode"], pack.test_nodes["StyleGANEXDecode"]
    with torch.inference_mode():
        latent = enc.execute(handle, _img(64, 64)).result[0]
    patcher = handle.managed.patcher
    # the size ComfyUI plans with is the parameter + buffer (+ editing vector) bytes, all of it loaded
    assert handle.managed.size == patcher.model_size() == expected
    assert patcher.loaded_size() == expected
    assert patcher.load_device == torch.device("cpu") == patcher.offload_device  # --cpu
    assert patcher in mm.loaded_models(), "not in ComfyUI's loaded models"
    assert moves, "the first use loads the model through the patcher"
    moves.clear()
    with torch.inference_mode():
        first = dec.execute(handle, latent, "zero").result[0]
        again = dec.execute(handle, latent, "zero").result[0]
    assert moves == [], f"later runs moved weights again: {moves}"
    assert torch.equal(first, again)  # the same call twice
    assert patcher in mm.loaded_models()
    # parts are never unloaded (ComfyUI then unloads the whole model), and eviction is honoured
    assert patcher.partially_unload(torch.device("cpu"), 1024) == 0
    mm.free_memory(1e30, torch.device("cpu"))
    assert patcher not in mm.loaded_models() and patcher.loaded_size() == 0
    with torch.inference_mode():
        reloaded = dec.execute(handle, latent, "zero").result[0]
    assert patcher in mm.loaded_models() and moves
    torch.testing.assert_close(reloaded, first, rtol=0, atol=1e-6)


def test_model_precision_follows_comfyui(pack, comfy, monkeypatch):
    import comfy.model_management as mm
    from comfy.cli_args import args

    testing, loaders, sockets = _core(pack, "dev.testing"), _nodes(pack, "loaders"), _nodes(pack, "sockets")
    cpu = torch.device("cpu")
    assert loaders.dtype_choice("auto", cpu) == torch.float32  # ComfyUI's choice on the CPU
    assert loaders.dtype_choice("bf16", cpu) == torch.bfloat16
    monkeypatch.setattr(args, "bf16_vae", True)  # --bf16-vae
    assert loaders.dtype_choice("auto", cpu) == torch.bfloat16
    # a bf16 model is cast to fp32 for the block that asks for it (the inversion) and back, exactly
    model = testing.random_model("inversion", seed=5).to(torch.bfloat16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    handle = sockets.StyleGANEXModel(model, "m.pt", cpu, torch.bfloat16)
    with handle.on_device(dtype=torch.float32) as m:
        assert {p.dtype for p in m.parameters()} == {torch.float32}
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert handle.managed.size == _tensor_bytes(*model.parameters(), *model.buffers())
    mm.free_memory(1e30, cpu)


def test_face_parser_is_registered_too(pack, comfy):
    import comfy.model_management as mm

    sockets = _nodes(pack, "sockets")
    from importlib import import_module

    FaceParser = import_module(f"{PACKAGE}.styleganex.faces.parsing").FaceParser
    parser = FaceParser()
    handle = sockets.FaceParserHandle(parser, "faceparsing.pth", torch.device("cpu"))
    with handle.on_device() as p:
        assert p is parser
    assert handle.managed.patcher in mm.loaded_models()
    assert handle.managed.size == _tensor_bytes(*parser.model.parameters(), *parser.model.buffers())
    mm.free_memory(1e30, torch.device("cpu"))


# ---- what the frontend shows ---------------------------------------------------------------------------
def test_every_input_and_output_has_a_tooltip(pack):
    missing = []
    for node_id, cls in pack.test_nodes.items():
        schema = cls.GET_SCHEMA()
        missing += [f"{node_id}.{i.id}" for i in schema.inputs if not (i.tooltip or "").strip()]
        missing += [f"{node_id} output {o.display_name or o.id}" for o in schema.outputs
                    if not (o.tooltip or "").strip()]
    assert not missing, f"{len(missing)} without a tooltip: {missing}"


def test_optimize_inversion_says_how_long_it_will_take(pack, handles, monkeypatch):
    module = _nodes(pack, "progress")
    clock = iter([100.0, 130.0, 160.0, 190.0] + [190.0 + 30 * k for k in range(1, 600)])
    monkeypatch.setattr(module.time, "monotonic", lambda: next(clock))
    shown = []
    monkeypatch.setattr(module, "send_node_text", shown.append)
    progress = module.Progress(500, estimate="Optimize Inversion", device="cpu")
    for step in range(1, 5):
        progress(step, 500)
    # 30 s a step, measured from step 1 to step 2 (over 5 s): 500 steps take 4 h 10 min, 498 are left
    assert shown == ["Optimize Inversion: about 4 h 10 min for 500 steps on cpu (30.00 s a step); 4 h 9 min left"]
    for step in range(5, 500):
        progress(step, 500)
    assert len(shown) == 1 + 9 and shown[-1] == "Optimize Inversion: step 452/500, 24 min left"
    assert module.format_duration(45) == "45 s" and module.format_duration(720) == "12 min"
    # the node sets it up with its name and device
    latent_mod, made = _nodes(pack, "encode_decode"), []

    class Recording(module.Progress):
        def __init__(self, *a, **k):
            made.append(k)
            super().__init__(*a, **k)

    monkeypatch.setattr(latent_mod, "Progress", Recording)
    monkeypatch.setattr(module.time, "monotonic", time.monotonic)
    node = pack.test_nodes["StyleGANEXOptimizeInversion"]
    with torch.inference_mode():
        node.execute(handles["inversion"], _img(32, 32), steps=2, lpips_weight=0.0, mse_weight=1.0,
                     lpips_backbone="random (tests only)")
    assert made == [{"estimate": "Optimize Inversion", "device": "cpu"}]


# ---- every node front door holds -------------------------------------------------------------------
SECRET = "TOPSECRET-9b2e-do-not-leak"


def _errors(pack):
    return _core(pack, "base.errors")


@pytest.fixture()
def outside(pack, tmp_path):
    """A valid checkpoint outside every ComfyUI folder, and a link to it inside the models folder."""
    testing = _core(pack, "dev.testing")
    path = testing.save_official_pt(testing.random_model("inversion", size=256, seed=2), tmp_path / "outside.pt")
    link = pack.user_models / "link_to_outside.pt"
    link.symlink_to(path)
    yield path, link
    link.unlink()


@pytest.mark.parametrize("node, arg", [("StyleGANEXLoader", "ckpt_name"), ("StyleGANEXSwapGenerator", "generator"),
                                       ("StyleGANEXFaceParserLoader", "parser_name")])
def test_model_file_names_stay_inside_the_models_folders(pack, handles, outside, node, arg):
    path, link = outside
    cls = pack.test_nodes[node]
    names = {str(path): "absolute path", f"../../{path.parent.name}/{path.name}": "'..'",
             "..\\..\\x.pt": "'..'", link.name: "links to a file outside"}
    for name, why in names.items():
        msg = cls.validate_inputs(**{arg: name})
        assert isinstance(msg, str) and why in msg and "models" in msg, (name, msg)
        args = {"StyleGANEXLoader": (name, "cpu", "auto"), "StyleGANEXSwapGenerator": (handles["inversion"], name),
                "StyleGANEXFaceParserLoader": (name, "cpu")}[node]
        with pytest.raises(_errors(pack).InputError, match=why):  # an API prompt skips nothing
            cls.execute(*args)


def test_other_node_file_inputs_stay_inside_comfyui_folders(pack, outside, tmp_path):
    import folder_paths

    path, link = outside
    folder_paths.set_input_directory(str(tmp_path / "input"))
    folder_paths.set_output_directory(str(tmp_path / "output"))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.safetensors").write_bytes(b"")
    opt, edit = pack.test_nodes["StyleGANEXOptimizeInversion"], pack.test_nodes["StyleGANEXApplyEdit"]
    load, save = pack.test_nodes["StyleGANEXLoadLatent"], pack.test_nodes["StyleGANEXSaveLatent"]
    for name in (str(path), link.name, "../outside.pt"):
        assert "ComfyUI's styleganex folder" in opt.validate_inputs(name, 1.0)
    for name in (str(path), "../outside.pt", "sub/../../outside.pt"):
        assert "ComfyUI's styleganex_directions folder" in edit.validate_inputs(name)
    for name in ("../elsewhere/x.safetensors", str(tmp_path / "elsewhere" / "x.safetensors"),
                 "../elsewhere/x.safetensors [output]"):
        msg = load.validate_inputs(name)
        assert isinstance(msg, str) and "ComfyUI's" in msg and ("'..'" in msg or "absolute" in msg), msg
        with pytest.raises(_errors(pack).InputError):
            load.execute(name)
    for prefix in ("../../evil", str(tmp_path / "evil"), ""):
        assert "output folder" in save.validate_inputs(prefix)
    assert save.validate_inputs("styleganex/latent") is True


def test_node_errors_never_quote_a_file(pack, tmp_path):
    import folder_paths

    secret = pack.user_models / "secret.pt"
    secret.write_text(SECRET * 3)
    folder_paths.set_input_directory(str(tmp_path))
    (tmp_path / "secret.safetensors").write_text(SECRET * 3)
    try:
        with pytest.raises(_errors(pack).CheckpointError) as info:
            pack.test_nodes["StyleGANEXLoader"].execute("secret.pt", "cpu", "auto")
        with pytest.raises(_errors(pack).LatentFileError) as info2:
            pack.test_nodes["StyleGANEXLoadLatent"].execute("secret.safetensors")
    finally:
        secret.unlink()
    for e in (info.value, info2.value):
        assert SECRET[:8] not in str(e) and "b'" not in str(e) and "bytes of text" in str(e), str(e)


@pytest.mark.parametrize("image, why", [
    (torch.full((1, 64, 64, 3), float("nan")), "NaN"),
    (torch.rand(0, 64, 64, 3), "empty"),
    (torch.rand(1, 64, 64, 2), "1, 3 or 4 channels"),
    (torch.randint(0, 255, (1, 64, 64, 3), dtype=torch.uint8), "float"),
    ("not a tensor", "IMAGE tensor"),
])
def test_image_inputs_are_checked(pack, handles, image, why):
    with pytest.raises(_errors(pack).ImageError, match=why):
        pack.test_nodes["StyleGANEXEncode"].execute(handles["inversion"], image)


def test_mask_inputs_and_the_pixel_cap(pack, handles, monkeypatch):
    tr = pack.test_nodes["StyleGANEXTranslateSketch"]
    with pytest.raises(_errors(pack).ImageError, match="NaN"):
        tr.execute(handles["sketch2face"], mask=torch.full((1, 64, 64), float("nan")))
    with pytest.raises(_errors(pack).ImageError, match="empty"):
        tr.execute(handles["sketch2face"], mask=torch.rand(1, 0, 64))
    monkeypatch.setattr(_core(pack, "io.images"), "MAX_PIXELS", 1000)  # the one setting
    with pytest.raises(_errors(pack).ImageError, match="STYLEGANEX_MAX_PIXELS"):
        pack.test_nodes["StyleGANEXFaceCrop"].execute(_img(64, 64))
    with pytest.raises(_errors(pack).ImageError, match="more than the limit of 1,000"):
        tr.execute(handles["sketch2face"], mask=torch.rand(1, 64, 64))


def test_nodes_never_output_nan_and_bound_edit_strengths(pack, handles):
    latent_mod = _core(pack, "model.latent")
    enc, dec, edit = (pack.test_nodes[n] for n in ("StyleGANEXEncode", "StyleGANEXDecode", "StyleGANEXApplyEdit"))
    model = handles["inversion"]
    with torch.inference_mode():
        latent = enc.execute(model, _img(64, 64)).result[0]
        huge = latent_mod.Latent(latent.wplus / latent.wplus.abs().max() * 3e38, latent.f)  # finite, too large
        with pytest.raises(_errors(pack).NonFiniteError, match="decoding image 0"):
            dec.execute(model, huge, "zero", 0, False, 0.1)
        with pytest.raises(_errors(pack).DirectionError, match="strength"):
            edit.execute(latent, "model editing vector (edit_age / edit_hair)", 1e6, model=handles["edit_age"])


def test_load_latent_checks_the_file_against_the_frame(pack, tmp_path):
    import json

    import folder_paths
    from safetensors.torch import save_file

    folder_paths.set_input_directory(str(tmp_path))
    record = {"frame_size": [40, 50], "scale": 1.0, "resized_size": [40, 50], "box": [8, 4, 40, 36]}
    tensors = {"wplus": torch.zeros(1, 14, 16), "f": torch.zeros(1, 32, 4, 4)}
    for name, crop in (("ok.safetensors", record), ("hostile.safetensors", {**record, "scale": 1e30})):
        save_file(tensors, str(tmp_path / name), metadata={"format": "styleganex-latent", "version": "2",
                                                           "crop": json.dumps({"records": [crop]})})
    load = pack.test_nodes["StyleGANEXLoadLatent"]
    with pytest.raises(_errors(pack).LatentFileError, match="hostile.safetensors.*'scale'"):
        load.execute("hostile.safetensors")
    with pytest.raises(_errors(pack).InputError, match="cropped from a 50x40 photo"):
        load.execute("ok.safetensors", None, _img(64, 64))  # a photo of another size: never pasted over


# ---- tried as a careless or hostile user would: face numbers, skip image, Apply Edit's list, GANSpace ------

class _NoFaces:
    def detect(self, image):
        return []


class _NeverCalled:
    def detect(self, image):
        raise AssertionError("the detector ran although the selection was refused")


@pytest.mark.parametrize("text, shown", [("0 2", "'0 2'"), ("-1", "'-1'"), ("0-x", "'0-x'"), ("", "empty"),
                                         ("1,2 3", "#1")])
def test_face_crop_refuses_face_numbers_it_cannot_read(pack, monkeypatch, text, shown):
    node = pack.test_nodes["StyleGANEXFaceCrop"]
    errors = _core(pack, "base.errors")
    message = node.validate_inputs(select="indices", indices=text)
    assert isinstance(message, str) and "Face Crop" in message and "indices" in message and shown in message
    assert node.validate_inputs(select="one", indices=text) is True  # only read when select is 'indices'
    faces_nodes = importlib.import_module(f"{PACKAGE}.nodes.faces")
    monkeypatch.setattr(faces_nodes, "_detector", lambda: _NeverCalled())
    with pytest.raises(errors.InputError, match="indices") as e:
        node.execute(_img(64, 64), 64, select="indices", indices=text)
    assert shown in str(e.value)


def test_face_crop_reads_commas_and_ranges(pack, monkeypatch):
    node = pack.test_nodes["StyleGANEXFaceCrop"]
    assert node.validate_inputs(select="indices", indices="0, 2-3") is True
    faces_nodes = importlib.import_module(f"{PACKAGE}.nodes.faces")
    monkeypatch.setattr(faces_nodes, "_detector", lambda: _NoFaces())
    blocked = node.execute(_img(64, 64), 64, select="indices", indices="0-2").result[2]
    assert "no face found" in blocked.message  # parsed, then nothing detected: the reason, not a crop of face 2


def test_skip_image_with_no_face_left_blocks_with_the_preview(pack, monkeypatch):
    from comfy_execution.graph_utils import ExecutionBlocker

    node = pack.test_nodes["StyleGANEXFaceCrop"]
    faces_nodes = importlib.import_module(f"{PACKAGE}.nodes.faces")
    monkeypatch.setattr(faces_nodes, "_detector", lambda: _NoFaces())
    crop, aligned, info, preview = node.execute(_img(64, 64, b=2), 64, if_no_face="skip image").result
    assert all(isinstance(x, ExecutionBlocker) for x in (crop, aligned, info))
    assert "no face found" in info.message and "left out" in info.message
    assert preview.shape == (2, 64, 64, 3)


def test_apply_edit_lists_nothing_that_acts_on_the_screen(pack, handles):
    folder = pack.user_models / "directions"
    folder.mkdir(exist_ok=True)
    torch.save({"fine": torch.ones(16), "evil\x1b[2J\x07": torch.ones(16)}, folder / "hostile_names.pt")
    np.save(folder / "hostile\x1b[31m.npy", np.ones(16, np.float32))
    node = pack.test_nodes["StyleGANEXApplyEdit"]
    edit_nodes = importlib.import_module(f"{PACKAGE}.nodes.edit")
    options = edit_nodes.direction_options()
    assert "hostile_names.pt" in options  # offered as one entry; choosing it shows the refusal
    assert not any(ch in option for option in options for ch in "\x1b\x07\r\x00")
    errors = _core(pack, "base.errors")
    with torch.inference_mode():
        latent = pack.test_nodes["StyleGANEXEncode"].execute(handles["inversion"], _img(64, 64)).result[0]
    with pytest.raises(errors.DirectionError, match="control characters") as e:
        node.execute(latent, "hostile_names.pt", 1.0, -1, -1)
    assert "hostile_names.pt" in str(e.value) and "\x1b" not in str(e.value)


def test_apply_edit_ganspace_is_e4e_even_at_strength_zero(pack, handles):
    folder = pack.user_models / "directions"
    folder.mkdir(exist_ok=True)
    g = torch.Generator().manual_seed(4)
    comp = torch.linalg.qr(torch.randn(16, 16, generator=g, dtype=torch.float64))[0][:3].float().reshape(3, 1, 16)
    pca = {"mean": torch.randn(1, 16, generator=g), "comp": comp, "std": torch.rand(3, generator=g) + 0.5}
    torch.save(pca, folder / "pca_node.pt")
    node = pack.test_nodes["StyleGANEXApplyEdit"]
    with torch.inference_mode():
        latent = pack.test_nodes["StyleGANEXEncode"].execute(handles["inversion"], _img(64, 64)).result[0]
        edited = node.execute(latent, "pca_node.pt [pc1]", 0.0, 0, 3).result[0]
    w = latent.wplus[0].double()
    coord = float(((w[0] - pca["mean"][0].double()) * comp[1, 0].double()).sum()) / float(pca["std"][1])
    want = w.clone()
    want[0:4] += (0.0 - coord) * comp[1, 0].double() * float(pca["std"][1])
    torch.testing.assert_close(edited.wplus[0].double(), want, rtol=0, atol=1e-5)


def test_edit_sweep_defaults_hold_for_a_saved_range_beyond_the_edit(pack, handles):
    import json

    from safetensors.torch import save_file

    folder = pack.user_models / "directions"
    folder.mkdir(exist_ok=True)
    info = {"wide": {"source": "sefa", "strength": [-5000, 900], "layers": None, "note": ""}}
    save_file({"wide": torch.ones(16)}, str(folder / "wide_range.safetensors"),
              metadata={"format": "styleganex-directions", "version": "1", "directions": json.dumps(info)})
    node = pack.test_nodes["StyleGANEXEditSweep"]
    with torch.inference_mode():
        latent = pack.test_nodes["StyleGANEXEncode"].execute(handles["inversion"], _img(64, 64)).result[0]
        images = node.execute(handles["inversion"], latent, "wide_range.safetensors", 0.0, 0.0, 3).result[0]
    assert images.shape[0] == 3 and torch.isfinite(images).all()
