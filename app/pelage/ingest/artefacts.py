"""Crops, masks and edge images cached inside the project folder.

Names derive from the image's content hash and the detection's rank, so a re-run after a crash
rewrites the same files instead of leaving orphans, and a copied project keeps working. Writes go to
a temporary file first and are renamed into place, so a kill never leaves half a PNG behind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

# Crops are stored no larger than this (long side): plenty for identification and for review zoom,
# which goes back to the original photo for full resolution.
MAX_CROP_SIDE = 1024
# Detection boxes are cropped with a little context so masking sees the whole outline: this share of the box's width
# and height is added on each side (padded_box).
CROP_PADDING = 0.05
# True because an import of a survey rebuilds the missing cached files of the images it already holds.
REBUILD_HINT = "re-run the import of its survey (`pelage import SURVEY --project PROJECT`) to rebuild it"


@dataclass(frozen=True)
class ArtefactPaths:
    crop: str  # relative to the artefact folder, "/" separators
    mask: str
    edge: str


def artefact_paths(sha256: str, rank: int) -> ArtefactPaths:
    stem = f"{sha256[:2]}/{sha256}_{rank}"
    return ArtefactPaths(crop=f"{stem}_crop.jpg", mask=f"{stem}_mask.png", edge=f"{stem}_edge.png")


def crop_rect(shape: tuple[int, ...], box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    """The whole-pixel rectangle ``x0, y0, x1, y1`` of the frame that :func:`crop_box` cuts for ``box``."""
    height, width = shape[:2]
    x0, y0 = int(max(0, np.floor(box[0]))), int(max(0, np.floor(box[1])))
    x1, y1 = int(min(width, np.ceil(box[2]))), int(min(height, np.ceil(box[3])))
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise ValueError(f"box {box} is empty inside a {width}×{height} image")
    return x0, y0, x1, y1


def padded_box(box: Any) -> tuple[float, float, float, float]:
    """A detection's box (anything with ``x0, y0, x1, y1``: a detector's Box, a stored Detection) with a little context
    around it, so masking sees the whole outline: what its crop is cut from (:func:`crop_rect`)."""
    pad_x, pad_y = (box.x1 - box.x0) * CROP_PADDING, (box.y1 - box.y0) * CROP_PADDING
    return box.x0 - pad_x, box.y0 - pad_y, box.x1 + pad_x, box.y1 + pad_y


def crop_box(rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    x0, y0, x1, y1 = crop_rect(rgb.shape, box)
    crop = rgb[y0:y1, x0:x1]
    scale = MAX_CROP_SIDE / max(crop.shape[:2])
    if scale < 1:
        crop = cv2.resize(crop, (round(crop.shape[1] * scale), round(crop.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _encode(suffix: str, array: np.ndarray) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if suffix == ".jpg" else []
    ok, buffer = cv2.imencode(suffix, array, params)
    if not ok:
        raise OSError(f"could not encode a {suffix} image")
    return buffer.tobytes()


def write_crop(root: Path, relative: str, crop_rgb: np.ndarray) -> None:
    _write_atomic(root / relative, _encode(".jpg", cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2BGR)))


def write_grey(root: Path, relative: str, grey: np.ndarray) -> None:
    """A mask or edge image, as lossless PNG."""
    _write_atomic(root / relative, _encode(".png", grey))


def write_artefacts(root: Path, paths: ArtefactPaths, crop_rgb: np.ndarray, mask: np.ndarray, edge: np.ndarray) -> None:
    write_crop(root, paths.crop, crop_rgb)
    write_grey(root, paths.mask, mask)
    write_grey(root, paths.edge, edge)


def missing_artefacts(root: Path, paths: ArtefactPaths) -> frozenset[str]:
    """Which of "crop", "mask", "edge" are absent (or empty) under ``root``."""
    missing = set()
    for kind in ("crop", "mask", "edge"):
        path = root / getattr(paths, kind)
        try:
            if path.stat().st_size == 0:
                missing.add(kind)
        except OSError:
            missing.add(kind)
    return frozenset(missing)


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read cached image {path}; {REBUILD_HINT}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_grey(path: Path) -> np.ndarray:
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise FileNotFoundError(f"cannot read cached image {path}; {REBUILD_HINT}")
    return grey
