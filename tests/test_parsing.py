"""Tests for styleganex.faces.parsing (BiSeNet face parser) with random weights; no released files needed."""

import argparse
import json

import numpy as np
import pytest
import torch
from PIL import Image

from styleganex.faces.parsing import (
    FACE_PARSING_CLASSES,
    KEY_MANIFEST_PATH,
    NUM_CLASSES,
    PALETTE,
    BiSeNet,
    FaceParser,
    colorize,
    label_image_to_labels,
    labels_to_onehot,
    onehot_to_labels,
    state_dict_manifest,
)


@pytest.fixture(scope="module")
def random_state_dict():
    torch.manual_seed(0)
    model = BiSeNet(NUM_CLASSES)
    for m in model.modules():  # non-trivial BN statistics so that a wrong load would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model.state_dict()


@pytest.fixture(scope="module")
def parser(random_state_dict):
    model = BiSeNet(NUM_CLASSES)
    model.load_state_dict(random_state_dict)
    return FaceParser(model)


def random_labels(b=2, h=17, w=23, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, NUM_CLASSES, (b, h, w), generator=g)


# ------------------------------------------------------------------ key compatibility


def test_manifest_matches_model_state_dict():
    manifest = json.loads(KEY_MANIFEST_PATH.read_text())
    sd = BiSeNet(NUM_CLASSES).state_dict()
    assert manifest["n_keys"] == len(manifest["keys"]) == len(sd) == 191
    assert [e["key"] for e in manifest["keys"]] == list(sd.keys())
    for e in manifest["keys"]:
        assert e["shape"] == list(sd[e["key"]].shape), e["key"]
        assert e["dtype"] == str(sd[e["key"]].dtype).replace("torch.", "")
    # The data file is exactly what the generator writes.
    assert manifest == json.loads(json.dumps(state_dict_manifest()))


def test_manifest_has_the_released_layout():
    shapes = {e["key"]: tuple(e["shape"]) for e in json.loads(KEY_MANIFEST_PATH.read_text())["keys"]}
    expected = {
        "cp.resnet.conv1.weight": (64, 3, 7, 7),
        "cp.resnet.bn1.running_var": (64,),
        "cp.resnet.layer1.0.conv1.weight": (64, 64, 3, 3),
        "cp.resnet.layer2.0.downsample.0.weight": (128, 64, 1, 1),
        "cp.resnet.layer2.0.downsample.1.running_mean": (128,),
        "cp.resnet.layer4.1.bn2.weight": (512,),
        "cp.arm16.conv.conv.weight": (128, 256, 3, 3),
        "cp.arm32.conv_atten.weight": (128, 128, 1, 1),
        "cp.arm32.bn_atten.bias": (128,),
        "cp.conv_head32.conv.weight": (128, 128, 3, 3),
        "cp.conv_head16.bn.running_mean": (128,),
        "cp.conv_avg.conv.weight": (128, 512, 1, 1),
        "ffm.convblk.conv.weight": (256, 256, 1, 1),
        "ffm.conv1.weight": (64, 256, 1, 1),
        "ffm.conv2.weight": (256, 64, 1, 1),
        "conv_out.conv.conv.weight": (256, 256, 3, 3),
        "conv_out.conv_out.weight": (19, 256, 1, 1),
        "conv_out16.conv.conv.weight": (64, 128, 3, 3),
        "conv_out16.conv_out.weight": (19, 64, 1, 1),
        "conv_out32.conv_out.weight": (19, 64, 1, 1),
    }
    for key, shape in expected.items():
        assert shapes[key] == shape, key
    assert "cp.resnet.layer1.0.downsample.0.weight" not in shapes  # no projection in layer1
    assert not any(k.startswith(("sp.", "cp.resnet.fc")) for k in shapes)  # no spatial path, no classifier
    assert not any(k.endswith(".bias") and "conv" in k.split(".")[-2] for k in shapes)  # bias-free convs


def test_load_strict_round_trip(tmp_path, random_state_dict):
    path = tmp_path / "faceparsing.pth"
    torch.save(random_state_dict, path)
    fp = FaceParser.load(path)
    for k, v in fp.model.state_dict().items():
        assert torch.equal(v, random_state_dict[k]), k
    assert not fp.model.training


