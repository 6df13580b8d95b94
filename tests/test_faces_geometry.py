"""Crop, paste-back, alignment, size helpers and video cropping on faces given by hand (no detector).

Landmarks are synthetic (eyes, mouth corners placed exactly) so every number here can be checked
by hand; the real-photo checks with the dlib detector are in test_faces_photos.py.
"""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from skimage import data
from skimage.registration import phase_cross_correlation

from styleganex.dev.testing import shift_image
from styleganex.faces import (
    MIN_EYE_DISTANCE,
    Alignment,
    CropRecord,
    Face,
    FaceTooSmallError,
    NoFaceError,
    SizeRecord,
    VideoCropper,
    align_face,
    apply_crop,
    center_crop,
    crop_record,
    ffhq_alignment,
    gaussian_preblur,
    make_size_valid,
    paste_back,
    preblur_sigma,
    select_face,
    styleganex_crop,
    undo_size_valid,
)
from styleganex.io.images import from_uint8_hwc, to_uint8_hwc

# eye centres of scikit-image's astronaut, measured by hand (see test_faces_photos.py)
ASTRONAUT_EYES = ((203.0, 100.5), (245.5, 103.0))
ASTRONAUT_MOUTH = ((201.0, 140.0), (246.0, 141.0))


def synthetic_landmarks(left_eye, right_eye, mouth_left, mouth_right) -> np.ndarray:
    """68 points in dlib's order with the given eye centres and mouth corners (the rest: the face centre)."""
    points = np.tile((np.add(left_eye, right_eye) + np.add(mouth_left, mouth_right)) / 4.0, (68, 1))
    ring = np.array([[-6, 0], [-3, -2], [3, -2], [6, 0], [3, 2], [-3, 2]], dtype=np.float64)  # mean 0
    points[36:42] = np.asarray(left_eye) + ring
    points[42:48] = np.asarray(right_eye) + ring
    points[48], points[54] = mouth_left, mouth_right
    return points


def synthetic_face(left_eye, right_eye, mouth_left=None, mouth_right=None) -> Face:
    left_eye, right_eye = np.asarray(left_eye, float), np.asarray(right_eye, float)
    down = np.array([-(right_eye - left_eye)[1], (right_eye - left_eye)[0]])  # eye line turned 90 degrees
    mouth_left = left_eye + down if mouth_left is None else mouth_left
    mouth_right = right_eye + down if mouth_right is None else mouth_right
    return Face.from_landmarks(synthetic_landmarks(left_eye, right_eye, mouth_left, mouth_right))


@pytest.fixture(scope="module")
def astronaut():
    return from_uint8_hwc(data.astronaut())


@pytest.fixture(scope="module")
def astronaut_face():
    return Face.from_landmarks(synthetic_landmarks(*ASTRONAUT_EYES, *ASTRONAUT_MOUTH))


# ---------------------------------------------------------------- Face and select_face

def test_face_from_landmarks_and_eyes():
    face = synthetic_face((100, 200), (150, 204))
    assert np.allclose(face.eyes()[0], (100, 200)) and np.allclose(face.eyes()[1], (150, 204))
    assert face.eye_distance() == pytest.approx(math.hypot(50, 4))
    x0, y0, x1, y1 = face.box
    assert (x0, y0) == tuple(face.landmarks.min(axis=0)) and (x1, y1) == tuple(face.landmarks.max(axis=0) + 1)


@pytest.mark.parametrize("bad", [np.zeros((5, 2)), np.zeros((68, 3)), np.full((68, 2), np.nan)])
def test_face_rejects_bad_landmarks(bad):
    with pytest.raises(ValueError):
        Face((0, 0, 10, 10), bad)


def test_face_rejects_bad_box_and_needs_landmarks():
    with pytest.raises(ValueError, match="x1 > x0"):
        Face((10, 0, 10, 5))
    with pytest.raises(ValueError, match="face_in_box"):
        Face((0, 0, 10, 10)).eyes()


def test_select_face_rules():
    big = Face((0, 0, 100, 100), score=0.2)
    confident = Face((300, 300, 350, 350), score=2.0)
    central = Face((180, 180, 220, 220), score=1.0)  # centre (199.5, 199.5) of a 400 x 400 image
    faces = [confident, big, central]
    assert select_face(faces) is big
    assert select_face(faces, index=1) is confident
    assert select_face(faces, index=-1) is central
    assert select_face(faces, "score") is confident
    assert select_face(faces, "score", index=2) is big
    assert select_face(faces, "center", image_size=(400, 400)) is central
    with pytest.raises(ValueError, match="only 3 face"):
        select_face(faces, index=3)
    with pytest.raises(ValueError, match="unknown face rule"):
        select_face(faces, "biggest")
    with pytest.raises(ValueError, match="image_size"):
        select_face(faces, "center")
    with pytest.raises(NoFaceError):
        select_face([])


