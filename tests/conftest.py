"""Shared test fixtures: the shared/ folder beside the checkout, small random models, the files a user
hands the command line, a stubbed video setup. Plain helpers shared by modules are in ``helpers.py``."""

import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
# the real-ComfyUI harness, imported by the test modules as ``harness``
sys.path.insert(0, str(Path(__file__).resolve().parent / "comfyui"))
SHARED = Path(os.environ.get("STYLEGANEX_SHARED", ROOT.parent / "shared"))
FIXTURES = SHARED / "fixtures"
PARITY = FIXTURES / "parity"


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    """One intra-op thread: two threads on two (often shared) cores oversubscribe badly, and
    results stay bit-identical across machines with different core counts."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def parity_dir():
    if not (PARITY / "index.json").is_file():
        pytest.fail(f"parity fixtures not found at {PARITY} (set STYLEGANEX_SHARED)")
    return PARITY


@pytest.fixture(scope="session")
def pipeline_dir():
    """What the official code makes of two packaged photos (crop, landmarks, aligned face)."""
    if not (FIXTURES / "pipeline" / "index.json").is_file():
        pytest.fail(f"pipeline fixtures not found at {FIXTURES / 'pipeline'} (set STYLEGANEX_SHARED)")
    return FIXTURES / "pipeline"


@pytest.fixture(scope="session")
def manifest_path():
    return FIXTURES / "official_manifest.json"


@pytest.fixture(scope="session")
def tiny_inversion():
    from styleganex.dev.testing import random_model
    return random_model("inversion", seed=1)


@pytest.fixture(scope="session")
def astronaut():
    """scikit-image's astronaut as [3, 512, 512] float in [0, 1]."""
    from skimage import data
    return torch.from_numpy(data.astronaut()).permute(2, 0, 1).float() / 255.0


@pytest.fixture(scope="session")
def vgg_dir(tmp_path_factory):
    """A models folder with a vgg16-397923af.pth holding random features.* tensors (58 MB): LPIPS runs
    offline, though it is then no perceptual metric."""
    import torchvision

    from styleganex.pipelines.lpips import VGG_FILE
    d = tmp_path_factory.mktemp("vggmodels")
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        shapes = {f"features.{k}": v.shape for k, v in torchvision.models.vgg16().features.state_dict().items()}
    g = torch.Generator().manual_seed(3)
    torch.save({k: torch.randn(s, generator=g) * 0.05 for k, s in shapes.items()}, d / VGG_FILE)
    return d


@pytest.fixture(scope="module")
def sr_small():
    """A small random super-resolution model (output 256): it has fusion layers (skip features)."""
    from styleganex.dev.testing import random_model
    return random_model("sr32", size=256, seed=12)


@pytest.fixture(scope="module")
def user_model():
    """The small random inversion model (output 256, style dim 16) behind :func:`user_files`."""
    from styleganex.dev.testing import random_model
    return random_model("inversion", size=256, seed=31)


@pytest.fixture()
def user_files(tmp_path, user_model):
    """What a user hands the command line: a model file, a 64x64 photo, its latent (with the crop record)
    and a direction for the model."""
    from types import SimpleNamespace

    import numpy as np
    from helpers import write_png

    from styleganex.dev.testing import save_official_pt
    from styleganex.faces import CropInfo, prepare_center
    from styleganex.io import images
    from styleganex.pipelines.encode_decode import encode_images
    from styleganex.pipelines.latent_files import save_latent
    photo = write_png(tmp_path / "photo.png")
    image = images.load_image(photo)
    prepared = prepare_center(image)
    latent = encode_images(user_model, prepared.crop[None], prepared.aligned[None],
                           crop=CropInfo.from_prepared([prepared]))
    direction = tmp_path / "smile.npy"
    np.save(direction, np.random.default_rng(1).standard_normal(16).astype(np.float32))
    return SimpleNamespace(model=save_official_pt(user_model, tmp_path / "inv.pt"), photo=photo, latent=latent,
                           latent_path=save_latent(latent, tmp_path / "photo_latent.safetensors"),
                           direction=direction, tmp=tmp_path)


@pytest.fixture()
def video_setup(tmp_path, monkeypatch):
    """A 6-frame 64x48 video, a small edit model file and the ``video`` command line for them; the face
    detector is replaced by :class:`helpers.FixedFaceDetector`. Returns (argv, output path)."""
    from helpers import FixedFaceDetector

    import styleganex.faces.detect as detect
    import styleganex.faces.video_crop as faces_video
    from styleganex.dev.testing import random_model, save_official_pt
    from styleganex.io.video_files import write_video
    for module in (detect, faces_video):
        monkeypatch.setattr(module, "default_detector", lambda: FixedFaceDetector())
    g = torch.Generator().manual_seed(0)
    src = tmp_path / "in.mp4"
    write_video(src, [torch.rand(3, 48, 64, generator=g) for _ in range(6)], 6)
    model = save_official_pt(random_model("edit_age", size=256, seed=23), tmp_path / "styleganex_edit_age.pt")
    out = tmp_path / "out" / "result.mp4"
    out.parent.mkdir()
    argv = ["video", str(src), "--model", str(model), "--out", str(out), "--device", "cpu"]
    return argv, out
