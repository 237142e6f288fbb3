"""Small image files of every awkward kind, made on the fly (tests/ ships no binary fixtures)."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import numpy as np
import piexif
from PIL import Image


def pattern_rgb(width: int = 320, height: int = 240, seed: int = 0) -> np.ndarray:
    """A bright spotted blob on a darker textured ground, so the detector has something to find."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    ground = rng.integers(40, 80, (height, width, 3), dtype=np.uint8)
    body = ((xx - width / 2) / (width / 3.5)) ** 2 + ((yy - height / 2) / (height / 4)) ** 2 <= 1
    image = ground.copy()
    image[body] = (200, 160, 100)
    for cx, cy in rng.uniform((width * 0.3, height * 0.35), (width * 0.7, height * 0.65), (20, 2)):
        spot = (xx - cx) ** 2 + (yy - cy) ** 2 <= (width / 60) ** 2
        image[spot & body] = (40, 30, 20)
    return image


def exif_bytes(when: datetime | None = None, orientation: int | None = None) -> bytes:
    zeroth = {piexif.ImageIFD.Make: b"test"}
    if orientation:
        zeroth[piexif.ImageIFD.Orientation] = orientation
    exif = {piexif.ExifIFD.DateTimeOriginal: when.strftime("%Y:%m:%d %H:%M:%S").encode()} if when else {}
    return piexif.dump({"0th": zeroth, "Exif": exif})


def save_jpeg(path: Path, rgb: np.ndarray, when: datetime | None = None, orientation: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"exif": exif_bytes(when, orientation)} if (when or orientation) else {}
    Image.fromarray(rgb).save(path, "JPEG", quality=90, **kwargs)
    return path


def jpeg_bytes(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def write_bad_inputs(root: Path) -> dict[str, str]:
    """Every awkward input in one folder tree; returns relative path → what the import must do."""
    rgb = pattern_rgb()
    expect: dict[str, str] = {}

    def put(relative: str, outcome: str) -> Path:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        expect[relative] = outcome
        return path

    save_jpeg(put("ST01/CAM1/good with spaces.JPG", "done"), rgb, when=datetime(2024, 3, 1, 12, 0, 0))
    save_jpeg(put("ST01/CAM1/Läufer_ñandú_雪豹.jpg", "done"), pattern_rgb(seed=1))
    data = jpeg_bytes(pattern_rgb(seed=2))
    put("ST01/CAM1/truncated.jpg", "failed").write_bytes(data[: len(data) // 2])
    put("ST01/CAM1/empty.jpg", "failed").write_bytes(b"")
    put("ST01/CAM1/not-really.jpg", "failed").write_text("this is a text file with a .jpg name\n")
    put("ST01/CAM1/garbage.png", "failed").write_bytes(np.random.default_rng(3).bytes(5000))
    Image.fromarray(pattern_rgb(seed=4)).save(put("ST02/CAM1/frame.png", "done"))
    Image.fromarray(pattern_rgb(seed=5)).save(put("ST02/CAM1/frame.tif", "done"), compression="tiff_lzw")
    Image.fromarray(pattern_rgb(seed=6)).convert("L").save(put("ST02/CAM1/grey.jpg", "done"))
    Image.fromarray(pattern_rgb(seed=7)).convert("CMYK").save(put("ST02/CAM1/cmyk.jpg", "done"))
    grey16 = (pattern_rgb(seed=8)[:, :, 0].astype(np.uint16) * 257)
    Image.fromarray(grey16).save(put("ST02/CAM1/sixteen-bit.png", "done"))
    save_jpeg(put("ST02/CAM1/rotated.jpg", "done"), pattern_rgb(seed=9), orientation=6)
    put("ST02/CAM1/readme.pdf", "not an image").write_bytes(b"%PDF-1.4\n")
    return expect
