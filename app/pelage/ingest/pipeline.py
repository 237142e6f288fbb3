"""Per-image processing with no database: decode → detect → mask → edge → cached files.

The importer, the benchmark and user-drawn boxes all go through these functions, so every crop in a
project was made the same way, and the identification model always sees the same preprocessing.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import numpy as np

from pelage.ingest.artefacts import (
    ArtefactPaths,
    artefact_paths,
    crop_box,
    crop_rect,
    padded_box,
    read_grey,
    write_artefacts,
    write_crop,
    write_grey,
)
from pelage.ingest.decode import MAX_PIXELS, DecodedImage, decode_image
from pelage.ingest.detect import Box, Detector, DetectorConfig, Found, SaliencyPatch, create_detector, iou
from pelage.ingest.detect.yolo import refuse_unknown_pickle
from pelage.ingest.edges import edge_channel
from pelage.ingest.saliency import SaliencyModel
from pelage.ingest.segment import MaskResult, mask_animal, mask_from_patch
from pelage.paths import UserPaths
from pelage.store.schema import MaskSource
from pelage.weights import KNOWN_WEIGHTS, DamagedWeightsError, WeightsState, damaged_message, installed_weights


@dataclass
class StageTimer:
    """Seconds spent per stage, summed over images (and over worker threads): what the benchmark prints."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, stage: str, started: float) -> float:
        now = time.perf_counter()
        with self._lock:
            self.seconds[stage] += now - started
        return now


@dataclass
class ProcessedDetection:
    box: Box
    paths: ArtefactPaths
    mask: MaskResult


@dataclass
class Analysis:
    """One photo processed and its cached files written, nothing recorded yet: what a worker thread hands back."""

    exif_time: datetime | None
    width: int
    height: int
    detections: list[ProcessedDetection]
    detector: str = ""  # the name recorded with each detection (the analysis may come from another machine)


@dataclass
class Pipeline:
    """The models of one import. Safe to call from several threads: onnxruntime runs sessions concurrently
    (releasing the GIL), and detectors that say nothing about threads are called one at a time."""

    detector: Detector
    saliency: SaliencyModel | None  # None: background removal off
    artefact_root: Path
    timer: StageTimer = field(default_factory=StageTimer)
    max_pixels: int = MAX_PIXELS  # larger frames are recorded as failed, not decoded
    # The offline detector's map of the crop is the mask; rembg runs only on boxes without one (MegaDetector's).
    reuse_detector_masks: bool = True
    _detect_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def decode(self, path: Path) -> DecodedImage:
        started = time.perf_counter()
        decoded = decode_image(path, self.max_pixels)
        self.timer.add("decode", started)
        return decoded

    def find(self, rgb: np.ndarray) -> list[Found]:
        """The detections, each with the detector's saliency map when it made one and masks reuse it."""
        started = time.perf_counter()
        height, width = rgb.shape[:2]
        found = [Found(item.box.clipped(width, height), item.patch) for item in self._run_detector(rgb)]
        self.timer.add("detect", started)
        return [item for item in found if item.box.area >= 4]

    def _run_detector(self, rgb: np.ndarray) -> list[Found]:
        find = getattr(self.detector, "find", None)
        if find is not None and self.reuse_detector_masks and self.saliency is not None:
            return find(rgb)
        if getattr(self.detector, "thread_safe", False):
            return [Found(box) for box in self.detector.detect(rgb)]
        with self._detect_lock:  # Ultralytics models are not safe to share between threads
            return [Found(box) for box in self.detector.detect(rgb)]

    def analyse(self, path: Path, sha256: str) -> Analysis:
        """Decode, detect and write the cached files of one photo; raises :class:`ImageReadError`. Thread-safe."""
        decoded = self.decode(path)
        height, width = decoded.rgb.shape[:2]
        detections = [self.process_box(decoded.rgb, sha256, rank, item.box, item.patch)
                      for rank, item in enumerate(self.find(decoded.rgb))]
        return Analysis(decoded.exif_time, width, height, detections, self.detector.name)

    def mask(self, rgb: np.ndarray, box: Box, crop: np.ndarray, patch: SaliencyPatch | None) -> MaskResult:
        """The crop's mask: cut from the detector's map when there is one, else rembg on the crop (as before)."""
        if patch is not None and self.saliency is not None and self.reuse_detector_masks:
            reused = mask_from_patch(patch, crop_rect(rgb.shape, padded_box(box)), crop.shape)
            if reused.source != MaskSource.BOX:
                return reused
        return mask_animal(crop, self.saliency)

    def process_box(self, rgb: np.ndarray, sha256: str, rank: int, box: Box, patch: SaliencyPatch | None = None) -> ProcessedDetection:
        """Crop, mask and edge one box and write the three cached files."""
        started = time.perf_counter()
        crop = padded_crop(rgb, box)
        mask = self.mask(rgb, box, crop, patch)
        started = self.timer.add("segment", started)
        edge = edge_channel(crop, mask.mask)
        started = self.timer.add("edge", started)
        paths = artefact_paths(sha256, rank)
        write_artefacts(self.artefact_root, paths, crop, mask.mask, edge)
        self.timer.add("write", started)
        return ProcessedDetection(box=box, paths=paths, mask=mask)

    def rebuild_box(self, rgb: np.ndarray, box: Box, paths: ArtefactPaths, missing: Collection[str]) -> MaskResult | None:
        """Write again the ``missing`` cached files ("crop", "mask", "edge") of a recorded detection.

        Only the stages those files need run: the crop is cut from the original as at import (same box, same
        padding, so the same pixels); the mask is recomputed only when its file is gone (else read back, PNG is
        lossless), and the edge image is made from that crop and mask. Returns the new mask when one was made.
        """
        crop = padded_crop(rgb, box)
        mask = self.mask(rgb, box, crop, self._patch_for(rgb, box)) if "mask" in missing else None
        if "crop" in missing:
            write_crop(self.artefact_root, paths.crop, crop)
        if mask is not None:
            write_grey(self.artefact_root, paths.mask, mask.mask)
        if "edge" in missing:
            mask_array = mask.mask if mask is not None else read_grey(self.artefact_root / paths.mask)
            write_grey(self.artefact_root, paths.edge, edge_channel(crop, mask_array))
        return mask

    def _patch_for(self, rgb: np.ndarray, box: Box) -> SaliencyPatch | None:
        """The map the detector makes again for a recorded box, so a rebuilt mask equals the one made at import."""
        if not (self.reuse_detector_masks and hasattr(self.detector, "find")):
            return None
        return next((item.patch for item in self.find(rgb) if iou(item.box, box) > 0.98), None)


