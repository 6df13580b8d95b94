"""Training (styleganex.training): every recipe learns, saves in the released layout, resumes exactly.

All on small random models (reduced widths) and packaged photos; LPIPS with a random trunk (no download).
"""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from styleganex.base.errors import Cancelled, CheckpointError, DirectionError, InputError, NonFiniteError
from styleganex.dev.testing import packaged_photos, random_model
from styleganex.io.images import write_images
from styleganex.model import load_model
from styleganex.pipelines.lpips import load_lpips
from styleganex.training import prepare_training, recipe_options, resume_options
from styleganex.training.augment import apply_affine, crop, sample_affine, sample_crop
from styleganex.training.checkpoint import read_resume
from styleganex.training.losses import CROP_BOX_256, inner_crop, temporal_weight, w_norm_loss
from styleganex.training.network import noise_shapes

RELEASE_PSP_OPTS = ("output_size", "encoder_type", "input_nc", "label_nc", "checkpoint_path", "learn_in_w",
                    "start_from_latent_avg", "stylegan_weights", "toonify_weights", "max_pooling", "res_num",
                    "skip_max_layer", "use_att", "use_skip", "use_skip_torgb", "dataset_type", "n_styles")
"""Every option the release's pSp / GradualStyleEncoder / inference scripts read from a checkpoint's opts."""


@pytest.fixture(scope="module")
def lpips_alex():
    return load_lpips(random_backbone=True, net="alex")


@pytest.fixture(scope="module")
def lpips_vgg():
    return load_lpips(random_backbone=True, net="vgg")


def _photos(side: int) -> list[torch.Tensor]:
    p = packaged_photos()
    faces = [p["astronaut"][:, 30:330, 100:400], p["grace_hopper"][:, 20:420, 100:500]]
    return [F.interpolate(f[None], size=(side, side), mode="bilinear", antialias=True)[0].clamp(0, 1) for f in faces]


@pytest.fixture
def folders(tmp_path):
    """Two face photos (128 px), their sketches and their label maps, named alike."""
    photos, sketches, masks = tmp_path / "photos", tmp_path / "sketches", tmp_path / "masks"
    images = _photos(128)
    write_images([(photos / f"{i}.png", im) for i, im in enumerate(images)])
    write_images([(sketches / f"{i}.png", im.mean(0, keepdim=True).expand(3, -1, -1)) for i, im in enumerate(images)])
    # class ids 0..18 as grey values (the release's label images)
    write_images([(masks / f"{i}.png", ((im.mean(0, keepdim=True) * 18).round() / 255).expand(3, -1, -1))
                  for i, im in enumerate(images)])
    return {"photos": photos, "sketch2face": sketches, "mask2face": masks}


SMALL = dict(batch_size=2, adv_lambda=0.0, id_lambda=0.0, val_interval=10_000, log_interval=1, image_size=64,
             aligned_size=32, crop_min=48, crop_max=64)
GENERATED = dict(pair_pool=2, pair_feature=8)


def _setup(recipe, folders=None, lpips=None, out=None, steps=40, lr=1e-3, **kw):
    """A prepared trainer of ``recipe`` on a reduced model (output size 256; 1024 where the task upsamples)."""
    size = 1024 if recipe in ("sr", "sr32", "pretrain") else 256
    n_latent = 2 * int(math.log2(size)) - 2
    family = {"sketch2face": "sketch2face", "mask2face": "mask2face"}.get(recipe, "inversion")
    opts = dict(SMALL, output_size=size, max_steps=steps, learning_rate=lr, optim_name="adam",
                latent_mask=",".join(str(i) for i in range(8, n_latent)))
    extra = {}
    if recipe in ("video_edit", "toonify", "pretrain"):
        opts.update(GENERATED)
    if recipe == "video_edit":
        extra["direction"] = torch.randn(16, generator=torch.Generator().manual_seed(5)) * 0.5
    if recipe == "toonify":
        extra["generator"] = random_model("inversion", size=size, seed=7).decoder
    if recipe in ("inversion", "sr", "sr32", "sketch2face", "mask2face"):
        extra.update(data=folders["photos"], val_data=folders["photos"], prepare_faces=False)
        if recipe in ("sketch2face", "mask2face"):
            extra.update(labels=folders[recipe], val_labels=folders[recipe])
    for name in ("discriminator", "identity"):
        if name in kw:
            extra[name] = kw.pop(name)
    opts.update(kw)
    options = recipe_options(recipe, **opts)
    return prepare_training(options, out, init=random_model(family, size=size, seed=0), lpips=lpips, **extra)


