from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pelage.ingest.decode import MAX_PIXELS, ImageReadError, decode_image, parse_exif_time
from tests.images import jpeg_bytes, pattern_rgb, save_jpeg


def test_exif_time_and_orientation(tmp_path):
    rgb = pattern_rgb(320, 240)
    path = save_jpeg(tmp_path / "a.jpg", rgb, when=datetime(2023, 5, 6, 7, 8, 9), orientation=6)
    decoded = decode_image(path)
    assert decoded.exif_time == datetime(2023, 5, 6, 7, 8, 9)
    assert decoded.rgb.shape == (320, 240, 3)  # orientation 6: rotated a quarter turn


def test_no_exif(tmp_path):
    decoded = decode_image(save_jpeg(tmp_path / "a.jpg", pattern_rgb()))
    assert decoded.exif_time is None
    assert decoded.rgb.dtype == np.uint8 and decoded.rgb.shape == (240, 320, 3)


@pytest.mark.parametrize("value", ["0000:00:00 00:00:00", "", b"\x00\x00", None, "garbage"])
def test_placeholder_exif_times_are_ignored(value):
    assert parse_exif_time(value) is None


@pytest.mark.parametrize(
    ("mode", "suffix"),
    [("L", ".jpg"), ("CMYK", ".jpg"), ("RGBA", ".png"), ("P", ".png"), ("I;16", ".png"), ("RGB", ".tif"), ("RGB", ".bmp"), ("RGB", ".webp")],
)
def test_modes_and_formats_become_8bit_rgb(tmp_path, mode, suffix):
    rgb = pattern_rgb()
    if mode == "I;16":
        image = Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257)
    else:
        image = Image.fromarray(rgb).convert(mode)
    path = tmp_path / f"img{suffix}"
    image.save(path)
    decoded = decode_image(path)
    assert decoded.rgb.shape == (240, 320, 3) and decoded.rgb.dtype == np.uint8
    # The spotted body stays brighter than the ground whatever the encoding.
    assert decoded.rgb[120, 160].mean() > decoded.rgb[5, 5].mean()


def test_sixteen_bit_uses_the_full_range(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 256, dtype=np.uint16), (16, 1))
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    decoded = decode_image(tmp_path / "ramp.png")
    assert decoded.rgb[:, 0].max() <= 1 and decoded.rgb[:, -1].min() >= 254


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (lambda: jpeg_bytes(pattern_rgb())[:2000], "truncated"),
        (lambda: b"", "not an image"),
        (lambda: b"hello, I am a text file\n", "not an image"),
        (lambda: b"\xff\xd8\xff\xe0" + bytes(200), "damaged|not an image"),
    ],
)
def test_unreadable_files_give_clear_reasons(tmp_path, content, reason):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content())
    with pytest.raises(ImageReadError, match=reason):
        decode_image(path)


def test_very_large_camera_frame_decodes(tmp_path):
    big = np.zeros((6000, 8000, 3), np.uint8)
    big[2000:4000, 3000:5000] = 200
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=70)
    decoded = decode_image(tmp_path / "big.jpg")
    assert decoded.rgb.shape == (6000, 8000, 3)


PILLOW_DEFAULT_LIMIT = 89_478_485  # Pillow's own MAX_IMAGE_PIXELS, below the frames Pelage means to read


def hundred_megapixel_jpeg(path: Path) -> Path:
    """A real 10000×10000 camera-sized frame: a plain ground with a spotted animal pasted in (encodes in about a second)."""
    frame = Image.new("RGB", (10_000, 10_000), (70, 80, 60))
    frame.paste(Image.fromarray(pattern_rgb(3000, 2000)), (3500, 4000))
    frame.save(path, "JPEG", quality=80)
    return path


def test_hundred_megapixel_frame_decodes(tmp_path):
    assert 10_000 * 10_000 > PILLOW_DEFAULT_LIMIT and 10_000 * 10_000 <= MAX_PIXELS
    decoded = decode_image(hundred_megapixel_jpeg(tmp_path / "big.jpg"))
    assert decoded.rgb.shape == (10_000, 10_000, 3)
    assert decoded.rgb[5000, 5000].mean() > decoded.rgb[100, 100].mean()  # the animal is where it was put


@pytest.mark.parametrize("factor", [1.1, 2.5], ids=["above-the-limit", "above-twice-the-limit"])
def test_decompression_bomb_is_refused_with_its_size(tmp_path, factor):
    side = int((MAX_PIXELS * factor) ** 0.5)
    Image.new("1", (side, side)).save(tmp_path / "bomb.png")  # tiny file, enormous canvas
    with pytest.raises(ImageReadError, match=rf"too large \(.*{round(side * side / 1e6)} MP; the limit is 120 MP\): downscale"):
        decode_image(tmp_path / "bomb.png")


def test_the_limit_is_a_setting(tmp_path):
    path = save_jpeg(tmp_path / "a.jpg", pattern_rgb(320, 240))
    with pytest.raises(ImageReadError, match=r"320×240 = 0.08 MP; the limit is 0.08 MP"):
        decode_image(path, max_pixels=320 * 240 - 1)


def test_unidentified_file_fails_offline_even_after_ultralytics_is_imported(tmp_path, monkeypatch):
    """ultralytics wraps PIL.Image.open to pip-install pi-heif on unknown files; decoding must not go there."""
    import ultralytics.utils.checks
    import ultralytics.utils.patches  # noqa: F401  (applies the wrapper)

    def refuse(*args, **kwargs):
        raise AssertionError("decoding tried to install a package")

    monkeypatch.setattr(ultralytics.utils.checks, "check_requirements", refuse)
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG but not really" * 50)
    with pytest.raises(ImageReadError, match="not an image"):
        decode_image(garbage)
