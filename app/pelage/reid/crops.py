"""Crops of a folder of photos made by the import pipeline, cached on disk, for training and `pelage embed`.

Training, benchmarks and the embed/rank commands work on plain image folders (a labelled data set,
say) rather than on a project. They still must see exactly what an imported survey gives the model,
so every photo goes through :class:`pelage.ingest.pipeline.Pipeline` (detect → mask → edge) once, and
the result is remembered in ``manifest.jsonl`` beside the cached files. A later run (or a machine that
received the cache folder) reuses it without loading the detector at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pelage.ingest.artefacts import read_grey, read_rgb
from pelage.ingest.decode import ImageReadError
from pelage.ingest.detect import Box
from pelage.ingest.edges import apply_mask, stack_rgb_edge

if TYPE_CHECKING:  # the pipeline pulls in the detector; a prepared cache is read without it
    from pelage.ingest.pipeline import Pipeline

MANIFEST = "manifest.jsonl"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"})


@dataclass(frozen=True)
class CropRecord:
    """One photo's primary animal: where its crop, mask and edge images are in the cache."""

    path: str  # relative to the image folder, "/" separators
    sha256: str
    box: tuple[float, float, float, float]
    detected: bool  # False: no animal found, the whole photo stands in
    mask_source: str
    crop: str  # relative to the cache folder
    mask: str
    edge: str


@dataclass(frozen=True)
class CropFailure:
    path: str
    reason: str


def list_images(root: Path) -> list[str]:
    """Image files under ``root``, relative, "/"-separated and sorted (hidden folders skipped)."""
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not any(part.startswith(".") for part in relative.parts):
            found.append(relative.as_posix())
    return sorted(found)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def primary_box(boxes: list[Box]) -> Box | None:
    """The animal a labelled photo is about: the most confident animal detection."""
    animals = [box for box in boxes if box.label == "animal"]
    return max(animals, key=lambda box: box.score) if animals else None


def read_manifest(cache: Path) -> dict[tuple[str, str], CropRecord]:
    records: dict[tuple[str, str], CropRecord] = {}
    manifest = cache / MANIFEST
    if not manifest.is_file():
        return records
    for line in manifest.read_text(encoding="utf-8").splitlines():
        try:
            data = json.loads(line)
            data["box"] = tuple(data["box"])
            record = CropRecord(**data)
        except (ValueError, TypeError, KeyError):
            continue  # a line cut short by a kill: that photo is simply prepared again
        records[(record.path, record.sha256)] = record
    return records


def records_by_path(cache: Path) -> dict[str, CropRecord]:
    """The cache's newest record for each photo path, for training from a cache without the photos.

    A cache copied to another machine (a GPU server, say) carries its crops but not the original
    photos, so there is no content hash to check against; the last line written for a path wins.
    """
    return {record.path: record for record in read_manifest(Path(cache)).values()}


def _is_complete(cache: Path, record: CropRecord) -> bool:
    return all((cache / name).is_file() for name in (record.crop, record.mask, record.edge))


def _process(pipeline: Pipeline, root: Path, relative: str, sha256: str) -> CropRecord:
    rgb = pipeline.decode(root / relative).rgb
    height, width = rgb.shape[:2]
    found = pipeline.find(rgb)
    box = primary_box([item.box for item in found])
    detected = box is not None
    if box is None:
        box = Box(0.0, 0.0, float(width), float(height), 0.0)
    # The detector's map of the chosen box is its mask, as at import.
    patch = next((item.patch for item in found if item.box == box), None)
    done = pipeline.process_box(rgb, sha256, 0, box, patch)
    return CropRecord(
        path=relative, sha256=sha256, box=(box.x0, box.y0, box.x1, box.y1), detected=detected,
        mask_source=done.mask.source.value, crop=done.paths.crop, mask=done.paths.mask, edge=done.paths.edge,
    )


def prepare_crops(
    root: Path,
    relpaths: Iterable[str],
    cache: Path,
    pipeline_factory: Callable[[Path], Pipeline],
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[CropRecord], list[CropFailure]]:
    """Crop every listed photo once; return records in the order given, and the photos that failed.

    ``pipeline_factory(cache)`` is only called when some photo is not cached yet, so a prepared cache
    needs neither the detector nor the background-removal model.
    """
    root, cache = Path(root), Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    known = read_manifest(cache)
    relpaths = list(relpaths)
    records: list[CropRecord] = []
    failures: list[CropFailure] = []
    pipeline: Pipeline | None = None
    with (cache / MANIFEST).open("a", encoding="utf-8") as manifest:
        for done, relative in enumerate(relpaths, 1):
            try:
                sha256 = file_sha256(root / relative)
                record = known.get((relative, sha256))
                if record is None or not _is_complete(cache, record):
                    pipeline = pipeline or pipeline_factory(cache)
                    record = _process(pipeline, root, relative, sha256)
                    manifest.write(json.dumps(asdict(record)) + "\n")
                    manifest.flush()
                records.append(record)
            except (ImageReadError, OSError, ValueError) as exc:
                failures.append(CropFailure(relative, str(exc)))
            if progress is not None:
                progress(done, len(relpaths))
    return records, failures


def load_model_input(root: Path, crop: str, mask: str, edge: str) -> np.ndarray:
    """H×W×4 uint8 model input before resizing: the masked crop and its edge channel, from cached files."""
    return stack_rgb_edge(apply_mask(read_rgb(root / crop), read_grey(root / mask)), read_grey(root / edge))


def load_crop(cache: Path, record: CropRecord) -> np.ndarray:
    return load_model_input(cache, record.crop, record.mask, record.edge)


def iter_crops(cache: Path, records: Iterable[CropRecord]) -> Iterator[np.ndarray]:
    for record in records:
        yield load_crop(cache, record)