# ---- options ------------------------------------------------------------------------------------------
def test_recipes_carry_the_release_commands():
    inv = recipe_options("inversion")
    assert (inv.id_lambda, inv.w_norm_lambda, inv.batch_size, inv.max_steps) == (0.1, 0.001, 8, 100000)
    assert inv.crop_face and inv.affine_augment and inv.random_crop and not inv.use_skip
    sk, mk = recipe_options("sketch2face"), recipe_options("mask2face")
    assert (sk.input_nc, sk.label_nc, sk.skip_max_layer, sk.w_norm_lambda) == (1, 1, 1, 0.005)
    assert (mk.input_nc, mk.label_nc, mk.skip_max_layer) == (19, 19, 2) and mk.use_latent_mask
    assert (recipe_options("sr").resize_factors, recipe_options("sr").skip_max_layer) == ("1,2,4,8,16", 2)
    assert (recipe_options("sr32").resize_factors, recipe_options("sr32").skip_max_layer) == ("8", 4)
    ve, to = recipe_options("video_edit"), recipe_options("toonify")
    assert (ve.use_att, ve.skip_max_layer, ve.tmp_lambda, ve.adv_lambda, ve.batch_size) == (1, 7, 30.0, 0.1, 2)
    assert not ve.random_crop and (to.max_steps, to.use_att) == (55000, 0)
    for name in ("inversion", "video_edit", "sr"):
        o = recipe_options(name)
        assert (o.learning_rate, o.optim_name, o.lpips_lambda, o.l2_lambda, o.lpips_net) == \
            (1e-4, "ranger", 0.8, 1.0, "alex")
    opts = recipe_options("toonify").to_opts()
    assert set(RELEASE_PSP_OPTS) <= set(opts) and opts["n_styles"] == 18 and opts["toonify_weights"] is None


@pytest.mark.parametrize("recipe, overrides, match", [
    ("nope", {}, "unknown recipe"),
    ("inversion", {"batch_size": 0}, "batch_size"),
    ("inversion", {"learning_rate": -1.0}, "learning_rate"),
    ("inversion", {"l2_lambda": float("nan")}, "l2_lambda"),
    ("inversion", {"lpips_net": "squeeze"}, "lpips_net"),
    ("inversion", {"bn": "magic"}, "option bn"),
    ("inversion", {"moco_lambda": 0.5}, "moco_lambda"),
    ("inversion", {"train_decoder": True}, "encoder only"),
    ("inversion", {"use_att": 1}, "use_att needs use_skip"),
    ("inversion", {"image_size": 100}, "multiple of 8"),
    ("inversion", {"crop_min": 320, "crop_max": 256}, "crop_min"),
    ("sr", {"resize_factors": "4,x"}, "comma-separated"),
    ("video_edit", {"edit_scales": ""}, "edit_scales"),
    ("mask2face", {"latent_mask": "8,30"}, "latent_mask"),
    ("inversion", {"no_such_option": 1}, "unknown training option"),
])
def test_bad_options_are_refused(recipe, overrides, match):
    with pytest.raises(InputError, match=match):
        recipe_options(recipe, **overrides)


# ---- pieces ---------------------------------------------------------------------------------------------
def test_augmentation_aligns_input_and_target_of_any_resolution():
    g = torch.Generator().manual_seed(0)
    mats = torch.stack([sample_affine(g, p=1.0) for _ in range(3)])
    y = F.interpolate(torch.rand(3, 3, 4, 4), size=(128, 128), mode="bicubic", align_corners=True)  # smooth
    x = F.avg_pool2d(y, 4)
    warped_x = apply_affine(x, mats)
    pooled_warped_y = F.avg_pool2d(apply_affine(y, mats), 4)
    inner = (slice(None), slice(None), slice(4, 28), slice(4, 28))
    assert (warped_x - pooled_warped_y)[inner].abs().max() < 0.02
    assert not torch.allclose(warped_x, x, atol=0.05)  # it did move
    eye = torch.eye(3).expand(2, 3, 3)
    img = torch.rand(2, 3, 24, 40)
    assert torch.allclose(apply_affine(img, eye), img, atol=1e-5)
    for _ in range(20):
        i, j, th, tw = sample_crop(g, 320, 320, 256, 320)
        assert th % 8 == 0 and tw % 8 == 0 and 256 <= th <= 320 and 256 <= tw <= 320
        assert 0 <= i <= 320 - th and 0 <= j <= 320 - tw
    big = torch.arange(64.0).reshape(1, 1, 8, 8).repeat_interleave(4, 2).repeat_interleave(4, 3)
    small = torch.arange(64.0).reshape(1, 1, 8, 8)
    assert torch.equal(crop(big, (2, 3, 4, 4), 4)[:, :, ::4, ::4], crop(small, (2, 3, 4, 4)))