# ---------------------------------------------------------------- the StyleGANEX crop

def test_crop_record_matches_the_official_numbers():
    # eyes 50 px apart horizontally -> scale 1.28; midpoint (125, 202) -> (160, 258.56) rescaled
    face = synthetic_face((100, 200), (150, 204))
    record = crop_record((600, 800), face)
    assert record.scale == pytest.approx(1.28)
    assert record.resized_size == (768, 1024)
    # left max(round(-96), 0) = 0; right round(416) = 416; top round(2.56) = 3 -> 0; bottom round(514.56) = 515 -> 512
    assert record.box == (0, 0, 416, 512)
    # paddings (left, right, top, bottom):
    # round(60) -> 56, round(210) -> 208, round(238.56) = 239 -> 232, round(288.56) = 289 -> 288
    assert crop_record((600, 800), face, padding=(100, 50, 20, 30)).box == (56, 232, 208, 288)
    # rounding before flooring: top round(258.56 - 18.96) = round(239.6) = 240 (flooring first would give 232)
    assert crop_record((600, 800), face, padding=(100, 50, 18.96, 30)).box[1] == 240
    # the scale uses the horizontal eye distance, as the official code does
    assert crop_record((600, 800), synthetic_face((100, 200), (150, 240))).scale == pytest.approx(1.28)


def test_crop_of_a_central_face_is_512_square_with_eyes_64_px_apart():
    face = synthetic_face((500, 400), (540, 400))  # scale 1.6
    image = torch.rand(3, 900, 1000)
    crop, record = styleganex_crop(image, face)
    assert crop.shape == (3, 512, 512) and record.crop_size == (512, 512)
    left, right = record.frame_to_crop(np.array(face.eyes()))
    assert right[0] - left[0] == pytest.approx(64.0)
    assert abs((left[0] + right[0]) / 2 - 256) <= 8 and abs(left[1] - 256) <= 8


def test_crop_record_json_round_trip_and_point_maps():
    record = crop_record((600, 800), synthetic_face((100, 200), (150, 204)), padding=(100, 50, 20, 30))
    again = CropRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert again == record
    points = np.random.default_rng(0).uniform(0, 500, (10, 2))
    assert np.allclose(record.crop_to_frame(record.frame_to_crop(points)), points)
    # a pixel centre of the crop is the matching pixel centre of the rescaled frame
    x0, y0 = record.box[:2]
    assert np.allclose(record.frame_to_crop([[0.0, 0.0]]), [[0.5 * 1.28 - 0.5 - x0, 0.5 * 1.28 - 0.5 - y0]])


@pytest.mark.parametrize("scale", [0.4, 0.8, 1.3, 2.5])
@pytest.mark.parametrize("antialias", [False, True])
def test_apply_crop_equals_resizing_the_whole_frame(scale, antialias):
    """Default: plain bilinear as the release's cv2.resize; antialias=True: smoothed when shrinking."""
    image = torch.rand(3, 90, 120)
    eyes = np.array([[50.0, 40.0], [50.0 + 64.0 / scale, 40.0]])
    face = synthetic_face(eyes[0], eyes[1])
    crop, record = styleganex_crop(image, face, padding=40, antialias=antialias)
    whole = F.interpolate(image[None], size=record.resized_size, mode="bilinear", antialias=antialias,
                          align_corners=False)[0]
    x0, y0, x1, y1 = record.box
    assert torch.allclose(crop, whole[:, y0:y1, x0:x1], atol=1e-5)


def test_crop_stays_in_range():
    # antialiased resizing of pure white to 470 x 401 gives 1 + 2.4e-7 in float32: the crop clamps it
    face = synthetic_face((200, 300), (200 + 64 / (401 / 512), 300))
    white, record = styleganex_crop(torch.ones(3, 600, 512), face)
    assert record.resized_size == (470, 401)
    assert white.max() <= 1.0 and white.min() >= 1.0 - 1e-5