def test_load_tolerates_dataparallel_prefix_and_old_bn(tmp_path, random_state_dict):
    sd = {"module." + k: v for k, v in random_state_dict.items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old.pth"
    torch.save(sd, path)
    fp = FaceParser.load(path)
    assert torch.equal(fp.model.state_dict()["ffm.conv1.weight"], random_state_dict["ffm.conv1.weight"])


def test_load_safetensors(tmp_path, random_state_dict):
    from safetensors.torch import save_file

    path = tmp_path / "faceparsing.safetensors"
    save_file({k: v.contiguous() for k, v in random_state_dict.items()}, str(path))
    fp = FaceParser.load(path)
    assert torch.equal(fp.model.state_dict()["cp.resnet.conv1.weight"], random_state_dict["cp.resnet.conv1.weight"])


def test_load_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="faceparsing.pth"):
        FaceParser.load(tmp_path / "nowhere" / "faceparsing.pth")


def test_load_styleganex_checkpoint_is_named(tmp_path):
    ckpt = {
        "state_dict": {
            "encoder.input_layer.0.weight": torch.zeros(64, 3, 3, 3),
            "decoder.style.1.weight": torch.zeros(4, 4),
        },
        "opts": {"output_size": 1024, "input_nc": 19, "label_nc": 19},
        "latent_avg": torch.zeros(18, 512),
    }
    path = tmp_path / "styleganex_mask2face.pt"
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match=r"styleganex_mask2face\.pt.*StyleGANEX"):
        FaceParser.load(path)


def test_load_rejects_other_files(tmp_path, random_state_dict):
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="notes.pth"):
        FaceParser.load(text)

    unsafe = tmp_path / "pickled.pth"  # arbitrary objects are refused by weights_only loading
    torch.save({"args": argparse.Namespace(a=1)}, unsafe)
    with pytest.raises(ValueError, match="pickled.pth"):
        FaceParser.load(unsafe)

    wrong = dict(random_state_dict)
    for head in ("conv_out", "conv_out16", "conv_out32"):
        key = f"{head}.conv_out.weight"
        wrong[key] = torch.zeros(11, *wrong[key].shape[1:])
    path = tmp_path / "eleven.pth"
    torch.save(wrong, path)
    with pytest.raises(ValueError, match="11 classes"):
        FaceParser.load(path)

    partial = {k: v for k, v in random_state_dict.items() if not k.startswith("ffm.")}
    path = tmp_path / "partial.pth"
    torch.save(partial, path)
    with pytest.raises(ValueError, match="missing key"):
        FaceParser.load(path)


# ------------------------------------------------------------------ inference


def test_parse_shapes_and_range(parser):
    x = torch.rand(2, 3, 40, 56)
    labels = parser.parse(x)
    assert labels.shape == (2, 40, 56) and labels.dtype == torch.long
    assert 0 <= int(labels.min()) and int(labels.max()) < NUM_CLASSES
    logits = parser.logits(x)
    assert logits.shape == (2, NUM_CLASSES, 40, 56)
    assert torch.equal(logits.argmax(1), labels)
    # Fixed-size mode (face-parsing.PyTorch demo style) also returns the input size.
    labels512 = parser.parse(torch.rand(1, 3, 37, 45), size=64)
    assert labels512.shape == (1, 37, 45)


def test_parse_matches_manual_official_pipeline(parser):
    x = torch.rand(1, 3, 32, 48)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        up = torch.nn.functional.interpolate((x - mean) / std, scale_factor=2, mode="bilinear")
        ref_logits = torch.nn.functional.interpolate(parser.model(up), scale_factor=0.5)
    # computed the same way, but not by the same calls: logits agree to float32 rounding, and the labels
    # wherever the top two classes are further apart than that
    torch.testing.assert_close(parser.logits(x), ref_logits, rtol=0, atol=1e-4)
    top2 = ref_logits.topk(2, dim=1).values
    clear = (top2[:, 0] - top2[:, 1]) > 2e-4  # twice the logits' tolerance
    labels = parser.parse(x)
    assert clear.float().mean() > 0.9
    assert torch.equal(labels[clear], ref_logits.argmax(1)[clear])


def test_parse_rejects_bad_input(parser):
    with pytest.raises(ValueError, match=r"\[B,3,H,W\]"):
        parser.parse(torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match=r"\[B,3,H,W\]"):
        parser.parse(torch.rand(1, 4, 32, 32))


