"""Unusual photos through the whole front door, and faces that are hard to find or crop.

Every pixel format a user's file may have (grey, 16-bit, alpha, palette, CMYK) runs load_image ->
detect_face -> crop -> align -> encode/decode -> paste_back; tiny, 64x64 and 6000x4000 images; an all
black image; NaN, infinite and out-of-range values are ValueErrors at every entry point. Faces: two
faces (largest first), a face touching the left edge, faces turned by 90 degrees, a profile, tilted
landmarks.

Small random models (``styleganex.dev.testing.random_model``, output size 256 so the output is the size of
the crop) stand in for the released weights; the photo is scikit-image's astronaut. Cases the other
modules already prove are not repeated (pixel limit, EXIF, non-images: test_images; detection accuracy,
rescaled / +-30 degree / border faces: test_faces_photos; wrong frames for encode: test_model_api).
"""

import struct
import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import ASTRONAUT_EYES, EYE_TOLERANCE, eye_error
from PIL import Image
from skimage import data
from skimage.registration import phase_cross_correlation

from styleganex.dev.testing import random_model
from styleganex.dev.testing import synthetic_landmarks as landmarks
from styleganex.faces import (
    DlibDetector,
    Face,
    FaceTooSmallError,
    NoFaceError,
    align_face,
    detect_face,
    make_size_valid,
    paste_back,
    styleganex_crop,
    undo_size_valid,
)
from styleganex.io.images import from_uint8_hwc, load_image
from styleganex.pipelines.inversion import optimize
from styleganex.pipelines.translation import mask_to_face, sketch_to_face, super_resolve
from styleganex.pipelines.video import process_video

DETECTOR = DlibDetector()


@pytest.fixture(scope="module")
def astro():
    return from_uint8_hwc(data.astronaut())


@pytest.fixture(scope="module")
def inv():
    return random_model("inversion", size=256, seed=11)