def test_too_small_and_upside_down_faces():
    with pytest.raises(FaceTooSmallError, match=r"10\.0 px apart.*16"):
        crop_record((100, 100), synthetic_face((40, 50), (50, 50)))
    with pytest.raises(FaceTooSmallError):
        ffhq_alignment(synthetic_face((40, 50), (50, 50)))
    assert MIN_EYE_DISTANCE == 16
    with pytest.raises(ValueError, match="left-to-right"):
        crop_record((100, 100), synthetic_face((70, 50), (40, 50)))


@pytest.mark.parametrize("size", [(7, 9), (1, 1)])
def test_tiny_frames_give_defined_errors(size):
    image = torch.rand(3, *size)
    with pytest.raises(ValueError, match="empty"):
        center_crop(image)
    with pytest.raises(ValueError, match="empty"):  # a face this big in a tiny frame: no 8-px box fits
        styleganex_crop(image, synthetic_face((-100, 0), (100, 0)))


def test_center_crop():
    crop, record = center_crop(torch.rand(3, 300, 1000))  # already small enough: scale 1
    assert record.scale == 1 and crop.shape == (3, 296, 512) and record.box == (240, 0, 752, 296)
    crop, record = center_crop(torch.rand(3, 1500, 1000))  # shrunk so the short side is 512
    assert record.resized_size == (768, 512) and crop.shape == (3, 512, 512)


def test_apply_crop_checks_the_frame_size():
    record = crop_record((600, 800), synthetic_face((100, 200), (150, 204)))
    with pytest.raises(ValueError, match="frame"):
        apply_crop(torch.rand(3, 601, 800), record)


# ---------------------------------------------------------------- paste-back

def test_paste_back_at_scale_one_is_exact():
    face = synthetic_face((300, 300), (364, 300))  # eyes 64 px apart: scale 1, the crop is a plain slice
    frame = torch.rand(3, 700, 800)
    crop, record = styleganex_crop(frame, face)
    x0, y0, x1, y1 = record.box
    assert torch.equal(crop, frame[:, y0:y1, x0:x1])
    assert torch.allclose(paste_back(frame, crop, record), frame, atol=1e-4)  # float32 sampling grid


@pytest.mark.parametrize("eyes", [
    ((300.3, 310.0), (351.1, 312.0)),     # in the middle
    ((20.0, 200.0), (60.0, 200.0)),       # at the left border
    ((600.0, 12.0), (652.0, 15.0)),       # at the top border
    ((700.0, 380.0), (738.0, 381.0)),     # at the right border
    ((200.0, 590.0), (260.0, 588.0)),     # at the bottom border
])
@pytest.mark.parametrize("factor", [1, 4])
def test_paste_back_puts_a_marker_where_it_was(eyes, factor):
    """A bright 3x3 marker drawn in the crop (then upscaled) lands on the frame point it came from."""
    frame = torch.zeros(3, 600, 750)
    face = synthetic_face(*eyes)
    record = crop_record((600, 750), face)
    crop_h, crop_w = record.crop_size
    crop = torch.zeros(3, crop_h, crop_w)
    for corner in ((0.1, 0.1), (0.5, 0.5), (0.9, 0.85)):  # markers near two corners and the middle
        row, col = int(corner[1] * crop_h), int(corner[0] * crop_w)
        marked = crop.clone()
        marked[:, row - 1:row + 2, col - 1:col + 2] = 1.0
        output = F.interpolate(marked[None], scale_factor=factor, mode="nearest")[0]
        pasted = paste_back(frame, output, record, feather=0).mean(0)
        ys, xs = torch.meshgrid(torch.arange(600.0), torch.arange(750.0), indexing="ij")
        centroid = np.array([(pasted * xs).sum() / pasted.sum(), (pasted * ys).sum() / pasted.sum()])
        expected = record.crop_to_frame([[col, row]])[0]
        assert np.abs(centroid - expected).max() < 0.1


