"""The ArcFace IR-SE identity loss: a random state dict in pSp's key layout (reduced widths) is loaded and
the embedding checked against a functional forward written here from the state dict alone; the loss is
1 - cos against those embeddings; missing and wrong files give clear errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from styleganex.base.errors import CheckpointError, InputError
from styleganex.training.identity import IDENTITY_FILE, IdentityLoss, IRSEBackbone, find_identity_weights

STEM = 8
STAGES = [(8, 2), (16, 2), (24, 1), (32, 1)]  # (width, units): 112 -> 56 -> 28 -> 14 -> 7
EMBED = 16


def _bn(sd, name, c, g):
    sd[f"{name}.weight"] = 1 + 0.1 * torch.randn(c, generator=g)
    sd[f"{name}.bias"] = 0.1 * torch.randn(c, generator=g)
    sd[f"{name}.running_mean"] = 0.1 * torch.randn(c, generator=g)
    sd[f"{name}.running_var"] = 0.5 + torch.rand(c, generator=g)
    sd[f"{name}.num_batches_tracked"] = torch.tensor(7)


def _psp_state_dict(seed=0, counters=True) -> tuple[dict, list[tuple[int, int, int]]]:
    """pSp Backbone(112, mode='ir_se') keys with random values; also the (in, depth, stride) of each unit."""
    g = torch.Generator().manual_seed(seed)
    rnd = lambda *s: torch.randn(*s, generator=g) * 0.2  # noqa: E731
    sd = {"input_layer.0.weight": rnd(STEM, 3, 3, 3)}
    _bn(sd, "input_layer.1", STEM, g)
    sd["input_layer.2.weight"] = 0.25 + 0.05 * torch.rand(STEM, generator=g)
    units, c_in, n = [], STEM, 0
    for width, count in STAGES:
        for u in range(count):
            stride = 2 if u == 0 else 1
            p = f"body.{n}"
            if c_in != width:
                sd[f"{p}.shortcut_layer.0.weight"] = rnd(width, c_in, 1, 1)
                _bn(sd, f"{p}.shortcut_layer.1", width, g)
            _bn(sd, f"{p}.res_layer.0", c_in, g)
            sd[f"{p}.res_layer.1.weight"] = rnd(width, c_in, 3, 3)
            sd[f"{p}.res_layer.2.weight"] = 0.25 + 0.05 * torch.rand(width, generator=g)
            sd[f"{p}.res_layer.3.weight"] = rnd(width, width, 3, 3)
            _bn(sd, f"{p}.res_layer.4", width, g)
            hidden = max(1, width // 16)
            sd[f"{p}.res_layer.5.fc1.weight"] = rnd(hidden, width, 1, 1)
            sd[f"{p}.res_layer.5.fc2.weight"] = rnd(width, hidden, 1, 1)
            units.append((c_in, width, stride))
            c_in, n = width, n + 1
    _bn(sd, "output_layer.0", c_in, g)
    sd["output_layer.3.weight"] = rnd(EMBED, c_in * 49) * 0.1
    sd["output_layer.3.bias"] = rnd(EMBED)
    _bn(sd, "output_layer.4", EMBED, g)
    if not counters:
        sd = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    return sd, units


def _reference_embed(sd, units, img):
    """pSp's IDLoss.extract_feats + Backbone.forward (eval), functionally, straight from the tensors."""
    def bn(x, name):
        return F.batch_norm(x, sd[f"{name}.running_mean"], sd[f"{name}.running_var"], sd[f"{name}.weight"],
                            sd[f"{name}.bias"], False, 0.0, 1e-5)

    x = F.adaptive_avg_pool2d(img[:, :, 35:223, 32:220], (112, 112))
    x = F.prelu(bn(F.conv2d(x, sd["input_layer.0.weight"], padding=1), "input_layer.1"), sd["input_layer.2.weight"])
    for n, (c_in, depth, stride) in enumerate(units):
        p = f"body.{n}"
        if c_in == depth:
            short = F.max_pool2d(x, 1, stride)
        else:
            short = bn(F.conv2d(x, sd[f"{p}.shortcut_layer.0.weight"], stride=stride), f"{p}.shortcut_layer.1")
        r = bn(x, f"{p}.res_layer.0")
        r = F.prelu(F.conv2d(r, sd[f"{p}.res_layer.1.weight"], padding=1), sd[f"{p}.res_layer.2.weight"])
        r = bn(F.conv2d(r, sd[f"{p}.res_layer.3.weight"], stride=stride, padding=1), f"{p}.res_layer.4")
        s = F.adaptive_avg_pool2d(r, 1)
        s = torch.sigmoid(F.conv2d(F.relu(F.conv2d(s, sd[f"{p}.res_layer.5.fc1.weight"])),
                                   sd[f"{p}.res_layer.5.fc2.weight"]))
        x = r * s + short
    x = bn(x, "output_layer.0").flatten(1)
    x = F.linear(x, sd["output_layer.3.weight"], sd["output_layer.3.bias"])
    x = F.batch_norm(x, sd["output_layer.4.running_mean"], sd["output_layer.4.running_var"],
                     sd["output_layer.4.weight"], sd["output_layer.4.bias"], False, 0.0, 1e-5)
    return x / x.norm(dim=1, keepdim=True)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    sd, units = _psp_state_dict()
    path = tmp_path_factory.mktemp("arcface") / IDENTITY_FILE
    torch.save(sd, path)
    return path, sd, units


