"""Identity loss: 1 - cosine similarity of ArcFace IR-SE50 embeddings (pSp's ``model_ir_se50.pth``).

The release's ``criteria/id_loss.py`` crops each face image to rows 35..222 and columns 32..219 (the face
of a 256 px aligned crop), average-pools that to 112 x 112 and embeds it with ArcFace IR-SE50 (pSp's
``Backbone(112, 50, mode='ir_se', drop_ratio=0.6)``): 512 numbers, l2-normalised. The loss is the batch
mean of ``1 - <e(y_hat), e(y)>`` with the target's embedding held fixed.

The network is built from the encoder's own IR-SE units (:class:`~styleganex.model.encoder.BottleneckIRSE`),
so the file's keys are pSp's::

    input_layer.{0.weight, 1.*, 2.weight}       3x3 conv (no bias), BatchNorm, PReLU
    body.N.res_layer.{0..5}, body.N.shortcut_layer.{0,1} (first unit of a stage with a width change)
    output_layer.{0.*, 3.weight, 3.bias, 4.*}   BatchNorm2d, (dropout, flatten), Linear(512*7*7, 512), BatchNorm1d

The layout (widths, units per stage, embedding size) is read from the file, so reduced test networks in
the same key layout load too. The weights are a download, never fetched here: put the file in the
models folder (:func:`styleganex.io.paths.models_dir`).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..base.errors import CheckpointError, InputError
from ..io.paths import find_model_file, models_dir
from ..model.encoder import BottleneckIRSE, batch_statistics

IDENTITY_FILE = "model_ir_se50.pth"
IDENTITY_SOURCE = ("pSp's pretrained 'IR-SE50 Model' (model_ir_se50.pth, linked from the README of "
                   "github.com/eladrich/pixel2style2pixel)")
FACE_CROP = (slice(35, 223), slice(32, 220))  # rows, columns of the face in a 256 px aligned crop
FACE_SIZE = 112
SE_REDUCTION = 16
DROP_RATIO = 0.6


def find_identity_weights() -> Path | None:
    """``model_ir_se50.pth`` in the models folder, or None when it is not there."""
    return find_model_file(IDENTITY_FILE)


class IRSEBackbone(nn.Module):
    """ArcFace IR-SE backbone (pSp's ``Backbone`` in ``ir_se`` mode) for 112 x 112 faces.

    Args:
        depths: output width of every body unit, in order (IR-SE50: 3 x 64, 4 x 128, 14 x 256, 3 x 512).
            The first unit of each run of equal widths has stride 2.
        embedding: size of the output embedding (512).
        stem: width of the input layer (64).

    ``forward(x)``: ``x`` [B, 3, 112, 112] (the face, -1..1) -> l2-normalised embeddings [B, embedding].
    """

    def __init__(self, depths: list[int], embedding: int = 512, stem: int = 64):
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(3, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem),
                                         nn.PReLU(stem))
        units, previous = [], stem
        for i, depth in enumerate(depths):
            stride = 2 if i == 0 or depth != depths[i - 1] else 1
            units.append(BottleneckIRSE(previous, depth, stride, SE_REDUCTION))
            previous = depth
        self.body = nn.Sequential(*units)
        side = FACE_SIZE // 2 ** sum(1 for i, d in enumerate(depths) if i == 0 or d != depths[i - 1])
        self.output_layer = nn.Sequential(nn.BatchNorm2d(previous), nn.Dropout(DROP_RATIO), nn.Flatten(),
                                          nn.Linear(previous * side * side, embedding), nn.BatchNorm1d(embedding))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.output_layer(self.body(self.input_layer(x)))
        return e / e.norm(dim=1, keepdim=True)


def _layout_of(sd: dict, path: Path) -> tuple[list[int], int, int]:
    """(body depths, embedding size, stem width) from a pSp-layout state dict."""
    try:
        stem = sd["input_layer.0.weight"].shape[0]
        units = sorted({int(m.group(1)) for k in sd if (m := re.match(r"body\.(\d+)\.res_layer\.1\.weight$", k))})
        if not units or units != list(range(len(units))):
            raise KeyError("body.N.res_layer.1.weight")
        depths = [int(sd[f"body.{i}.res_layer.1.weight"].shape[0]) for i in units]
        embedding = int(sd["output_layer.3.weight"].shape[0])
    except (KeyError, AttributeError, IndexError) as e:
        raise CheckpointError(f"{path} is not an ArcFace IR-SE state dict in pSp's layout ({IDENTITY_FILE}): "
                              f"no {e}") from None
    return depths, embedding, int(stem)


def load_identity_backbone(path) -> IRSEBackbone:
    """Read an ArcFace IR-SE file (pSp's ``model_ir_se50.pth`` layout) safely (``weights_only``) into
    :class:`IRSEBackbone`, frozen and in eval mode. CheckpointError for any other file."""
    from ..base.filetypes import torch_load_message

    path = Path(path)
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"not a readable ArcFace weights file: {torch_load_message(path, e)}") from e
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors (expected pSp's {IDENTITY_FILE})")
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    depths, embedding, stem = _layout_of(sd, path)
    net = IRSEBackbone(depths, embedding, stem)
    expected = net.state_dict()
    for k in expected:  # files written before torch 0.4.1 have no BatchNorm step counters
        if k.endswith("num_batches_tracked") and k not in sd:
            sd[k] = torch.zeros((), dtype=torch.long)
    bad = [k for k, v in expected.items() if k in sd and tuple(sd[k].shape) != tuple(v.shape)]
    missing = sorted(set(expected) - set(sd))
    extra = sorted(set(sd) - set(expected))
    if bad or missing or extra:
        what = (f"{len(bad)} tensors of the wrong shape (e.g. {bad[0]})" if bad else
                f"{len(missing)} missing tensors (e.g. {missing[0]})" if missing else
                f"{len(extra)} unexpected tensors (e.g. {extra[0]})")
        raise CheckpointError(f"{path} does not fit the ArcFace IR-SE layout of pSp's {IDENTITY_FILE}: {what}")
    net.load_state_dict({k: v.to(expected[k].dtype) for k, v in sd.items()})
    return net.eval().requires_grad_(False)


class IdentityLoss(nn.Module):
    """Identity loss of the release (criteria/id_loss.py): mean over the batch of ``1 - cos(e(y_hat), e(y))``.

    Args:
        backbone: an :class:`IRSEBackbone` (see :meth:`from_file`). It stays frozen and in eval mode,
            also when this module is put in training mode, and its BatchNorms ignore
            :func:`~styleganex.model.encoder.batch_statistics`.

    ``forward(y_hat, y, x=None)``: images [B, 3, H, W] in -1..1 (aligned faces at 256 px scale, H >= 223,
    W >= 220): output, target and, optionally, an RGB input. Returns ``(loss, id_logs)``: the scalar loss
    (gradient to ``y_hat`` only) and one dict per sample (the release's logs) with ``diff_target`` =
    cos(y_hat, y) and, with ``x``, ``diff_input`` = cos(y_hat, x) and ``diff_views`` = cos(y, x); the
    release's ``id_improve`` is the mean of ``diff_target - diff_views``.
    """

    def __init__(self, backbone: IRSEBackbone):
        super().__init__()
        self.facenet = backbone.eval().requires_grad_(False)

    @classmethod
    def from_file(cls, path=None) -> IdentityLoss:
        """The loss with the ArcFace weights at ``path`` (default: ``model_ir_se50.pth`` in the models
        folder). FileNotFoundError naming the file and where to put it when there is none."""
        if path is None:
            found = find_identity_weights()
            if found is None:
                raise FileNotFoundError(
                    f"the identity loss needs the ArcFace IR-SE50 weights {IDENTITY_FILE}, which are not in the "
                    f"models folder {models_dir()}. Download {IDENTITY_SOURCE} and put it there (or set the "
                    f"identity weight to 0).")
            path = found
        elif not Path(path).is_file():
            raise FileNotFoundError(f"ArcFace IR-SE50 weights not found at {path}: download {IDENTITY_SOURCE} "
                                    f"and give its path, or put it in the models folder {models_dir()}")
        return cls(load_identity_backbone(path))

    def train(self, mode: bool = True) -> IdentityLoss:
        super().train(mode)
        self.facenet.eval()
        return self

    def embed(self, img: torch.Tensor) -> torch.Tensor:
        """Face embeddings [B, D] (l2-normalised) of images [B, 3, H, W] in -1..1 (256 px aligned faces)."""
        if img.ndim != 4 or img.shape[1] != 3 or img.shape[2] < FACE_CROP[0].stop or img.shape[3] < FACE_CROP[1].stop:
            raise InputError(f"the identity loss takes aligned faces [B, 3, H >= 223, W >= 220] at 256 px scale, "
                             f"got {tuple(img.shape)}")
        face = F.adaptive_avg_pool2d(img[:, :, FACE_CROP[0], FACE_CROP[1]], FACE_SIZE)
        with batch_statistics(False):
            return self.facenet(face)

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor,
                x: torch.Tensor | None = None) -> tuple[torch.Tensor, list[dict]]:
        e_hat = self.embed(y_hat)
        with torch.no_grad():
            e_y = self.embed(y)
            target = (e_hat * e_y).sum(1)
            columns = [target]
            if x is not None:  # an RGB input of face size (not a sketch or a label map)
                e_x = self.embed(x)
                columns += [(e_hat * e_x).sum(1), (e_y * e_x).sum(1)]
            sims = torch.stack(columns, 1).float().cpu().tolist()
        loss = (1 - (e_hat * e_y).sum(1)).mean()
        names = ("diff_target", "diff_input", "diff_views")
        return loss, [dict(zip(names, row)) for row in sims]