@pytest.mark.parametrize("dx, dy", [(-170, 0), (240, 0), (0, -70), (0, 340), (0, 0)])
def test_paste_back_round_trip_near_every_border(astronaut, astronaut_face, dx, dy):
    """Crop, upscale 4x, paste back: the frame comes back unshifted (sub-pixel) and nearly unchanged."""
    frame = shift_image(astronaut, dx, dy)
    face = astronaut_face.mapped(lambda p: p + [dx, dy])
    crop, record = styleganex_crop(frame, face)
    output = F.interpolate(crop[None], scale_factor=4, mode="bicubic", align_corners=False)[0].clamp(0, 1)
    pasted = paste_back(frame, output, record, feather=0)
    # the footprint of the crop in the frame, less 2 px
    sx, sy = record.scale_xy
    x0, y0, x1, y1 = record.box
    fx0, fy0, fx1, fy1 = math.ceil(x0 / sx) + 2, math.ceil(y0 / sy) + 2, int(x1 / sx) - 2, int(y1 / sy) - 2
    before, after = frame[:, fy0:fy1, fx0:fx1].mean(0).numpy(), pasted[:, fy0:fy1, fx0:fx1].mean(0).numpy()
    shift, _, _ = phase_cross_correlation(before, after, upsample_factor=20)
    assert np.abs(shift).max() <= 0.1
    assert np.abs(after - before).mean() < 0.02  # the blur of resampling down, up 4x and down again
    # the border pixels themselves come back (no seam, no shift at the frame's edge)
    assert (pasted - frame).abs().mean() < 0.005


