"""The pre-processing against what the official code makes of the same photos.

Fixtures: ``../shared/fixtures/pipeline/`` (the ``pipeline_dir`` fixture) (crop parameters, crop, landmarks on
the crop, aligned face of two packaged photos, from the official scripts at commit e593d16) and
``tests/fixtures/pipeline/`` (the super-resolution input chain and the video chain, from the same code; its
README says how).

Tolerances (uint8 levels): crop parameters exact; crops within 1 level (OpenCV's fixed-point bilinear
is reproduced bit for bit on 8-bit photos, so this allows for nothing but a platform difference);
landmarks within 0.5 px; aligned faces within 2 levels max and 1 level mean (the residue of
resampling filters).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from styleganex import faces
from styleganex.io.images import from_uint8_hwc, to_uint8_hwc

LOCAL = Path(__file__).parent / "fixtures" / "pipeline"
PHOTOS = ("astronaut_s0.6", "grace_hopper")


def _photo(name: str) -> np.ndarray:
    """The photos as the fixtures' README rebuilds them (uint8 [H, W, 3])."""
    if name.startswith("astronaut"):
        import skimage.data

        image = Image.fromarray(skimage.data.astronaut())
        return np.asarray(image.resize((round(image.width * 0.6), round(image.height * 0.6)), Image.LANCZOS))
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        image = Image.open(f).convert("RGB")
    if name == "grace_hopper_raw_s0.25":
        image = image.resize((round(image.width * 0.25), round(image.height * 0.25)), Image.LANCZOS)
    return np.asarray(image)


def _png(folder: Path, name: str) -> np.ndarray:
    return np.asarray(Image.open(folder / name).convert("RGB")).astype(np.int64)


def _levels(image: torch.Tensor) -> np.ndarray:
    return to_uint8_hwc(image).astype(np.int64)


def _assert_close(ours: torch.Tensor, reference: np.ndarray, max_levels: int, mean_levels: float, what: str):
    ours = _levels(ours)
    assert ours.shape == reference.shape, f"{what}: shape {ours.shape} vs the release's {reference.shape}"
    difference = np.abs(ours - reference)
    assert difference.max() <= max_levels and difference.mean() <= mean_levels, \
        f"{what}: max {difference.max()} / mean {difference.mean():.3f} levels from the release"


def _record_of(params: dict, frame_size) -> tuple:
    box = (params["left"], params["top"], params["right"], params["bottom"])
    return ((params["resized_h"], params["resized_w"]), box)


@pytest.fixture(scope="module")
def shared_index(pipeline_dir):
    return json.loads((pipeline_dir / "index.json").read_text())


@pytest.fixture(scope="module")
def local_index():
    return json.loads((LOCAL / "index.json").read_text())


@pytest.fixture(scope="module")
def prepared():
    return {name: faces.prepare_face(from_uint8_hwc(_photo(name))) for name in PHOTOS}


@pytest.mark.parametrize("name", PHOTOS)
def test_crop_parameters_are_the_releases(name, prepared, shared_index):
    params = shared_index[name]["crop_params"]
    record = prepared[name].record
    assert (record.resized_size, record.box) == _record_of(params, record.frame_size)
    assert record.scale == pytest.approx(params["scale"], rel=1e-12)


@pytest.mark.parametrize("name", PHOTOS)
def test_crop_pixels_are_cv2_resize(name, prepared, pipeline_dir):
    _assert_close(prepared[name].crop, _png(pipeline_dir, f"{name}_crop.png"), 1, 0.01, f"{name} crop")


@pytest.mark.parametrize("name", PHOTOS)
def test_landmarks_are_found_again_on_the_crop(name, prepared, shared_index):
    p = prepared[name]
    assert p.landmarks_source == "redetected"
    reference = np.asarray(shared_index[name]["landmarks68_on_crop"], dtype=np.float64)
    assert np.abs(p.landmarks - reference).max() <= 0.5
    # the photo's landmarks mapped into the crop are several pixels off: re-detection is what matters
    mapped = p.record.face_in_crop(p.face).landmarks
    assert np.abs(mapped - reference).max() > 1.5


@pytest.mark.parametrize("name", PHOTOS)
def test_aligned_face_is_the_releases(name, prepared, pipeline_dir):
    _assert_close(prepared[name].aligned, _png(pipeline_dir, f"{name}_aligned256.png"), 2, 1.0, f"{name} aligned face")


