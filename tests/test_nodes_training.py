"""The ComfyUI training nodes, called directly with ComfyUI's real modules (as tests/test_nodes.py does):
progress every step, Cancel at the next step with a valid saved run, resume equal to an uninterrupted
run, the trained model usable at once and loadable from models/styleganex, the loss outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import test_nodes
import torch

comfy, pack = test_nodes.comfy, test_nodes.pack  # the shared ComfyUI fixtures (tests/test_nodes.py)
_core, _nodes = test_nodes._core, test_nodes._nodes

# reduced runs: generated pairs from the 8 px constant, two fixed pairs, no discriminator
FAST = json.dumps({"pair_pool": 2, "pair_feature": 8, "adv_lambda": 0, "val_interval": 100000, "log_interval": 1})


@pytest.fixture(scope="module")
def init(pack):
    testing, common = _core(pack, "dev.testing"), _nodes(pack, "common")
    model = testing.random_model("inversion", size=256, seed=0)
    return common.StyleGANEXModel(model, "styleganex_inversion.pt", torch.device("cpu"), torch.float32)


def _direction(pack, seed=5):
    d = _core(pack, "io.directions")
    return [d.Direction.of(torch.randn(16, generator=torch.Generator().manual_seed(seed)) * 0.5, "test", "sefa",
                           layers=None)]


def _video_edit(pack, init, name, steps=4, resume=False, options=FAST):
    node = pack.test_nodes["StyleGANEXTrainVideoEdit"]
    with torch.inference_mode():  # as ComfyUI runs nodes
        return node.execute(init, "none", 1.0, steps, 2, 1e-3, 0, "off", name, resume, options,
                            directions=_direction(pack)).result


def _runs(pack) -> Path:
    """Where the nodes save runs: the first models folder (an earlier test module's user folder may be first)."""
    return Path(_nodes(pack, "common").first_folder())


def _decode(model, seed=0):
    with torch.no_grad():
        g = torch.Generator().manual_seed(seed)
        codes = torch.randn(1, model.config.n_latent, model.config.style_dim, generator=g)
        return model.decoder([codes], input_is_latent=True, randomize_noise=False)[0]


def test_video_edit_trains_saves_and_reports_every_step(pack, init, comfy, monkeypatch):
    import comfy.utils

    calls = []
    monkeypatch.setattr(comfy.utils, "PROGRESS_BAR_HOOK", lambda v, t, p, node_id=None: calls.append((v, t)))
    before = {k: v.clone() for k, v in init.model.state_dict().items()}
    model, loss_map, graph, steps = _video_edit(pack, init, "ve_run")
    assert steps == 4
    assert [v for v, t in calls if t == 4][-4:] == [1, 2, 3, 4]  # ComfyUI's bar after every step
    assert len(loss_map["loss"]) == 4 and all(isinstance(v, float) for v in loss_map["loss"])
    assert "loss_l2" in loss_map
    assert graph.shape[0] == 1 and graph.shape[-1] == 3 and float(graph.min()) < 0.5 < float(graph.max())
    # the input model is untouched; the output is trained, an edit model, on the memory manager
    assert all(torch.equal(v, init.model.state_dict()[k]) for k, v in before.items())
    assert model.variant.startswith("edit") and model.model.editing_w is not None
    assert model._managed is not None and model.name == "ve_run/last.pt"
    old = init.model.encoder.state_dict()
    changed = [k for k, v in model.model.encoder.state_dict().items()
               if k in old and v.is_floating_point() and not torch.equal(v, old[k])]
    assert changed and model.model.encoder.has_fusion  # the video model's fusion layers are new
    # saved in models/styleganex/<save_name>: the Loader lists last.pt (not resume.pt) and it loads equal
    folder = _runs(pack) / "ve_run"
    assert {p.name for p in folder.iterdir()} >= {"last.pt", "resume.pt", "train_log.jsonl"}
    files = _nodes(pack, "common").checkpoint_files()
    assert "ve_run/last.pt" in files and "ve_run/resume.pt" not in files
    loaded = _core(pack, "model.checkpoints").load_model(folder / "last.pt")
    assert loaded.variant == model.variant
    torch.testing.assert_close(_decode(loaded), _decode(model.model), rtol=0, atol=0)
    # a second run under the same name is refused unless it resumes
    with pytest.raises(ValueError, match="already holds a training run"):
        _video_edit(pack, init, "ve_run")


def test_cancel_saves_and_resume_equals_the_uninterrupted_run(pack, init, comfy, monkeypatch):
    """Cancel pressed while step 2 reports (ComfyUI's interrupt flag, set from its progress hook): the run
    stops before step 3 with a saved state; resume then ends where the uninterrupted run ends, bit for bit."""
    import comfy.model_management as mm
    import comfy.utils

    straight = _video_edit(pack, init, "ve_straight", steps=4)[0].model

    def hook(value, total, preview, node_id=None):
        if value == 2 and total == 4:
            mm.interrupt_current_processing(True)

    monkeypatch.setattr(comfy.utils, "PROGRESS_BAR_HOOK", hook)
    with pytest.raises(mm.InterruptProcessingException):
        _video_edit(pack, init, "ve_cut", steps=4)
    assert not mm.processing_interrupted()  # the flag is consumed, as ComfyUI expects
    monkeypatch.setattr(comfy.utils, "PROGRESS_BAR_HOOK", None)
    folder = _runs(pack) / "ve_cut"
    state = _core(pack, "training.checkpoint").read_resume(folder)
    assert state["step"] == 2
    assert _core(pack, "model.checkpoints").load_model(folder / "last.pt").variant.startswith("edit")
    model, loss_map, _, steps = _video_edit(pack, init, "ve_cut", steps=4, resume=True)
    assert steps == 4 and len(loss_map["loss"]) == 2  # this run's steps 3 and 4
    for (k, a), b in zip(straight.state_dict().items(), model.model.state_dict().values()):
        assert torch.equal(a, b), k


def test_toonify_from_a_generator_file(pack, init):
    testing = _core(pack, "dev.testing")
    testing.save_stylegan2_pt(testing.random_model("inversion", size=256, seed=7), pack.user_models / "toon_g.pt")
    node = pack.test_nodes["StyleGANEXTrainToonify"]
    assert node.validate_inputs("toon_g.pt", "toon_run") is True
    assert "not found" in node.validate_inputs("nothing.pt", "toon_run")
    with torch.inference_mode():
        out = node.execute(init, "toon_g.pt", 3, 2, 1e-3, 0, "off", "toon_run", False, FAST).result
    model, loss_map, _, steps = out
    assert steps == 3 and model.variant.startswith("toonify") and len(loss_map["loss"]) == 3
    gen = _core(pack, "model.generator")  # the decoder is the fine-tuned generator's
    toon = testing.random_model("inversion", size=256, seed=7).decoder
    assert isinstance(model.model.decoder, gen.Generator)
    assert torch.equal(model.model.decoder.style[1].weight, toon.style[1].weight)


def test_photos_from_the_input_folder(pack, comfy, tmp_path, monkeypatch):
    import folder_paths

    testing, common, outputs = _core(pack, "dev.testing"), _nodes(pack, "common"), _core(pack, "io.images")
    monkeypatch.setattr(folder_paths, "get_input_directory", lambda: str(tmp_path))
    photos = testing.packaged_photos()
    faces = [torch.nn.functional.interpolate(p[None, :, :300, :300], size=(64, 64), mode="area")[0]
             for p in photos.values()][:2]
    outputs.write_images([(tmp_path / "faces" / f"{i}.png", f) for i, f in enumerate(faces)])
    (tmp_path / "faces" / "broken.png").write_bytes(b"not a picture")
    node = pack.test_nodes["StyleGANEXTrainOnPhotos"]
    assert node.validate_inputs("faces", "ph_run") is True
    assert "not a folder" in node.validate_inputs("none_here", "ph_run")
    assert "outside" in node.validate_inputs("../", "ph_run") or "climbs" in node.validate_inputs("../", "ph_run")
    init = common.StyleGANEXModel(testing.random_model("inversion", size=256, seed=0), "i.pt", torch.device("cpu"),
                                  torch.float32)
    small = json.dumps({"id_lambda": 0, "image_size": 64, "aligned_size": 32, "crop_min": 48, "crop_max": 64,
                        "val_interval": 100000, "log_interval": 1})
    with torch.inference_mode():
        model, loss_map, _, steps = node.execute(init, "inversion", "faces", False, 2, 2, 1e-3, 0, "off", "ph_run",
                                                 False, small).result
    assert steps == 2 and model.variant.startswith("inversion")
    log = [json.loads(line) for line in (_runs(pack) / "ph_run" / "train_log.jsonl").read_text().splitlines()]
    skipped = [e for e in log if e.get("event") == "skipped"]
    assert skipped and skipped[0]["count"] == 1 and "broken.png" in json.dumps(skipped[0])
    with torch.inference_mode():  # resumed: the same folder, one more step
        model, loss_map, _, steps = node.execute(init, "inversion", "faces", False, 3, 2, 1e-3, 0, "off", "ph_run",
                                                 True, small).result
    assert steps == 3 and len(loss_map["loss"]) == 1


def test_bad_inputs_are_refused_before_training(pack, init):
    node = pack.test_nodes["StyleGANEXTrainVideoEdit"]
    assert "folder name" in node.validate_inputs("none", "../escape")
    with torch.inference_mode(), pytest.raises(ValueError, match="no saved run"):
        _video_edit(pack, init, "never_saved", resume=True)
    with torch.inference_mode(), pytest.raises(ValueError, match="JSON"):
        _video_edit(pack, init, "bad_json", options="{adv_lambda: 0}")
    with torch.inference_mode(), pytest.raises(ValueError, match="unknown training option"):
        _video_edit(pack, init, "bad_key", options='{"no_such_option": 1}')
    with torch.inference_mode(), pytest.raises(ValueError, match="choose a direction"):
        node.execute(init, "none", 1.0, 2, 2, 1e-3, 0, "off", "no_dir", False, FAST)
    assert not (_runs(pack) / "bad_json").exists() and not (_runs(pack) / "no_dir").exists()
