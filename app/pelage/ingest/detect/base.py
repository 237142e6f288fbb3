"""What every detector returns, and the interface a detector backend implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

ANIMAL, PERSON, VEHICLE = "animal", "person", "vehicle"


@dataclass(frozen=True)
class Box:
    """A detection in pixel coordinates of the oriented image."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float
    label: str = ANIMAL

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)

    def clipped(self, width: int, height: int) -> Box:
        return Box(
            max(0.0, min(self.x0, width)), max(0.0, min(self.y0, height)),
            max(0.0, min(self.x1, width)), max(0.0, min(self.y1, height)),
            self.score, self.label,
        )


@dataclass(frozen=True)
class SaliencyPatch:
    """A U²-Net-p map (at the network's resolution) of the frame rectangle ``x0:x1, y0:y1``.

    The offline detector keeps the map it refined a box with, so the animal's mask can be cut from it
    instead of running the network a third time on the crop.
    """

    saliency: np.ndarray  # float32, 0 = background, 1 = object
    x0: int
    y0: int
    x1: int
    y1: int


@dataclass(frozen=True)
class Found:
    """A detection and, when the detector made one, its saliency map."""

    box: Box
    patch: SaliencyPatch | None = None


class Detector(Protocol):
    """Finds animals (and people, vehicles) in an H×W×3 uint8 RGB image."""

    name: str

    def detect(self, rgb: np.ndarray) -> list[Box]: ...


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0
