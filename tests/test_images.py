"""load_image (pixel formats, EXIF, limits, broken files), the uint8 conversions and check_image."""

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from styleganex.io.images import MAX_PIXELS, ImageError, check_image, from_uint8_hwc, load_image, to_uint8_hwc


def png_bytes(width, height, bit_depth, colour_type, raw_rows: bytes) -> bytes:
    """A PNG file written by hand (Pillow cannot write 16-bit RGB, and cannot lie about the size)."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw_rows)) + chunk(b"IEND", b"")


def test_rgb_png_round_trip(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    image = load_image(tmp_path / "a.png")
    assert image.dtype == torch.float32 and image.shape == (3, 9, 7)
    assert np.array_equal(to_uint8_hwc(image), pixels)


def test_grey_becomes_three_equal_channels(tmp_path):
    grey = np.arange(60, dtype=np.uint8).reshape(6, 10) * 4
    Image.fromarray(grey, "L").save(tmp_path / "g.png")
    image = load_image(tmp_path / "g.png")
    assert image.shape == (3, 6, 10)
    assert torch.equal(image[0], image[2]) and torch.equal(image[0], image[1])
    assert torch.allclose(image[0], torch.from_numpy(grey).float() / 255)


def test_rgba_is_composited_over_black(tmp_path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0] = 200           # red everywhere
    rgba[:, :2, 3] = 255         # left half opaque
    rgba[:, 2:, 3] = 51          # right half 20 % opaque
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    image = load_image(tmp_path / "t.png")
    assert torch.allclose(image[0, :, :2], torch.tensor(200 / 255))
    assert torch.allclose(image[0, :, 2:], torch.tensor(200 / 255 * 51 / 255), atol=1e-6)
    assert image[1:].abs().max() == 0


def test_grey_with_alpha_and_palette_transparency(tmp_path):
    la = Image.fromarray(np.dstack([np.full((3, 3), 255, np.uint8), np.full((3, 3), 0, np.uint8)]), "LA")
    la.save(tmp_path / "la.png")
    assert load_image(tmp_path / "la.png").max() == 0  # fully transparent white -> black

    palette = Image.new("P", (4, 2))
    palette.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    palette.putpixel((0, 0), 1)
    palette.save(tmp_path / "p.png", transparency=0)  # index 0 (red) is transparent
    image = load_image(tmp_path / "p.png")
    assert image[:, 0, 0].tolist() == [0.0, 1.0, 0.0]  # the one opaque green pixel
    assert image[:, 1, 3].tolist() == [0.0, 0.0, 0.0]  # transparent red -> black


def test_palette_without_transparency(tmp_path):
    palette = Image.new("P", (2, 2))
    palette.putpalette([10, 20, 30] * 256)
    palette.save(tmp_path / "p.gif")
    assert torch.allclose(load_image(tmp_path / "p.gif")[:, 1, 1], torch.tensor([10, 20, 30]) / 255)


def test_cmyk_is_converted(tmp_path):
    Image.new("CMYK", (5, 5), (255, 0, 0, 0)).save(tmp_path / "c.tif")  # pure cyan
    image = load_image(tmp_path / "c.tif")
    assert torch.allclose(image[:, 2, 2], torch.tensor([0.0, 1.0, 1.0]))


def test_16_bit_grey_keeps_its_precision(tmp_path):
    values = np.array([[0, 1, 257, 65535], [1000, 30000, 65534, 12345]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    image = load_image(tmp_path / "g16.png")
    assert torch.allclose(image[1], torch.from_numpy(values.astype(np.float32)) / 65535, atol=1e-7)
    assert image[0, 0, 1] > 0  # 1/65535 would be 0 in 8 bits


def test_16_bit_rgb_png(tmp_path):
    rng = np.random.default_rng(1)
    values = rng.integers(0, 65536, (5, 6, 3), dtype=np.uint16)
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in values)
    (tmp_path / "c16.png").write_bytes(png_bytes(6, 5, 16, 2, rows))
    image = load_image(tmp_path / "c16.png")
    assert image.shape == (3, 5, 6)
    expected = torch.from_numpy(values.astype(np.float32)).permute(2, 0, 1) / 65535
    assert (image - expected).abs().max() <= 1 / 255 + 1e-6  # Pillow keeps 8 bits of 16-bit RGB


def test_exif_orientation_is_applied(tmp_path):
    stored = np.zeros((20, 40, 3), dtype=np.uint8)
    stored[:10] = (255, 0, 0)    # top half red
    stored[10:] = (0, 0, 255)    # bottom half blue
    exif = Image.Exif()
    exif[0x0112] = 6             # "rotate 90 degrees clockwise to display"
    Image.fromarray(stored).save(tmp_path / "o.jpg", exif=exif, quality=95)
    image = load_image(tmp_path / "o.jpg")
    assert image.shape == (3, 40, 20)
    assert image[0, :, 15].mean() > 0.9 and image[2, :, 15].mean() < 0.1   # the top went to the right
    assert image[2, :, 4].mean() > 0.9 and image[0, :, 4].mean() < 0.1


def test_pixel_limit_names_the_numbers(tmp_path):
    Image.new("RGB", (100, 100)).save(tmp_path / "s.png")
    with pytest.raises(ImageError, match="10,000 pixels.*5,000"):
        load_image(tmp_path / "s.png", max_pixels=5000)
    # a header claiming 7000 x 7000 is refused before anything is decoded
    (tmp_path / "huge.png").write_bytes(png_bytes(7000, 7000, 8, 2, b"\x00" * 10))
    assert MAX_PIXELS == 36_000_000
    with pytest.raises(ImageError, match="49,000,000 pixels.*36,000,000"):
        load_image(tmp_path / "huge.png")


@pytest.mark.parametrize("name, content, words", [
    ("notes.png", b"hello, this is not a picture\n", "text"),
    ("empty.jpg", b"", "empty"),
    ("doc.png", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
    ("clip.jpg", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00", "MP4"),
])
def test_non_images_say_what_they_are(tmp_path, name, content, words):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ImageError, match=words) as info:
        load_image(tmp_path / name)
    assert name in str(info.value)
    assert isinstance(info.value, ValueError)


def test_truncated_file(tmp_path):
    pixels = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="cut.png"):
        load_image(tmp_path / "cut.png")


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        load_image("/nonexistent/face.png")


def test_uint8_conversions():
    array = np.random.default_rng(3).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    tensor = from_uint8_hwc(array)
    assert tensor.shape == (3, 5, 7) and tensor.dtype == torch.float32
    assert np.array_equal(to_uint8_hwc(tensor), array)
    assert from_uint8_hwc(array[:, :, 0]).shape == (3, 5, 7)
    # rounding and clipping
    assert to_uint8_hwc(torch.tensor([0.5 / 255, 1.6 / 255, 2.0]).view(3, 1, 1)).ravel().tolist() == [0, 2, 255]
    with pytest.raises(ImageError):
        from_uint8_hwc(array.astype(np.float32))
    with pytest.raises(ImageError):
        to_uint8_hwc(torch.zeros(4, 2, 2))


def test_check_image_accepts_good_images():
    image = torch.rand(3, 4, 5)
    assert check_image(image) is image
    assert check_image(torch.rand(2, 3, 4, 5)).shape == (2, 3, 4, 5)
    check_image(torch.full((3, 2, 2), 1.0 + 1e-6))  # float rounding of a resampling filter is let through


@pytest.mark.parametrize("image, words", [
    (torch.full((3, 2, 2), float("nan")), "NaN"),
    (torch.tensor([0.0, float("inf"), 0.5]).view(3, 1, 1), "infinite"),
    (torch.rand(4, 2, 2), r"\[3, H, W\]"),
    (torch.rand(2, 2), r"\[3, H, W\]"),
    (torch.linspace(-1, 1, 12).view(3, 2, 2), "-1..1"),
    (torch.linspace(0, 255, 12).view(3, 2, 2), "0..255"),
    (torch.linspace(0, 1.01, 12).view(3, 2, 2), "0..1.01"),
    (torch.zeros(3, 2, 2, dtype=torch.uint8), "float"),
    (torch.zeros(3, 0, 4), "empty"),
    (np.zeros((3, 2, 2)), "torch.Tensor"),
])
def test_check_image_rejects(image, words):
    with pytest.raises(ImageError, match=words):
        check_image(image)