def test_blind_degradation_is_keyed_lower_resolution_and_in_range():
    from styleganex.training.data import blind_degrade, sr_degrade

    y = _photos(256)[0][None]
    a, ya = blind_degrade(y, 64, [8], 4, torch.Generator().manual_seed(1))
    b, _ = blind_degrade(y, 64, [8], 4, torch.Generator().manual_seed(1))
    c, _ = blind_degrade(y, 64, [8], 4, torch.Generator().manual_seed(2))
    assert a.shape == (1, 3, 64, 64) and torch.equal(a, b) and not torch.equal(a, c)
    assert 0 <= float(a.min()) and float(a.max()) <= 1 and torch.equal(a * 255, (a * 255).round())
    sharp = F.interpolate(y, size=(64, 64), mode="bilinear", antialias=True)
    detail = lambda img: (img[..., 1:, :] - img[..., :-1, :]).abs().mean()  # noqa: E731
    assert detail(a) < 0.8 * detail(sharp)  # blurred and downsampled >= 6x before coming back to 64 px
    assert detail(sr_degrade(sharp, 8, 64)) < detail(sharp)


def test_bf16_autocast_step_is_finite_and_close_to_fp32(lpips_alex):
    fp32 = _setup("toonify", lpips=lpips_alex, steps=1)
    bf16 = _setup("toonify", lpips=lpips_alex, steps=1, precision="bf16")
    a, b = fp32.train_step(), bf16.train_step()
    assert math.isfinite(b["loss"]) and b["loss"] == pytest.approx(a["loss"], rel=0.05)
    assert all(p.dtype == torch.float32 for p in bf16.model.encoder.parameters())


def test_loss_terms_match_independent_computations():
    w = torch.randn(3, 4, 5)
    avg = torch.randn(4, 5)
    expected = sum(torch.sqrt(((w[b] - avg) ** 2).sum()) for b in range(3)) / 3
    assert torch.allclose(w_norm_loss(w, avg), expected)
    assert temporal_weight(49, 100) == 0.0 and temporal_weight(50, 100) == 0.0
    assert temporal_weight(60, 100) == pytest.approx(0.4) and temporal_weight(90, 100) == 1.0
    img = torch.zeros(1, 1, 256, 256)
    assert inner_crop(img).shape[-2:] == (CROP_BOX_256[1] - CROP_BOX_256[0], CROP_BOX_256[3] - CROP_BOX_256[2])
    assert inner_crop(torch.zeros(1, 1, 512, 512)).shape[-2:] == (376, 376)


def test_noise_shapes_are_the_generators_feature_sizes():
    model = random_model("inversion", size=256)
    sizes = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: sizes.append(tuple(out.shape[-2:])))
             for m in model.decoder.modules() if type(m).__name__ == "NoiseInjection"]
    with torch.no_grad():
        model.decoder.synthesize(torch.zeros(1, model.n_latent, 16), torch.zeros(1, 32, 3, 5), "random")
    for h in hooks:
        h.remove()
    assert sizes and sizes == noise_shapes(model.config, (3, 5))


# ---- every recipe learns ------------------------------------------------------------------------------
@pytest.mark.parametrize("recipe", ["pretrain", "inversion", "sketch2face", "mask2face", "sr", "sr32", "video_edit",
                                    "toonify"])
