"""Animal detection behind one small interface, with a registry of backends and one factory.

``auto`` picks MegaDetector when the user installed its weights, else the offline saliency
detector, so an import always works without a download.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from pelage.ingest.detect.base import ANIMAL, PERSON, VEHICLE, Box, Detector, Found, SaliencyPatch, iou
from pelage.ingest.detect.saliency import SaliencyDetector
from pelage.ingest.detect.yolo import UltralyticsDetector
from pelage.ingest.saliency import SaliencyModel


@dataclass(frozen=True)
class DetectorConfig:
    name: str = "auto"  # a key of BACKENDS, or "auto"
    weights: Path | None = None  # YOLO weights; default: the installed MegaDetector
    confidence: float = 0.2
    device: str = "cpu"


def _saliency(config: DetectorConfig, saliency: SaliencyModel, weights: Path | None) -> Detector:
    return SaliencyDetector(saliency)


def _yolo(config: DetectorConfig, saliency: SaliencyModel, weights: Path | None) -> Detector:
    if weights is None:
        raise FileNotFoundError(
            "No YOLO weights given and MegaDetector is not installed: run `pelage models install megadetector` "
            "or pass --detector-weights FILE."
        )
    return UltralyticsDetector(weights, confidence=config.confidence, device=config.device)


BACKENDS = MappingProxyType({"saliency": _saliency, "yolo": _yolo})


def create_detector(config: DetectorConfig, saliency: SaliencyModel, installed_weights: Path | None) -> Detector:
    """Build the detector ``config`` asks for; ``installed_weights`` is the user's MegaDetector file, if any."""
    weights = config.weights or installed_weights
    name = config.name
    if name == "auto":
        name = "yolo" if weights is not None else "saliency"
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise ValueError(f"Unknown detector {config.name!r}; choose one of: auto, {', '.join(BACKENDS)}") from None
    return factory(config, saliency, weights)


__all__ = [
    "ANIMAL", "BACKENDS", "PERSON", "VEHICLE", "Box", "Detector", "DetectorConfig", "Found", "SaliencyDetector", "SaliencyPatch",
    "UltralyticsDetector", "create_detector", "iou",
]
