"""Robust decoding of camera-trap images into 8-bit RGB arrays, with their EXIF capture time.

Every way an image can be unreadable ends in :class:`ImageReadError` whose message says what is
wrong in words a field biologist can act on; callers record it and carry on.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Large enough for any camera (a 100 MP frame), small enough to refuse a decompression bomb.
MAX_PIXELS = 120_000_000
EXIF_IFD = 0x8769
DATETIME_ORIGINAL = 0x9003
EXIF_TIME_FORMATS = ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M")


class ImageReadError(ValueError):
    """The file could not be read as an image; ``str()`` is the reason to show and record."""


@dataclass
class DecodedImage:
    rgb: np.ndarray  # H×W×3 uint8, EXIF orientation applied
    exif_time: datetime | None
    source_mode: str  # Pillow mode of the file (RGB, L, CMYK, I;16 …)
    format: str | None


def parse_exif_time(value: object) -> datetime | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "ignore")
    if not isinstance(value, str):
        return None
    text = value.strip().strip("\x00")
    for fmt in EXIF_TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None  # "0000:00:00 00:00:00" and other placeholders cameras write when their clock is unset


def read_exif_time(image: Image.Image) -> datetime | None:
    """DateTimeOriginal from the EXIF sub-IFD, or None when absent or unreadable."""
    try:
        exif = image.getexif()
        return parse_exif_time(exif.get_ifd(EXIF_IFD).get(DATETIME_ORIGINAL))
    except Exception:  # malformed EXIF must not make a readable image fail
        return None


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit (or 32-bit integer) greyscale: scale the used range into 8 bits.
        array = np.asarray(image, dtype=np.float32)
        top = float(array.max()) or 1.0
        scale = 255.0 / (65535.0 if top > 255 else 255.0)
        grey = np.clip(array * scale, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "F":
        array = np.asarray(image, dtype=np.float32)
        low, high = float(array.min()), float(array.max())
        grey = ((array - low) / ((high - low) or 1.0) * 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return np.asarray(image.convert("RGB"))


def _pillow_open(path: Path) -> Image.Image:
    """Open ``path`` with Pillow's own ``Image.open``.

    ultralytics replaces ``PIL.Image.open`` when it is imported, with a wrapper that runs pip to install
    pi-heif the first time Pillow cannot identify a file. Pelage works offline and must never install
    packages while importing a survey, so decoding goes around that wrapper (kept as ``_image_open`` in
    ultralytics' patch module).
    """
    opener = Image.open
    if getattr(opener, "__module__", "PIL.Image") != "PIL.Image":
        opener = getattr(sys.modules.get(opener.__module__), "_image_open", opener)
    return opener(path)


def decode_image(path: Path) -> DecodedImage:
    """Decode ``path`` fully (so truncation is caught here, not later) into oriented 8-bit RGB."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with _pillow_open(path) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise ImageReadError(
                        f"image is too large ({width}×{height} = {width * height / 1e6:.0f} MP; "
                        f"the limit is {MAX_PIXELS / 1e6:.0f} MP): downscale it before importing"
                    )
                exif_time = read_exif_time(image)
                source_mode, fmt = image.mode, image.format
                image.load()
                oriented = ImageOps.exif_transpose(image)
                rgb = _to_rgb_array(oriented)
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError("not an image file Pelage can read (JPEG, PNG, TIFF, BMP, WebP)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(f"image is too large to decode safely: {exc}") from None
    except OSError as exc:
        text = str(exc)
        if "truncated" in text.lower():
            raise ImageReadError("the image file is truncated (an incomplete copy from the memory card?)") from None
        raise ImageReadError(f"the image file is damaged and cannot be decoded ({text})") from None
    except (ValueError, SyntaxError, MemoryError) as exc:
        raise ImageReadError(f"the image file is damaged and cannot be decoded ({exc})") from None
    if rgb.ndim != 3 or rgb.shape[0] < 8 or rgb.shape[1] < 8:
        raise ImageReadError(f"image is too small to hold an animal ({rgb.shape[1]}×{rgb.shape[0]} pixels)")
    return DecodedImage(rgb=np.ascontiguousarray(rgb), exif_time=exif_time, source_mode=source_mode, format=fmt)
