"""Ultralytics YOLO backend: MegaDetector v6 weights, or any YOLO weights file a user brings.

MegaDetector's classes are animal / person / vehicle. Weights trained on other label sets (COCO,
say) have their animal classes mapped to ``animal``; other labels are kept as they are.

A ``.pt`` file is a pickle that Ultralytics loads with ``torch.load(weights_only=False)``: opening one
runs whatever code it holds. So a ``.pt`` is loaded only when its digest is that of a published file
Pelage knows (MegaDetector, as `pelage models install` fetches it); any other detector comes as ONNX,
which Ultralytics runs with onnxruntime and which holds no code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pelage.ingest.detect.base import ANIMAL, PERSON, VEHICLE, Box


class DetectorWeightsError(ValueError):
    """A weights file that Ultralytics cannot (or must not) load as a YOLO detector."""


PICKLE_SUFFIXES = frozenset({".pt", ".pth", ".pkl", ".pickle"})


def is_published_weights(path: Path) -> bool:
    """Whether ``path`` has the digest of a weights file Pelage knows (hashed each time: a user's file is never
    written beside, and a few MB hash in milliseconds)."""
    from pelage.weights import KNOWN_WEIGHTS
    from pelage.weights.verify import checksum_matches

    return any(checksum_matches(path, spec.checksum)[0] for spec in KNOWN_WEIGHTS.values())


def refuse_unknown_pickle(path: Path) -> None:
    """Raise :class:`DetectorWeightsError` unless ``path`` is an ONNX file or a published ``.pt``.

    Judged by the exact name: Ultralytics turns a name without a suffix that looks like one of its models
    (``yolov8n``) into ``yolov8n.pt`` beside it and unpickles that, so only the two safe forms pass.
    """
    suffix = path.suffix.lower()
    if not path.is_file() or suffix == ".onnx" or (suffix == ".pt" and is_published_weights(path)):
        return  # a missing file is reported as missing by whoever opens it
    if suffix not in PICKLE_SUFFIXES:
        raise DetectorWeightsError(
            f"{path} is not a YOLO detector exported to ONNX (a .onnx file). Export it on a machine you trust "
            f"(`yolo export model=FILE format=onnx`) and pass the .onnx file with --detector-weights, or use --detector saliency."
        )
    raise DetectorWeightsError(
            f"{path} is a PyTorch pickle file, which can run code when it is loaded, and it is not a published file "
            f"Pelage knows. Export it to ONNX on a machine you trust (`yolo export model={path.name} format=onnx`) and "
            "pass the .onnx file with --detector-weights, or use the MegaDetector from `pelage models install megadetector`."
        )


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
        refuse_unknown_pickle(weights)
        from ultralytics import YOLO  # imports torch: only when this backend is used

        try:
            self._model = YOLO(str(weights), task="detect")
            self._names = dict(self._model.names)  # an ONNX file is only parsed here
        except Exception as exc:  # torch and ultralytics raise anything from pickle to zip errors on a bad file
            raise DetectorWeightsError(
                f"cannot load the detector weights {weights} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}). "
                "Pass a YOLO detector exported to ONNX with --detector-weights, or use --detector saliency."
            ) from None
        self.confidence = confidence
        self.image_size = image_size
        self.device = "" if device in ("", "auto") else device  # Ultralytics' own "best here": CUDA when available, else the CPU
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