def test_every_recipe_overfits_a_handful_of_pairs(recipe, folders, lpips_alex):
    """On a fixed evaluation batch (the training pairs, no augmentation, fixed noise) the loss halves.
    Augmentation is off here (it is on in the checkpoint and resume tests); pretrain trains one 1x1 conv: a
    higher rate, and L2 only here (its LPIPS-VGG runs in the checkpoint test).
    RGB photo models use frozen BatchNorm here: batch statistics of two images are far from the running
    statistics the evaluation (like inference) uses; sketch / mask models infer with batch statistics."""
    kw = {"pretrain": dict(steps=20, lr=1e-2, lpips_lambda=0.0), "inversion": dict(steps=60, bn="frozen"),
          "sr": dict(steps=40, bn="frozen"), "sr32": dict(steps=40, bn="frozen", image_size=32)
          }.get(recipe, dict(steps=30))
    kw.update(affine_augment=False, random_crop=False, flip=False)
    trainer = _setup(recipe, folders, lpips_alex, **kw)
    before = trainer.validate()["loss"]
    result = trainer.run()
    after = trainer.validate()["loss"]
    assert result.steps == kw["steps"] and math.isfinite(after)
    assert after <= 0.5 * before, (recipe, before, after)


# ---- checkpoints ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("recipe, variant", [
    ("video_edit", "edit"), ("toonify", "toonify"), ("inversion", "inversion"), ("sketch2face", "sketch2face"),
    ("mask2face", "mask2face"), ("sr32", "sr32"), ("pretrain", "inversion"), ("sr", "sr")])
def test_saved_model_loads_everywhere_and_decodes_identically(recipe, variant, folders, lpips_alex, lpips_vgg,
                                                              tmp_path):
    trainer = _setup(recipe, folders, lpips_vgg if recipe == "pretrain" else lpips_alex, out=tmp_path / "run",
                     steps=2, **({"blind_sr": True} if recipe == "sr" else {}))
    result = trainer.run()
    raw = torch.load(result.last, map_location="cpu", weights_only=True)
    assert {"state_dict", "opts", "latent_avg"} <= set(raw) and set(RELEASE_PSP_OPTS) <= set(raw["opts"])
    assert all(k.startswith(("encoder.", "decoder.")) for k in raw["state_dict"])
    assert ("editing_w" in raw) == (recipe == "video_edit")
    loaded = load_model(result.last)
    assert loaded.variant == variant == result.model.variant
    frame = torch.rand(1, loaded.config.input_nc, 64, 64)
    if loaded.config.input_nc == 3:
        frame = frame * 2 - 1
    elif loaded.config.input_nc > 1:
        frame = F.one_hot(torch.randint(0, 19, (1, 64, 64)), 19).permute(0, 3, 1, 2).float()
    a, b = result.model.encode(frame), loaded.encode(frame)
    kw = {"editing_w": 0.5} if recipe == "video_edit" else {}
    assert torch.equal(result.model.decode(a, **kw), loaded.decode(b, **kw))
    for name, tensor in trainer.model.state_dict().items():  # the file holds the trained weights
        if name != "latent_avg":
            assert torch.equal(raw["state_dict"][name], tensor.cpu()), name


def _small_discriminator():
    from styleganex.training.discriminator import Discriminator
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        return Discriminator(32, widths=8)


def test_resume_continues_exactly_where_an_uninterrupted_run_would(lpips_alex, tmp_path):
    """Ranger, the discriminator with lazy R1, the temporal loss (second half), affine augmentation, random
    noise: 2 steps + resume + 2 steps == 4 steps, bit for bit."""
    kw = dict(steps=4, tmp_lambda=30.0, adv_lambda=0.1, d_reg_every=2, optim_name="ranger", learning_rate=1e-3)
    straight = _setup("video_edit", lpips=lpips_alex, out=tmp_path / "a", discriminator=_small_discriminator(), **kw)
    straight.run()
    first = _setup("video_edit", lpips=lpips_alex, out=tmp_path / "b", discriminator=_small_discriminator(), **kw)
    first.run(steps=2)
    first.save()
    state = read_resume(tmp_path / "b")
    assert state["step"] == 2
    again = prepare_training(resume_options(state, "video_edit"), tmp_path / "b", resume=tmp_path / "b",
                             lpips=lpips_alex, discriminator=_small_discriminator())
    assert again.step == 2
    again.run()
    for (name, p), q in zip(straight.model.named_parameters(), again.model.parameters()):
        assert torch.equal(p, q), name
    for (name, p), q in zip(straight.discriminator.named_parameters(), again.discriminator.parameters()):
        assert torch.equal(p, q), name
    log = [json.loads(line) for line in (tmp_path / "b" / "train_log.jsonl").read_text().splitlines()]
    assert [line["step"] for line in log if "loss" in line] == [1, 2, 3, 4]
    ref = [json.loads(line) for line in (tmp_path / "a" / "train_log.jsonl").read_text().splitlines()]
    assert [line["loss"] for line in ref if "loss" in line] == [line["loss"] for line in log if "loss" in line]
    assert {"loss_d", "loss_d_real", "loss_d_fake", "loss_g", "loss_l2", "loss_lpips"} <= set(log[0])
    assert "loss_r1" in log[0] and "loss_r1" not in log[1] and "loss_tmp" in log[2]
    assert raw_has_discriminator(tmp_path / "b" / "last.pt")


