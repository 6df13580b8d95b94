"""Shared test fixtures: the shared/ folder beside the checkout and small random models."""

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
