"""Ultralytics YOLO backend: MegaDetector v6 weights, or any YOLO weights file a user brings.

MegaDetector's classes are animal / person / vehicle. Weights trained on other label sets (COCO,
say) have their animal classes mapped to ``animal``; other labels are kept as they are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pelage.ingest.detect.base import ANIMAL, PERSON, VEHICLE, Box


class DetectorWeightsError(ValueError):
    """A weights file that Ultralytics cannot load as a YOLO detector."""


COCO_ANIMALS = frozenset({"bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"})


def map_label(name: str) -> str:
    lowered = name.strip().lower()
    if lowered in (ANIMAL, PERSON, VEHICLE):
        return lowered
    if lowered in COCO_ANIMALS:
        return ANIMAL
    return lowered


class UltralyticsDetector:
    def __init__(self, weights: Path, confidence: float = 0.2, image_size: int = 640, device: str = "cpu") -> None:
        weights = Path(weights)
        if not weights.is_file():
            raise FileNotFoundError(f"Detector weights not found: {weights}. Install them with `pelage models install megadetector`.")
        from ultralytics import YOLO  # imports torch: only when this backend is used

        try:
            self._model = YOLO(str(weights), task="detect")
        except Exception as exc:  # torch and ultralytics raise anything from pickle to zip errors on a bad file
            raise DetectorWeightsError(
                f"cannot load the detector weights {weights} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}). "
                "Pass a YOLO weights file (.pt) with --detector-weights, or use --detector saliency."
            ) from None
        self._names = dict(self._model.names)
        self.confidence = confidence
        self.image_size = image_size
        self.device = device
        self.name = f"yolo:{weights.stem}"

    def detect(self, rgb: np.ndarray) -> list[Box]:
        # Ultralytics expects OpenCV's BGR order for numpy input.
        results = self._model.predict(
            np.ascontiguousarray(rgb[:, :, ::-1]), conf=self.confidence, imgsz=self.image_size,
            device=self.device, verbose=False,
        )
        boxes = []
        for result in results:
            for (x0, y0, x1, y1), score, cls in zip(
                result.boxes.xyxy.tolist(), result.boxes.conf.tolist(), result.boxes.cls.tolist(), strict=True
            ):
                label = map_label(self._names.get(int(cls), str(int(cls))))
                boxes.append(Box(x0, y0, x1, y1, float(score), label))
        return sorted(boxes, key=lambda box: -box.score)