def raw_has_discriminator(path) -> bool:
    raw = torch.load(path, map_location="cpu", weights_only=True)
    return isinstance(raw.get("discriminator"), dict) and "final_linear.1.weight" in raw["discriminator"]


def test_identity_loss_trains_and_is_logged(lpips_alex, tmp_path):
    """The identity term (1 - cos of ArcFace features) with a small random IR-SE backbone on 256 px faces."""
    from styleganex.training.identity import IdentityLoss, IRSEBackbone

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        identity = IdentityLoss(IRSEBackbone([1, 1, 1, 1], embedding=32, stem=8))
    photos = tmp_path / "photos"
    write_images([(photos / f"{i}.png", im) for i, im in enumerate(_photos(256))])
    opts = recipe_options("inversion", **{**SMALL, "image_size": 256, "aligned_size": 256, "crop_min": 256,
                                          "crop_max": 256, "id_lambda": 0.1}, output_size=256, max_steps=2,
                          w_norm_lambda=0.001, optim_name="adam", learning_rate=1e-3)
    trainer = prepare_training(opts, tmp_path / "run", init=random_model("inversion", size=256), data=photos,
                               prepare_faces=False, lpips=lpips_alex, identity=identity)
    logs = trainer.train_step()
    assert 0.0 <= logs["loss_id"] <= 2.0 and "id_improve" in logs
    assert logs["loss"] == pytest.approx(logs["loss_l2"] + 0.8 * logs["loss_lpips"] + 0.1 * logs["loss_id"]
                                         + 0.001 * logs["loss_w_norm"], rel=1e-5)


def test_resume_refuses_another_recipe(lpips_alex, tmp_path):
    _setup("video_edit", lpips=lpips_alex, out=tmp_path / "run", steps=1).run()
    with pytest.raises(InputError, match="'video_edit' run, not 'toonify'"):
        resume_options(read_resume(tmp_path / "run"), "toonify")
    with pytest.raises(CheckpointError, match="no resume.pt"):
        read_resume(tmp_path)


def test_cancel_leaves_a_valid_checkpoint(lpips_alex, tmp_path):
    trainer = _setup("toonify", lpips=lpips_alex, out=tmp_path / "run", steps=10)
    with pytest.raises(Cancelled):
        trainer.run(cancel=lambda: trainer.step >= 3)
    assert read_resume(tmp_path / "run")["step"] == 3
    model = load_model(tmp_path / "run" / "last.pt")
    for name, p in trainer.model.state_dict().items():
        if name.startswith("encoder."):
            assert torch.equal(model.state_dict()[name], p), name


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(lpips_alex, tmp_path):
    trainer = _setup("toonify", lpips=lpips_alex, out=tmp_path / "run", steps=10, save_interval=2)
    real = trainer.losses

    def poisoned(*args, **kwargs):
        total, logs = real(*args, **kwargs)
        if trainer.step == 3:
            return total * float("nan"), {**logs, "loss": float("nan")}
        return total, logs

    trainer.losses = poisoned
    with pytest.raises(NonFiniteError, match="step 4.*last good checkpoint"):
        trainer.run()
    assert read_resume(tmp_path / "run")["step"] == 2
    assert load_model(tmp_path / "run" / "last.pt").variant == "toonify"