def test_aligned_face_with_the_releases_landmarks_is_the_releases(shared_index, pipeline_dir):
    """The warp alone (quad, crop, pad + blur, PIL quad transform), fed the release's crop and landmarks."""
    worst_smooth = 0
    for name in PHOTOS:
        crop = from_uint8_hwc(_png(pipeline_dir, f"{name}_crop.png").astype(np.uint8))
        landmarks = np.asarray(shared_index[name]["landmarks68_on_crop"], dtype=np.float64)
        reference = _png(pipeline_dir, f"{name}_aligned256.png")
        _assert_close(faces.align_face(crop, landmarks), reference, 2, 1.0, name)
        smooth = _levels(faces.align_face(crop, landmarks, method="smooth"))
        worst_smooth = max(worst_smooth, int(np.abs(smooth - reference).max()))
    # the former float warp, kept behind method="smooth", is not the release's where the quad is padded
    assert worst_smooth > 10


def test_mapped_landmarks_are_the_fallback_and_are_reported():
    """A crop on which the detector finds nothing near the expected face: the mapped landmarks are used."""
    from styleganex.dev.testing import synthetic_landmarks

    image = torch.full((3, 400, 400), 0.5)
    face = faces.Face.from_landmarks(synthetic_landmarks(200, 180, 60))

    class Nothing:
        def detect(self, image):
            return []

    p = faces.prepare_face(image, face, detector=Nothing())
    assert p.landmarks_source == "mapped"
    np.testing.assert_allclose(p.landmarks, p.record.face_in_crop(face).landmarks)
    assert faces.prepare_face(image, face, redetect=False).landmarks_source == "mapped"


def test_redetection_keeps_the_face_not_dlibs_last_detection():
    """The release keeps dlib's last detection; redetect_face keeps the one nearest the expected face."""
    from styleganex.dev.testing import synthetic_landmarks

    near = faces.Face.from_landmarks(synthetic_landmarks(100, 100, 40))
    same = faces.Face.from_landmarks(synthetic_landmarks(102, 101, 40))
    other = faces.Face.from_landmarks(synthetic_landmarks(300, 100, 40))

    class Two:
        def detect(self, image):
            return [same, other]  # dlib's order: the release would take `other`

    image = torch.zeros(3, 200, 400)
    assert faces.redetect_face(image, near, Two()) is same
    far = faces.Face.from_landmarks(synthetic_landmarks(200, 100, 40))
    assert faces.redetect_face(image, far, Two()) is None  # 98 px from either detection: none accepted


# ---- super-resolution input chain (image_translation.py) ------------------------------------------
@pytest.mark.parametrize("name", PHOTOS)
def test_sr_input_chain_is_the_releases(name, local_index):
    from styleganex.pipelines.translation import sr_inputs

    case = local_index[name]["sr32"]
    inputs = sr_inputs(from_uint8_hwc(_photo(name)), 32, case["degrade_factor"])
    low = _png(LOCAL, case["low"])
    _assert_close(inputs.low, low, 1, 0.01, f"{name} degraded crop")
    # the upsampled input: PIL's default resize of the release's low-resolution image, as the release calls it
    up = np.asarray(Image.fromarray(low.astype(np.uint8)).resize(tuple(inputs.up.shape[:0:-1]))).astype(np.int64)
    _assert_close(inputs.up, up, 1, 0.01, f"{name} upsampled input")
    assert inputs.landmarks_source == "redetected"
    _assert_close(inputs.aligned, _png(LOCAL, case["aligned256"]), 2, 1.0, f"{name} SR aligned face")


def test_sr_without_degradation_has_the_releases_geometry(local_index):
    """--use_raw_data: upsample by factor / 4, then crop with the eyes 64 px apart and align that crop."""
    from styleganex.pipelines.translation import sr_inputs

    name = "grace_hopper_raw_s0.25"
    case = local_index[name]
    inputs = sr_inputs(from_uint8_hwc(_photo(name)), case["raw_factor"])
    record = inputs.record
    assert (record.resized_size, record.box) == _record_of(case["crop_params"], record.frame_size)
    assert tuple(inputs.up.shape[-2:]) == record.crop_size  # the model's input: the crop, output 4x it
    _assert_close(inputs.aligned, _png(LOCAL, case["aligned256"]), 2, 1.0, f"{name} aligned face")