def test_paste_back_feathers_only_inner_sides():
    face = synthetic_face((100, 20), (164, 20))  # scale 1; the box touches the top and left of the frame
    frame = torch.zeros(3, 800, 900)
    record = crop_record((800, 900), face)
    x0, y0, x1, y1 = record.box
    assert x0 == 0 and y0 == 0 and record.edges_at_frame_border() == (True, True, False, False)
    pasted = paste_back(frame, torch.ones(3, 4 * (y1 - y0), 4 * (x1 - x0)), record, feather=0.1)[0]
    ramp = 0.1 * min(y1 - y0, x1 - x0)
    assert pasted[0, 0] == pytest.approx(1.0)  # top-left corner at the frame border: not faded
    assert pasted[(y1 - y0) // 2, x1 - 1] == pytest.approx(0.5 / ramp, abs=1e-4)  # last column: half a pixel in
    assert pasted[y1 - 1, 0] == pytest.approx(0.5 / ramp, abs=1e-4)
    assert pasted[y1 // 2, x1 // 2] == pytest.approx(1.0)
    assert pasted[:, x1:].abs().max() == 0 and pasted[y1:].abs().max() == 0  # outside: untouched


def test_paste_back_mask_and_checks(astronaut, astronaut_face):
    crop, record = styleganex_crop(astronaut, astronaut_face)
    output = torch.ones(3, 2 * crop.shape[1], 2 * crop.shape[2])
    assert torch.equal(paste_back(astronaut, output, record, mask=torch.zeros(output.shape[1:])), astronaut)
    half = torch.zeros(output.shape[1:])
    half[:, : half.shape[1] // 2] = 1.0
    pasted = paste_back(astronaut, output, record, feather=0, mask=half)
    left, right = record.crop_to_frame([[crop.shape[2] * 0.25, 150], [crop.shape[2] * 0.75, 150]]).round().astype(int)
    assert pasted[:, left[1], left[0]].min() > 0.9999
    assert torch.equal(pasted[:, right[1], right[0]], astronaut[:, right[1], right[0]])
    with pytest.raises(ValueError, match="mask"):
        paste_back(astronaut, output, record, mask=torch.ones(10, 10))
    with pytest.raises(ValueError, match="frame"):
        paste_back(astronaut[:, :100], output, record)
    with pytest.raises(ValueError, match="feather"):
        paste_back(astronaut, output, record, feather=0.9)


# ---------------------------------------------------------------- FFHQ alignment

def test_alignment_puts_the_eyes_where_ffhq_does():
    # eyes 50 px apart, mouth 50 px below: the quad is 4 * 50 = 200 px wide, so 256 / 200 = 1.28 px per px
    face = synthetic_face((300, 300), (350, 300), (305, 350), (345, 350))
    alignment = ffhq_alignment(face)
    left, right = alignment.to_aligned(np.array(face.eyes()))
    assert np.allclose(right - left, [64.0, 0.0])
    assert (left[0] + right[0]) / 2 == pytest.approx(127.5)
    assert left[1] == pytest.approx(127.5 - 0.1 * 50 * 1.28)  # the quad centre is 1/10 towards the mouth
    points = np.random.default_rng(0).uniform(0, 600, (5, 2))
    assert np.allclose(alignment.to_frame(alignment.to_aligned(points)), points)
    assert ffhq_alignment(face.landmarks).quad.tolist() == alignment.quad.tolist()
    again = Alignment.from_dict(json.loads(json.dumps(alignment.to_dict())))
    assert np.array_equal(again.quad, alignment.quad) and again.size == 256


def test_alignment_matches_pil_quad_transform(astronaut, astronaut_face):
    """No shrink and no padding needed: the result is PIL's QUAD transform, as in the official script."""
    alignment = ffhq_alignment(astronaut_face)
    ours = align_face(astronaut, astronaut_face)
    assert ours.shape == (3, 256, 256)
    reference = Image.fromarray(to_uint8_hwc(astronaut)).transform(
        (256, 256), Image.Transform.QUAD, (alignment.quad + 0.5).flatten().tolist(), Image.Resampling.BILINEAR)
    difference = (ours - from_uint8_hwc(np.asarray(reference))).abs()
    assert difference.mean() < 0.004 and difference.max() < 0.1


def test_alignment_is_invariant_to_rotation_and_scale(astronaut, astronaut_face):
    """The aligned face of a rotated (25 degrees) and enlarged (7x, so FFHQ's shrink step runs) copy,
    with landmarks moved the same way, equals the original's within 0.015 mean absolute difference
    (measured: 0.005 and 0.003); the quad shifted by just 1 % of its size differs by more than 0.04."""
    reference = align_face(astronaut, astronaut_face)

    angle = math.radians(25.0)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    centre = np.array([255.5, 255.5])
    to_rotated = np.hstack([rotation, (centre - rotation @ centre)[:, None]])
    from styleganex.faces.resample import warp
    rotated = warp(astronaut, to_rotated, (512, 512))
    rotated_face = astronaut_face.mapped(lambda p: p @ rotation.T + (centre - rotation @ centre))
    assert (align_face(rotated, rotated_face) - reference).abs().mean() < 0.015

    around_face = astronaut[:, :256, 96:352]  # holds the quad and its border; keeps the 7x copy small
    big = F.interpolate(around_face[None], scale_factor=7, mode="bicubic", align_corners=False)[0].clamp(0, 1)
    big_face = astronaut_face.mapped(lambda p: (p - [96, 0] + 0.5) * 7 - 0.5)
    assert ffhq_alignment(big_face).quad_size > 4 * 256  # FFHQ's shrink step (by 2 or more) is used
    assert (align_face(big, big_face) - reference).abs().mean() < 0.015

    shifted = astronaut_face.mapped(lambda p: p + 0.01 * ffhq_alignment(astronaut_face).quad_size)
    assert (align_face(astronaut, shifted) - reference).abs().mean() > 0.04


def test_alignment_pads_with_a_blurred_border(astronaut, astronaut_face):
    """A face cut by the top border: the part inside matches, the padding is smooth, not black."""
    frame = astronaut[:, 70:]  # the top 70 rows cut off: the quad now sticks out at the top
    face = astronaut_face.mapped(lambda p: p - [0, 70])
    alignment = ffhq_alignment(face)
    aligned = alignment.warp(frame)
    assert torch.isfinite(aligned).all() and aligned.min() >= 0 and aligned.max() <= 1
    reference = align_face(astronaut, astronaut_face)
    top_of_frame = int(alignment.to_aligned([[256, -0.5]])[0, 1])  # the frame's top edge in the aligned image
    assert 30 < top_of_frame < 128
    assert (aligned[:, top_of_frame + 40:] - reference[:, top_of_frame + 40:]).abs().mean() < 0.01
    padding = aligned[:, : top_of_frame - 10]
    assert padding.mean() > 0.2  # not black

    def detail(im):
        return (im[:, 1:, 1:] - im[:, :-1, 1:]).abs().mean() + (im[:, 1:, 1:] - im[:, 1:, :-1]).abs().mean()

    assert detail(padding) < 0.5 * detail(reference[:, : top_of_frame - 10])


# ---------------------------------------------------------------- sizes and pre-blur

@pytest.mark.parametrize("size", [(37, 50), (64, 64), (8, 3), (1, 1)])
@pytest.mark.parametrize("scale", [1, 4])
def test_make_size_valid_pad_is_exactly_undone(size, scale):
    image = torch.rand(3, *size)
    padded, record = make_size_valid(image)
    assert padded.shape[1] % 8 == 0 and padded.shape[2] % 8 == 0
    assert padded.shape[1] - size[0] < 8 and padded.shape[2] - size[1] < 8
    output = F.interpolate(padded[None], scale_factor=scale, mode="nearest")[0]  # a stand-in for a 4x model
    expected = F.interpolate(image[None], scale_factor=scale, mode="nearest")[0]
    assert torch.equal(undo_size_valid(output, record, scale=scale), expected)
    assert SizeRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_make_size_valid_pad_splits_evenly_and_handles_batches():
    padded, record = make_size_valid(torch.rand(2, 3, 37, 50))
    assert padded.shape == (2, 3, 40, 56)
    assert (record.top, record.bottom, record.left, record.right) == (1, 2, 3, 3)


def test_make_size_valid_crop_is_undone_with_the_original():
    image = torch.rand(3, 37, 50)
    cropped, record = make_size_valid(image, mode="crop")
    assert cropped.shape == (3, 32, 48)
    assert torch.equal(undo_size_valid(cropped, record, original=image), image)
    big = F.interpolate(image[None], scale_factor=4, mode="nearest")[0]
    assert torch.equal(undo_size_valid(F.interpolate(cropped[None], scale_factor=4)[0], record, 4, original=big), big)
    restored = undo_size_valid(cropped, record)  # no original: edges repeated
    assert restored.shape == image.shape
    assert torch.equal(restored[:, record.top:record.top + 32, record.left:record.left + 48], cropped)
    with pytest.raises(ValueError, match="too small"):
        make_size_valid(torch.rand(3, 5, 50), mode="crop")
    with pytest.raises(ValueError, match="expected"):
        undo_size_valid(cropped, record, scale=4)
    with pytest.raises(ValueError, match="mode"):
        make_size_valid(image, mode="stretch")


def test_gaussian_preblur():
    assert preblur_sigma(1.0) == 0 and preblur_sigma(0.5) == 0.5 and preblur_sigma(0.25) == 1.5
    image = torch.rand(3, 20, 20)
    assert gaussian_preblur(image, 1.5) is image
    checker = ((torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2).float().expand(3, 64, 64)
    blurred = gaussian_preblur(checker, 0.25)
    assert blurred.shape == checker.shape and checker.std() > 0.49 and blurred.std() < 0.05
    ramp = torch.linspace(0, 1, 64).expand(2, 3, 64, 64)
    assert (gaussian_preblur(ramp, 0.25) - ramp)[..., 8:-8].abs().max() < 1e-4  # linear content is kept


# ---------------------------------------------------------------- video

class ScriptedDetector:
    """Returns the faces it was given for each call, in order ([] = nothing found)."""

    def __init__(self, per_frame):
        self.per_frame = list(per_frame)

    def detect(self, image):
        return self.per_frame.pop(0)


def moving_faces(steps, dx=10.0):
    return [[synthetic_face((300 + dx * i, 300), (350 + dx * i, 300))] for i in range(steps)]


def test_video_cropper_reuses_the_first_crop_by_default():
    frames = torch.rand(5, 3, 700, 900)
    cropper = VideoCropper(ScriptedDetector(moving_faces(5)))
    records = [cropper(frame)[1] for frame in frames]
    assert all(r == records[0] for r in records)
    assert cropper.first_face.eyes()[0].tolist() == [300, 300]
    crop, _ = cropper(frames[0])
    assert torch.equal(crop, styleganex_crop(frames[0], cropper.first_face)[0])


def test_video_cropper_tracks_with_smoothing_and_falls_back():
    frames = torch.rand(4, 3, 700, 900)
    faces = moving_faces(3, dx=50.0) + [[]]  # the face moves 50 px per frame, then is lost
    cropper = VideoCropper(ScriptedDetector(faces), track=True, smoothing=0.5)
    crops_records = [cropper(frame) for frame in frames]
    records = [r for _, r in crops_records]
    assert len({c.shape for c, _ in crops_records}) == 1  # one crop size for the whole video
    # smoothed midpoint: 325 -> 350 (half of 50) -> 387.5 (half way to 425); scale stays 1.28
    x_moves = [r.box[0] - records[0].box[0] for r in records]
    assert x_moves[1] == pytest.approx(25 * 1.28, abs=1) and x_moves[2] == pytest.approx(62.5 * 1.28, abs=1)
    assert records[3] == records[2]  # no face: the last crop is kept


def test_video_cropper_errors():
    with pytest.raises(NoFaceError, match="center_crop"):
        VideoCropper(ScriptedDetector([[]]))(torch.rand(3, 100, 100))
    cropper = VideoCropper(ScriptedDetector(moving_faces(1)))
    cropper(torch.rand(3, 700, 900))
    with pytest.raises(ValueError, match="started with"):
        cropper(torch.rand(3, 700, 901))
    with pytest.raises(ValueError, match="smoothing"):
        VideoCropper(ScriptedDetector([]), smoothing=1.0)
