"""Robust decoding of camera-trap images into 8-bit RGB arrays, with their EXIF capture time.

Every way an image can be unreadable ends in :class:`ImageReadError` whose message says what is
wrong in words a field biologist can act on; callers record it and carry on.
"""

from __future__ import annotations

import re
import sys
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# The largest frame Pelage decodes: any camera's (a 100 MP frame), small enough to refuse a decompression bomb
# (a small file that expands to gigabytes). Pillow's own default (89.5 MP) is lower, so wherever Pelage opens an
# image it raises Pillow's limit to this one; ``decode_image(max_pixels=...)`` overrides it per call.
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


def _allow_pixels(limit: int) -> None:
    """Let Pillow open frames up to ``limit`` pixels (it warns above its global limit and refuses above twice it)."""
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < limit:
        Image.MAX_IMAGE_PIXELS = limit


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.0f} MP" if pixels >= 1e6 else f"{pixels / 1e6:.2f} MP"


def _too_large(pixels: int, limit: int, size: str = "") -> ImageReadError:
    return ImageReadError(f"image is too large ({size}{_megapixels(pixels)}; the limit is {_megapixels(limit)}): "
                          "downscale it before importing")


def _bomb_pixels(error: Exception) -> int:
    """The pixel count in Pillow's decompression-bomb message (0 when it has none)."""
    found = re.search(r"\((\d+) pixels\)", str(error))
    return int(found.group(1)) if found else 0


def decode_image(path: Path, max_pixels: int = MAX_PIXELS) -> DecodedImage:
    """Decode ``path`` fully (so truncation is caught here, not later) into oriented 8-bit RGB.

    Frames above ``max_pixels`` are refused from their header, before any pixel is decoded.
    """
    _allow_pixels(max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the explicit check below decides
            with _pillow_open(path) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise _too_large(width * height, max_pixels, f"{width}×{height} = ")
                exif_time = read_exif_time(image)
                source_mode, fmt = image.mode, image.format
                image.load()
                oriented = ImageOps.exif_transpose(image)
                rgb = _to_rgb_array(oriented)
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError("not an image file Pelage can read (JPEG, PNG, TIFF, BMP, WebP)") from None
    except Image.DecompressionBombError as exc:
        raise _too_large(_bomb_pixels(exc), max_pixels) from None
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