def test_super_resolve_output_has_the_releases_size(local_index):
    from styleganex.dev.testing import random_model
    from styleganex.pipelines.translation import super_resolve

    model = random_model("sr", size=256, seed=4)
    photo = from_uint8_hwc(_photo("grace_hopper_raw_s0.25"))
    params = local_index["grace_hopper_raw_s0.25"]["crop_params"]
    out = super_resolve(model, photo[None], 16, noise="zero")
    # the 256 model decodes at the input size, the 1024 model at 4x it: the crop's size either way
    assert tuple(out.shape[-2:]) == (params["bottom"] - params["top"], params["right"] - params["left"])
    flat = super_resolve(model, photo[None], 16, noise="zero", crop=False)
    assert tuple(flat.shape[-2:]) == (photo.shape[-2] * 4, photo.shape[-1] * 4)


# ---- video chain (video_editing.py) ---------------------------------------------------------------
def _video(photo: np.ndarray, n: int = 3) -> list[torch.Tensor]:
    """Frame k: the photo moved right 3k px and down 2k px (edges repeated), 4k levels brighter."""
    frames = []
    for k in range(n):
        moved = np.pad(photo, ((2 * k, 0), (3 * k, 0), (0, 0)), mode="edge")[:photo.shape[0], :photo.shape[1]]
        frames.append(from_uint8_hwc(np.clip(moved.astype(np.int64) + 4 * k, 0, 255).astype(np.uint8)))
    return frames


@pytest.mark.parametrize("name", PHOTOS)
def test_video_chain_is_the_releases(name, local_index, monkeypatch, pipeline_dir):
    """process_video's x̃ and per-frame crops, caught where they enter the model."""
    from styleganex.dev.testing import random_model
    from styleganex.pipelines import video

    case = local_index[name]["video"]
    seen = {}
    original_init, original_render = video.VideoRenderer.__init__, video.VideoRenderer.render

    def init(self, model, aligned, editing_w=None):
        seen["aligned"] = (aligned[0] + 1) / 2
        original_init(self, model, aligned, editing_w)

    def render(self, crops):
        seen.setdefault("crops", []).extend((crops + 1) / 2)
        return original_render(self, crops)

    monkeypatch.setattr(video.VideoRenderer, "__init__", init)
    monkeypatch.setattr(video.VideoRenderer, "render", render)
    frames = _video(_photo(name), case["frames"])
    [o.frame for o in video.process_video(random_model("toonify", size=256, seed=5), torch.stack(frames))]
    _assert_close(seen["aligned"], _png(pipeline_dir, f"{name}_aligned256.png"), 2, 1.0, f"{name} video x̃")
    _assert_close(seen["crops"][case["frame"]], _png(LOCAL, case["crop"]), 1, 0.01, f"{name} video frame")


# ---- pieces -----------------------------------------------------------------------------------------
def test_crop_resize_matches_plain_bilinear_on_non_8bit_images():
    """Float images (not 8-bit levels) take the float path: F.interpolate's bilinear, no antialiasing."""
    import torch.nn.functional as F

    from styleganex.faces.resample import resize_then_cut

    torch.manual_seed(3)
    image = torch.rand(3, 61, 47)
    for size in ((150, 118), (30, 23)):
        box = (2, 3, size[1] - 1, size[0] - 2)
        expected = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False)[0]
        ours = resize_then_cut(image, size, box)
        assert (ours - expected[:, box[1]:box[3], box[0]:box[2]]).abs().max() < 1e-5


def test_gaussian_blur_equals_scipy():
    """The padding blur (numpy) equals scipy.ndimage.gaussian_filter, an independent implementation
    (scipy comes with scikit-image in the test extra), to float32 rounding."""
    import scipy.ndimage

    from styleganex.faces.align import _gaussian_filter_hw

    rng = np.random.default_rng(0)
    image = (rng.random((37, 29, 3)) * 255).astype(np.float32)
    expected = scipy.ndimage.gaussian_filter(image, [5.3, 5.3, 0])
    assert np.abs(_gaussian_filter_hw(image, 5.3) - expected).max() < 1e-3