# ---- front door --------------------------------------------------------------------------------------------
def png16_rgb(pixels16: np.ndarray) -> bytes:
    """A 16-bit RGB PNG (Pillow cannot write one)."""
    h, w, _ = pixels16.shape
    raw = b"".join(b"\x00" + pixels16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def write_astronaut(path, kind):
    px = data.astronaut()
    grey = np.round(px @ [0.299, 0.587, 0.114]).astype(np.uint8)
    if kind == "L":
        Image.fromarray(grey, "L").save(path)
    elif kind == "I;16":
        Image.fromarray(grey.astype(np.uint16) * 257).save(path)
    elif kind == "RGB;16":
        path.write_bytes(png16_rgb(px.astype(np.uint16) * 257))
    elif kind == "RGBA":
        alpha = np.full(px.shape[:2], 255, np.uint8)
        alpha[:, :24] = 0  # a transparent strip: composited to black
        Image.fromarray(np.dstack([px, alpha]), "RGBA").save(path)
    elif kind == "P":
        Image.fromarray(px).convert("P", palette=Image.ADAPTIVE, colors=256).save(path)
    elif kind == "CMYK":
        Image.fromarray(px).convert("CMYK").save(path, quality=95)
    return path


@pytest.mark.parametrize("kind, suffix", [("L", "png"), ("I;16", "png"), ("RGB;16", "png"), ("RGBA", "png"),
                                          ("P", "png"), ("CMYK", "jpg")])
def test_every_pixel_format_through_the_front_door(tmp_path, inv, kind, suffix):
    """load_image -> detect_face -> styleganex_crop -> align_face -> encode/decode -> paste_back."""
    path = write_astronaut(tmp_path / f"astronaut.{suffix}", kind)
    with Image.open(path) as im:
        assert im.mode == kind.replace("RGB;16", "RGB")  # Pillow decodes 16-bit RGB to 8-bit itself
    image = load_image(path)
    assert image.shape == (3, 512, 512) and image.dtype == torch.float32
    face = detect_face(image, DETECTOR)
    assert eye_error(face, ASTRONAUT_EYES) <= EYE_TOLERANCE
    crop, record = styleganex_crop(image, face)
    assert crop.shape[1] % 8 == 0 and crop.shape[2] % 8 == 0 and crop.shape[1] >= 400
    left, right = record.frame_to_crop(np.stack(face.eyes()))
    assert right[0] - left[0] == pytest.approx(64.0, abs=0.1)  # up to 0.5 px rounding of the rescaled frame
    aligned = align_face(crop, record.face_in_crop(face))
    out = inv.decode(inv.encode(crop[None] * 2 - 1, aligned[None] * 2 - 1))
    assert out.shape == (1, 3, *crop.shape[1:]) and torch.isfinite(out).all()
    result = paste_back(image, ((out[0].clamp(-1, 1) + 1) / 2), record)
    assert result.shape == image.shape and 0 <= result.min() and result.max() <= 1
    # the crop covers x 0..345 of the frame: the right edge is untouched, the face replaced
    x1 = int(record.box[2] / record.scale_xy[0])
    assert torch.equal(result[:, :, x1 + 1:], image[:, :, x1 + 1:])
    assert (result - image)[:, 80:170, 180:270].abs().mean() > 0.05


@pytest.mark.parametrize("size", [(1, 1), (7, 9)])
def test_tiny_images_without_a_face_still_run_through_the_model(tmp_path, inv, size):
    """No face (NoFaceError, as test_faces_photos shows) -> the no-face path: pad to multiples of 8,
    encode/decode, remove the padding again."""
    Image.new("RGB", size[::-1], (120, 80, 60)).save(tmp_path / "tiny.png")
    image = load_image(tmp_path / "tiny.png")
    with pytest.raises(NoFaceError):
        detect_face(image, DETECTOR)
    padded, rec = make_size_valid(image[None], 8, "pad")
    assert padded.shape[-2] % 8 == 0 and padded.shape[-1] % 8 == 0
    out = inv.decode(inv.encode(padded * 2 - 1))
    back = undo_size_valid(out, rec, 1)
    assert back.shape == (1, 3, *size) and torch.isfinite(back).all()
    with pytest.raises(ValueError, match="multiples of 8"):
        inv.encode(image[None] * 2 - 1)


def test_64x64_images(astro):
    """The whole photo at 64x64: no face. Only the face, at 64x64: found, and too small to crop."""
    whole = F.interpolate(astro[None], size=(64, 64), mode="bilinear", antialias=True)[0].clamp(0, 1)
    with pytest.raises(NoFaceError, match="64x64"):
        detect_face(whole, DETECTOR)
    face_only = F.interpolate(astro[None, :, 40:232, 120:312], size=(64, 64), mode="bilinear",
                              antialias=True)[0].clamp(0, 1)
    face = detect_face(face_only, DETECTOR)
    assert 10 < face.eye_distance() < 16
    for step in (lambda: styleganex_crop(face_only, face), lambda: align_face(face_only, face)):
        with pytest.raises(FaceTooSmallError, match=r"1\d\.\d px apart, the minimum is 16 px"):
            step()


@pytest.mark.slow
def test_astronaut_in_a_6000x4000_canvas(astro, inv):
    """The 512-px photo pasted into a 24-megapixel canvas: at DlibDetector's 1600-px search size the
    face is 24 px wide and not found, so the detector searches again at full size; the crop lands on
    the face and paste-back only touches the face region."""
    ox, oy = 4700, 900
    canvas = torch.full((3, 4000, 6000), 0.5)
    canvas[:, oy:oy + 512, ox:ox + 512] = astro
    face = detect_face(canvas, DETECTOR)
    assert eye_error(face, ASTRONAUT_EYES + [ox, oy]) <= EYE_TOLERANCE
    crop, record = styleganex_crop(canvas, face)
    assert crop.shape == (3, 512, 512)
    left, right = record.frame_to_crop(np.stack(face.eyes()))
    assert right[0] - left[0] == pytest.approx(64.0, abs=0.1)  # up to 0.5 px rounding of the rescaled frame
    middle = (left + right) / 2
    assert ((250 < middle) & (middle < 266)).all(), middle  # the box is centred on the eyes (8-px grid)
    # the crop shows the same face as the photo alone: the same aligned face
    alone = align_face(astro, detect_face(astro, DETECTOR))
    assert (align_face(crop, record.face_in_crop(face)) - alone).abs().mean() < 0.03
    out = inv.decode(inv.encode(crop[None] * 2 - 1))
    result = paste_back(canvas, (out[0].clamp(-1, 1) + 1) / 2, record)
    x0, y0, x1, y1 = (np.array(record.box) / record.scale).astype(int)
    assert torch.equal(result[:, :, :x0 - 1], canvas[:, :, :x0 - 1])
    assert torch.equal(result[:, :y0 - 1], canvas[:, :y0 - 1])
    assert torch.equal(result[:, y1 + 1:], canvas[:, y1 + 1:])
    assert torch.equal(result[:, :, x1 + 1:], canvas[:, :, x1 + 1:])
    assert (result - canvas)[:, oy + 80:oy + 170, ox + 180:ox + 270].abs().mean() > 0.05


def test_all_black_image_has_no_face():
    message = r"no face found in the 600x400 image.*face_in_box.*from_landmarks.*center_crop"
    with pytest.raises(NoFaceError, match=message):
        detect_face(torch.zeros(3, 400, 600), DETECTOR)


BAD_VALUES = {"nan": float("nan"), "inf": float("inf"), "above": 1.5, "below": -1.5}


def _bad(shape, how, base=0.5):
    x = torch.full(shape, base)
    x.view(-1)[x.numel() // 2] = BAD_VALUES[how]
    return x


def _api_calls(inv, sr_small, how):
    """Every entry point that takes an image, with one bad value in it."""
    face = Face.from_landmarks(landmarks(32, 24, 32))
    img01 = lambda *s: _bad(s, how)  # noqa: E731 - images in 0..1
    img11 = lambda *s: _bad(s, how, 0.0)  # noqa: E731 - model inputs in -1..1
    good = torch.full((3, 64, 64), 0.5)
    s2f = random_model("sketch2face", size=256, seed=15)
    m2f = random_model("mask2face", size=256, seed=16)
    from styleganex.faces import crop_record
    rec = crop_record((64, 64), face)
    return {
        "detect_face": lambda: detect_face(img01(3, 64, 64), DETECTOR),
        "styleganex_crop": lambda: styleganex_crop(img01(3, 64, 64), face),
        "align_face": lambda: align_face(img01(3, 64, 64), face),
        "paste_back frame": lambda: paste_back(img01(3, 64, 64), good, rec),
        "paste_back output": lambda: paste_back(good, img01(3, 64, 64), rec),
        "paste_back mask": lambda: paste_back(good, good, rec, mask=img01(64, 64)),
        "encode frame": lambda: inv.encode(img11(1, 3, 32, 32)),
        "encode aligned": lambda: inv.encode(torch.zeros(1, 3, 32, 32), img11(1, 3, 64, 64)),
        "optimize": lambda: optimize(inv, img11(1, 3, 32, 32), steps=1),
        "super_resolve image": lambda: super_resolve(sr_small, img01(1, 3, 8, 8), 32,
                                                     aligned01=torch.zeros(1, 3, 64, 64)),
        "super_resolve aligned": lambda: super_resolve(sr_small, torch.zeros(1, 3, 8, 8), 32,
                                                       aligned01=img01(1, 3, 64, 64)),
        "sketch_to_face": lambda: sketch_to_face(s2f, img01(1, 1, 32, 32)),
        "mask_to_face one-hot": lambda: mask_to_face(m2f, img01(1, 19, 32, 32)),
        "process_video frame": lambda: [o.frame for o in process_video(
            inv, [good[:, :32, :32], img01(3, 32, 32)], crop="none", aligned=good)],
        "process_video aligned": lambda: [o.frame for o in process_video(
            inv, [good[:, :32, :32]], crop="none", aligned=img01(3, 64, 64))],
    }


@pytest.mark.parametrize("how", list(BAD_VALUES))
def test_nan_inf_and_out_of_range_values_are_value_errors(inv, sr_small, how):
    calls = _api_calls(inv, sr_small, how)
    escaped = {}
    for name, call in calls.items():
        try:
            call()
        except ValueError as e:
            assert any(w in str(e) for w in ("NaN", "infinite", "lie in", "must lie", "values", "0..1", "[0, 1]")), \
                (name, str(e))
            continue
        escaped[name] = "no error"
    assert not escaped, escaped


# ---- faces -------------------------------------------------------------------------------------------------
def test_two_faces_largest_first_index_one_is_the_other(astro):
    small = F.interpolate(astro[None], scale_factor=0.7, mode="bilinear", antialias=True,
                          align_corners=False)[0].clamp(0, 1)
    # top 320 rows only: the mission patch on the suit (a weak detection, test_faces_photos) is cut off
    canvas = torch.zeros(3, 320, 512 + small.shape[2])
    canvas[:, :, :512] = astro[:, :320]
    canvas[:, :, 512:] = small[:, :320]
    assert len(DETECTOR.detect(canvas)) == 2
    big = detect_face(canvas, DETECTOR)
    other = detect_face(canvas, DETECTOR, index=1)
    assert eye_error(big, ASTRONAUT_EYES) <= EYE_TOLERANCE
    assert eye_error(other, (ASTRONAUT_EYES + 0.5) * 0.7 - 0.5 + [512, 0]) <= EYE_TOLERANCE
    assert big.area > other.area
    with pytest.raises(ValueError, match="face index 2 asked for, but only 2 face"):
        detect_face(canvas, DETECTOR, index=2)
    crop, record = styleganex_crop(canvas, other)
    assert crop.shape[1:] == record.crop_size
    left, right = record.frame_to_crop(np.stack(other.eyes()))
    assert right[0] - left[0] == pytest.approx(64.0, abs=0.1)  # up to 0.5 px rounding of the rescaled frame


def test_face_touching_the_left_edge_round_trips_within_a_pixel(astro):
    dx = -190  # the face box starts 24 px left of the frame; the left eye is 13 px from the edge
    frame = torch.zeros_like(astro)
    frame[:, :, :512 + dx] = astro[:, :, -dx:]
    face = detect_face(frame, DETECTOR)
    assert face.box[0] < 0
    assert eye_error(face, ASTRONAUT_EYES + [dx, 0]) <= EYE_TOLERANCE
    crop, record = styleganex_crop(frame, face)
    assert record.box[0] == 0 and record.edges_at_frame_border()[0]  # clipped at the left
    assert crop.shape[2] < 512
    eyes = np.stack(face.eyes())
    assert np.abs(record.crop_to_frame(record.frame_to_crop(eyes)) - eyes).max() < 1e-9
    output = F.interpolate(crop[None], scale_factor=4, mode="bicubic", align_corners=False)[0].clamp(0, 1)
    pasted = paste_back(frame, output, record)
    window = (slice(None), slice(60, 200), slice(0, 120))  # the face, up to the left edge
    shift, _, _ = phase_cross_correlation(frame[window].mean(0).numpy(), pasted[window].mean(0).numpy(),
                                          upsample_factor=20)
    assert np.abs(shift).max() <= 1.0, shift
    assert (pasted - frame)[window].abs().mean() < 0.02
    assert (pasted - frame)[:, 60:200, 0].abs().mean() < 0.05  # the edge column itself, not faded out


@pytest.mark.parametrize("k", [1, -1])
def test_face_rotated_by_90_degrees(astro, k):
    """dlib finds no face turned by 90 degrees (NoFaceError). Given its landmarks anyway, the crop
    refuses with a ValueError (one direction once gave a 24x magnified crop), while the
    FFHQ alignment, which handles any rotation, gives the upright aligned face."""
    rotated = torch.rot90(astro, k, dims=(1, 2)).contiguous()
    with pytest.raises(NoFaceError):
        detect_face(rotated, DETECTOR)
    upright = detect_face(astro, DETECTOR)
    p = upright.landmarks
    turned = np.stack([p[:, 1], 511 - p[:, 0]], 1) if k == 1 else np.stack([511 - p[:, 1], p[:, 0]], 1)
    face = Face.from_landmarks(turned)
    with pytest.raises(ValueError, match="turned by 8\\d degrees|left-to-right"):
        styleganex_crop(rotated, face)
    assert (align_face(rotated, face) - align_face(astro, upright)).abs().max() < 1e-3


def test_profile_face_is_not_found():
    """scikit-image's cameraman, a face seen nearly from the side: dlib's frontal detector gives nothing."""
    with pytest.raises(NoFaceError):
        detect_face(from_uint8_hwc(data.camera()), DETECTOR)


def test_tilted_landmarks_limit(astro):
    """A synthetic face tilted 50 degrees is cropped; 70 degrees is refused (faces.crop.MAX_TILT = 60)."""
    from styleganex.faces import crop_record
    from styleganex.faces.crop_record import MAX_TILT
    assert MAX_TILT == 60
    base = landmarks(256, 256, 40)
    for angle, ok in ((50, True), (70, False)):
        t = np.radians(angle)
        turn = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
        face = Face.from_landmarks((base - 256) @ turn.T + 256)
        if ok:
            assert crop_record((512, 512), face).scale == pytest.approx(64 / (40 * np.cos(t)), rel=1e-3)
        else:
            with pytest.raises(ValueError, match="turned by 70 degrees"):
                crop_record((512, 512), face)
