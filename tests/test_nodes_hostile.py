"""The node front doors of issue 24, tried as a careless or hostile user would: face numbers typed into
Face Crop, "skip image" leaving no face, direction names and file names with control characters in
Apply Edit's list, and a GANSpace component applied as e4e does (the same as the library and the CLI).

They use the real ComfyUI modules (the fixtures of test_nodes.py); where ComfyUI cannot be prepared they
are skipped as those are.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from test_nodes import PACKAGE, _img, comfy, handles, pack

FIXTURES = (comfy, handles, pack)  # the ComfyUI fixtures of test_nodes.py, used by name below


def _core(name):
    return importlib.import_module(f"{PACKAGE}.styleganex.{name}")


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
    errors = _core("base.errors")
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
    errors = _core("base.errors")
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
