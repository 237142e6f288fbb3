"""Per-image processing with no database: decode → detect → mask → edge → cached files.

The importer, the benchmark and user-drawn boxes all go through these functions, so every crop in a
project was made the same way, and the identification model always sees the same preprocessing.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pelage.ingest.artefacts import ArtefactPaths, artefact_paths, crop_box, write_artefacts
from pelage.ingest.decode import DecodedImage, decode_image
from pelage.ingest.detect import Box, Detector, DetectorConfig, create_detector
from pelage.ingest.edges import edge_channel
from pelage.ingest.saliency import SaliencyModel
from pelage.ingest.segment import MaskResult, mask_animal
from pelage.paths import UserPaths
from pelage.weights import installed_detector_weights

# Detection boxes are cropped with a little context so masking sees the whole outline.
CROP_PADDING = 0.05


@dataclass
class StageTimer:
    """Seconds spent per stage, summed over images: what the benchmark prints."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, stage: str, started: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] += now - started
        return now


@dataclass
class ProcessedDetection:
    box: Box
    paths: ArtefactPaths
    mask: MaskResult


@dataclass
class Pipeline:
    detector: Detector
    saliency: SaliencyModel | None  # None: background removal off
    artefact_root: Path
    timer: StageTimer = field(default_factory=StageTimer)

    def decode(self, path: Path) -> DecodedImage:
        started = time.perf_counter()
        decoded = decode_image(path)
        self.timer.add("decode", started)
        return decoded

    def detect(self, rgb: np.ndarray) -> list[Box]:
        started = time.perf_counter()
        height, width = rgb.shape[:2]
        boxes = [box.clipped(width, height) for box in self.detector.detect(rgb)]
        self.timer.add("detect", started)
        return [box for box in boxes if box.area >= 4]

    def process_box(self, rgb: np.ndarray, sha256: str, rank: int, box: Box) -> ProcessedDetection:
        """Crop, mask and edge one box and write the three cached files."""
        started = time.perf_counter()
        pad_x, pad_y = (box.x1 - box.x0) * CROP_PADDING, (box.y1 - box.y0) * CROP_PADDING
        crop = crop_box(rgb, (box.x0 - pad_x, box.y0 - pad_y, box.x1 + pad_x, box.y1 + pad_y))
        mask = mask_animal(crop, self.saliency)
        started = self.timer.add("segment", started)
        edge = edge_channel(crop, mask.mask)
        started = self.timer.add("edge", started)
        paths = artefact_paths(sha256, rank)
        write_artefacts(self.artefact_root, paths, crop, mask.mask, edge)
        self.timer.add("write", started)
        return ProcessedDetection(box=box, paths=paths, mask=mask)


def build_pipeline(
    user_paths: UserPaths,
    artefact_root: Path,
    detector: DetectorConfig = DetectorConfig(),
    remove_background: bool = True,
    threads: int | None = None,
) -> Pipeline:
    """Load the models once for a whole import (loading takes longer than processing an image)."""
    saliency = SaliencyModel(user_paths.rembg_home, threads=threads)
    built = create_detector(detector, saliency, installed_detector_weights(user_paths.models))
    return Pipeline(detector=built, saliency=saliency if remove_background else None, artefact_root=artefact_root)