def _faces(n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 256, 256, generator=g) * 2 - 1


def test_embedding_matches_a_functional_pSp_forward(weights):
    path, sd, units = weights
    loss = IdentityLoss.from_file(path)
    img = _faces(3, 1)
    got = loss.embed(img)
    want = _reference_embed(sd, units, img)
    assert got.shape == (3, EMBED)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got.norm(dim=1), torch.ones(3), rtol=0, atol=1e-5)


def test_loss_is_one_minus_cosine_and_trains_only_y_hat(weights):
    path, sd, units = weights
    crit = IdentityLoss.from_file(path).train()  # the backbone stays in eval mode
    assert not crit.facenet.training
    y_hat, y, x = _faces(2, 2).requires_grad_(True), _faces(2, 3), _faces(2, 4)
    loss, logs = crit(y_hat, y, x)
    e_hat, e_y, e_x = (_reference_embed(sd, units, t.detach()) for t in (y_hat, y, x))
    want = (1 - (e_hat * e_y).sum(1)).mean()
    assert float(loss) == pytest.approx(float(want), abs=1e-5)
    assert [d["diff_target"] for d in logs] == pytest.approx((e_hat * e_y).sum(1).tolist(), abs=1e-5)
    assert [d["diff_input"] for d in logs] == pytest.approx((e_hat * e_x).sum(1).tolist(), abs=1e-5)
    assert [d["diff_views"] for d in logs] == pytest.approx((e_y * e_x).sum(1).tolist(), abs=1e-5)
    loss.backward()
    assert torch.isfinite(y_hat.grad).all() and y_hat.grad.abs().sum() > 0
    assert all(p.grad is None for p in crit.parameters())
    same, logs = crit(y, y)  # no input: only diff_target
    assert float(same) == pytest.approx(0.0, abs=1e-5) and set(logs[0]) == {"diff_target"}


def test_loads_files_without_batchnorm_counters(tmp_path):
    sd, units = _psp_state_dict(seed=3, counters=False)
    torch.save(sd, tmp_path / "old.pth")
    img = _faces(1, 5)
    torch.testing.assert_close(IdentityLoss.from_file(tmp_path / "old.pth").embed(img),
                               _reference_embed(sd, units, img), rtol=1e-4, atol=1e-5)


def test_full_size_layout_is_pSp_ir_se50():
    """IR-SE50: 3/4/14/3 units of 64/128/256/512; a shortcut conv only where the width changes."""
    depths = [64] * 3 + [128] * 4 + [256] * 14 + [512] * 3
    with torch.device("meta"):
        net = IRSEBackbone(depths)
    keys = net.state_dict()
    assert max(int(k.split(".")[1]) for k in keys if k.startswith("body.")) == 23
    assert sorted({int(k.split(".")[1]) for k in keys if ".shortcut_layer." in k}) == [3, 7, 21]
    assert tuple(keys["output_layer.3.weight"].shape) == (512, 512 * 7 * 7)
    assert tuple(keys["body.3.res_layer.5.fc1.weight"].shape) == (8, 128, 1, 1)
    assert {"output_layer.4.weight", "output_layer.4.bias", "input_layer.2.weight"} <= set(keys)


def test_find_and_missing_file(tmp_path, monkeypatch, weights):
    monkeypatch.setenv("STYLEGANEX_MODELS", str(tmp_path))
    assert find_identity_weights() is None
    with pytest.raises(FileNotFoundError) as e:
        IdentityLoss.from_file()
    assert IDENTITY_FILE in str(e.value) and str(tmp_path) in str(e.value)
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        IdentityLoss.from_file(tmp_path / "nowhere.pth")
    (tmp_path / IDENTITY_FILE).write_bytes(weights[0].read_bytes())
    assert find_identity_weights() == tmp_path / IDENTITY_FILE
    assert IdentityLoss.from_file().embed(_faces(1, 0)).shape == (1, EMBED)


def test_wrong_files(tmp_path, weights):
    sd = dict(weights[1])
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(CheckpointError):
        IdentityLoss.from_file(tmp_path / "text.pth")
    torch.save({"something": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="pSp"):
        IdentityLoss.from_file(tmp_path / "other.pth")
    sd["output_layer.3.weight"] = sd["output_layer.3.weight"][:, :10]
    torch.save(sd, tmp_path / "shape.pth")
    with pytest.raises(CheckpointError, match="wrong shape"):
        IdentityLoss.from_file(tmp_path / "shape.pth")


def test_small_images_are_refused(weights):
    crit = IdentityLoss.from_file(weights[0])
    with pytest.raises(InputError, match="223"):
        crit(torch.zeros(1, 3, 128, 128), torch.zeros(1, 3, 128, 128))


def test_encoder_batch_statistics_do_not_reach_the_face_network(weights):
    """Sketch/mask training runs the encoder under batch_statistics(); the ArcFace BatchNorms must keep
    their running statistics there."""
    from styleganex.model.encoder import batch_statistics

    crit = IdentityLoss.from_file(weights[0])
    img = _faces(2, 6)
    plain = crit.embed(img)
    with batch_statistics():
        inside = crit.embed(img)
    torch.testing.assert_close(inside, plain, rtol=0, atol=0)