def padded_crop(rgb: np.ndarray, box: Box) -> np.ndarray:
    """The detection's crop: the padded box cut from the frame."""
    return crop_box(rgb, padded_box(box))


class DetectorFallbackWarning(UserWarning):
    """``auto`` passed over a damaged MegaDetector file and uses the offline detector."""


def _warn(message: str) -> None:
    warnings.warn(message, DetectorFallbackWarning, stacklevel=3)


def resolve_detector(config: DetectorConfig, models_dir: Path, warn: Callable[[str], None] = _warn) -> DetectorConfig:
    """Settle which detector ``config`` means, checking the installed MegaDetector file's digest once.

    Called before an import writes anything, so a damaged or missing detector file is refused up front
    instead of failing on every image: ``yolo`` refuses a damaged file, ``auto`` falls back to the offline
    detector and says so through ``warn``. Weights the user passed themselves are taken as they are, unless
    they are a pickle Pelage does not know (see :func:`refuse_unknown_pickle`).
    """
    if config.weights is not None and config.name in ("auto", "yolo"):
        refuse_unknown_pickle(config.weights)
    if config.weights is not None or config.name not in ("auto", "yolo"):
        return config
    spec = KNOWN_WEIGHTS["megadetector"]
    installed = installed_weights(spec, models_dir)
    if installed.state == WeightsState.INSTALLED:
        return replace(config, name="yolo", weights=installed.path)
    if installed.state == WeightsState.DAMAGED:
        if config.name == "yolo":
            raise DamagedWeightsError(f"{damaged_message(installed, spec)}, or use --detector saliency.")
        warn(f"{damaged_message(installed, spec)}; using the offline detector until then.")
    elif config.name == "yolo":
        raise FileNotFoundError(f"MegaDetector is not installed. Run `pelage models install {spec.name}`, "
                                "or pass your own YOLO weights with --detector-weights FILE.")
    return replace(config, name="saliency")


def build_pipeline(
    user_paths: UserPaths,
    artefact_root: Path,
    detector: DetectorConfig = DetectorConfig(),
    remove_background: bool = True,
    threads: int | None = None,
    reuse_detector_masks: bool = True,
) -> Pipeline:
    """Load the models once for a whole import (loading takes longer than processing an image).

    ``reuse_detector_masks=False`` runs rembg on every crop as Pelage did before (the benchmark's reference).
    """
    detector = resolve_detector(detector, user_paths.models)
    saliency = SaliencyModel(user_paths.rembg_home, threads=threads)
    built = create_detector(detector, saliency, None)
    return Pipeline(detector=built, saliency=saliency if remove_background else None, artefact_root=artefact_root,
                    reuse_detector_masks=reuse_detector_masks)