# ------------------------------------------------------------------ label conversions


def test_palette_constant():
    assert len(PALETTE) == len(FACE_PARSING_CLASSES) == NUM_CLASSES
    assert len(set(PALETTE)) == NUM_CLASSES
    assert PALETTE[0] == (0, 0, 0)
    assert PALETTE[FACE_PARSING_CLASSES.index("skin")] == (204, 0, 0)
    assert PALETTE[FACE_PARSING_CLASSES.index("hair")] == (0, 0, 204)


def test_onehot_round_trip():
    labels = random_labels()
    onehot = labels_to_onehot(labels)
    assert onehot.shape == (2, NUM_CLASSES, 17, 23) and onehot.dtype == torch.float32
    assert torch.equal(onehot.sum(1), torch.ones(2, 17, 23))
    assert torch.equal(onehot_to_labels(onehot), labels)
    assert torch.equal(labels_to_onehot(labels[:, None]), onehot)  # [B,1,H,W] accepted


def test_colorize_and_back():
    labels = random_labels()
    rgb = colorize(labels)
    assert rgb.shape == (2, 3, 17, 23) and rgb.dtype == torch.float32
    assert float(rgb.min()) >= 0 and float(rgb.max()) <= 1
    pal = torch.tensor(PALETTE, dtype=torch.float32) / 255
    assert torch.allclose(rgb[0, :, 3, 4], pal[labels[0, 3, 4]])
    assert torch.equal(label_image_to_labels(rgb), labels)  # float 0..1 colour mask
    rgb8 = (rgb * 255).round().to(torch.uint8)
    assert torch.equal(label_image_to_labels(rgb8), labels)  # uint8 colour mask
    noisy = (rgb8.int() + torch.randint(-12, 13, rgb8.shape)).clamp(0, 255).to(torch.uint8)
    assert torch.equal(label_image_to_labels(noisy), labels)  # lossy compression within tolerance
    hwc = rgb8[0].permute(1, 2, 0).numpy()
    assert torch.equal(label_image_to_labels(Image.fromarray(hwc)), labels[:1])  # PIL RGB


def test_label_image_where_pixel_is_class_id():
    labels = random_labels()
    grey = labels[:, None].float() / 255  # a grey PNG of ids, loaded as 0..1
    assert torch.equal(label_image_to_labels(grey), labels)
    rgb = labels[:, None].expand(-1, 3, -1, -1).to(torch.uint8)  # same image saved as RGB
    assert torch.equal(label_image_to_labels(rgb), labels)
    arr = labels[0].numpy().astype(np.uint8)
    assert torch.equal(label_image_to_labels(arr), labels[:1])
    assert torch.equal(label_image_to_labels(Image.fromarray(arr, mode="L")), labels[:1])
    pimg = Image.fromarray(arr, mode="L").convert("P")
    pimg.putdata(arr.flatten().tolist())
    assert torch.equal(label_image_to_labels(pimg), labels[:1])
    assert torch.equal(label_image_to_labels(labels), labels)  # [B,H,W] integer map


def test_label_validation_errors():
    bad = random_labels()
    bad[0, 0, 0] = 23
    with pytest.raises(ValueError, match="max label 23"):
        labels_to_onehot(bad)
    with pytest.raises(ValueError, match="max label 23"):
        colorize(bad)
    with pytest.raises(ValueError, match="max label 23"):
        label_image_to_labels(bad[:, None].to(torch.uint8))
    neg = random_labels()
    neg[1, 2, 3] = -1
    with pytest.raises(ValueError, match="min label -1"):
        labels_to_onehot(neg)
    with pytest.raises(ValueError, match="integer"):
        labels_to_onehot(torch.full((1, 4, 4), 0.5))
    with pytest.raises(ValueError, match=r"\[B,H,W\]"):
        labels_to_onehot(torch.zeros(4, 4, dtype=torch.long))
    odd = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    odd[0, :, 1, 1] = torch.tensor([10, 200, 90], dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"1 pixel\(s\) match no palette colour"):
        label_image_to_labels(odd)
    with pytest.raises(ValueError, match="19 channels|expected 19"):
        onehot_to_labels(torch.zeros(1, 5, 2, 2), num_classes=19)