# ---- bad inputs before the first step --------------------------------------------------------------------
def test_missing_or_unfitting_inputs_are_refused_before_training(folders, lpips_alex, tmp_path):
    opts = recipe_options("video_edit", **SMALL, output_size=256, max_steps=2, **GENERATED)
    init = random_model("inversion", size=256)
    with pytest.raises(InputError, match="needs an editing direction"):
        prepare_training(opts, None, init=init, lpips=lpips_alex)
    with pytest.raises(DirectionError, match="style width is 16"):
        prepare_training(opts, None, init=init, direction=torch.randn(512), lpips=lpips_alex)
    with pytest.raises(FileNotFoundError, match="--init"):
        prepare_training(opts, None, init=tmp_path / "missing.pt", direction=torch.randn(16), lpips=lpips_alex)
    toon = recipe_options("toonify", **SMALL, output_size=256, max_steps=2, **GENERATED)
    with pytest.raises(InputError, match="fine-tuned generator"):
        prepare_training(toon, None, init=init, lpips=lpips_alex)
    with pytest.raises(InputError, match="structure"):
        prepare_training(toon, None, init=init, generator=random_model("inversion", size=512).decoder, lpips=lpips_alex)
    inv = recipe_options("inversion", **SMALL, output_size=256, max_steps=2)
    with pytest.raises(InputError, match="--data"):
        prepare_training(inv, None, init=init, lpips=lpips_alex)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"not an image")
    with pytest.raises(InputError, match="no usable image.*broken.png"):
        prepare_training(inv, None, init=init, data=bad, prepare_faces=False, lpips=lpips_alex)
    with pytest.raises(InputError, match="no usable face.*broken.png"):
        prepare_training(inv, None, init=init, data=bad, lpips=lpips_alex)


def test_unreadable_files_are_skipped_and_named_in_the_log(folders, lpips_alex, tmp_path):
    (folders["photos"] / "zz_broken.jpg").write_bytes(b"\xff\xd8 truncated")
    trainer = _setup("inversion", folders, lpips_alex, out=tmp_path / "run", steps=1)
    assert [p.name for p, _ in trainer.source.skipped] == ["zz_broken.jpg"]
    trainer.run()
    events = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    skipped = [e for e in events if e.get("event") == "skipped"]
    assert skipped and skipped[0]["count"] == 1 and skipped[0]["files"][0]["file"].endswith("zz_broken.jpg")
    assert any("loss_l2" in e and "loss_lpips" in e and "loss_w_norm" in e for e in events)


def test_damaged_resume_state_is_refused_without_quoting_it(tmp_path):
    (tmp_path / "resume.pt").write_bytes(b"PK\x03\x04 secret text of a damaged file")
    with pytest.raises(CheckpointError) as e:
        read_resume(tmp_path)
    assert "secret" not in str(e.value) and "resume.pt" in str(e.value)
    torch.save({"format": "something else"}, tmp_path / "resume.pt")
    with pytest.raises(CheckpointError, match="not a resume state"):
        read_resume(tmp_path)


def test_photo_folder_prepares_faces_the_release_way_and_skips_faceless_ones(tmp_path):
    """Photos are cropped (eyes 64 px apart) and aligned with prepare_face (dlib); a photo without a face is
    skipped and named."""
    from styleganex.faces.prepare import prepare_face
    from styleganex.training.data import PhotoFolder

    photos = packaged_photos()
    write_images([(tmp_path / "astronaut.png", photos["astronaut"]), (tmp_path / "hopper.png", photos["grace_hopper"]),
                  (tmp_path / "wall.png", torch.full((3, 200, 200), 0.5))])
    folder = PhotoFolder(tmp_path, image_size=64, aligned_size=32)
    assert len(folder) == 2 and [p.name for p, _ in folder.skipped] == ["wall.png"]
    assert "no usable face" in folder.skipped[0][1]
    pair = folder.get(0, torch.Generator().manual_seed(0), flip=False)
    assert pair.x.shape == (1, 3, 64, 64) and pair.x_tilde.shape == (1, 3, 32, 32)
    ref = prepare_face(photos["astronaut"])
    expected = F.interpolate(ref.aligned[None], size=(32, 32), mode="bilinear", antialias=True).clamp(0, 1) * 2 - 1
    assert torch.allclose(pair.x_tilde, expected, atol=1e-6)


def test_a_folder_run_resumes_without_naming_its_folders_again(folders, lpips_alex, tmp_path):
    _setup("sketch2face", folders, lpips_alex, out=tmp_path / "run", steps=1).run()
    state = read_resume(tmp_path / "run")
    again = prepare_training(resume_options(state, "sketch2face", max_steps=2), tmp_path / "run",
                             resume=tmp_path / "run", lpips=lpips_alex)
    assert len(again.source) == 2 and again.run().steps == 2
