"""The offline default detector: boxes around salient objects found by U²-Net-p.

It needs no download and no GPU. Algorithm (parameters measured on real camera-trap frames, see
``bench/detect_bench.py``): saliency of the whole frame; threshold; close small gaps; connected
components; keep components that are large enough relative to the frame and to the largest one;
then refine each box by running the model again on a padded crop around it, which resolves the
animal's outline much better than the 320-pixel view of the whole frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from pelage.ingest.detect.base import ANIMAL, Box, Found, SaliencyPatch, iou
from pelage.ingest.saliency import SaliencyModel


def _component_boxes(saliency: np.ndarray, threshold: float, min_share: float, keep_share: float) -> list[Box]:
    """Boxes (in saliency-map pixels) of connected salient regions, with their mean saliency."""
    binary = (saliency >= threshold).astype(np.uint8)
    binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if count <= 1:
        return []
    areas = stats[1:, cv2.CC_STAT_AREA].astype(float)
    total = float(saliency.size)
    boxes = []
    for index in np.argsort(-areas):
        area = areas[index]
        if area < min_share * total or area < keep_share * areas.max():
            continue
        x, y, w, h = stats[index + 1, :4]
        score = float(saliency[labels == index + 1].mean())
        boxes.append(Box(float(x), float(y), float(x + w), float(y + h), score, ANIMAL))
    return boxes


def _scale(box: Box, sx: float, sy: float, dx: float = 0.0, dy: float = 0.0) -> Box:
    return Box(box.x0 * sx + dx, box.y0 * sy + dy, box.x1 * sx + dx, box.y1 * sy + dy, box.score, box.label)


class SaliencyDetector:
    name = "saliency-u2netp"
    thread_safe = True  # onnxruntime sessions run concurrently

    def __init__(
        self,
        model: SaliencyModel,
        threshold: float = 0.5,
        min_share: float = 0.004,
        keep_share: float = 0.2,
        refine_padding: float = 0.25,
        max_boxes: int = 4,
    ) -> None:
        self.model = model
        self.threshold = threshold
        self.min_share = min_share
        self.keep_share = keep_share
        self.refine_padding = refine_padding
        self.max_boxes = max_boxes

    def _refine(self, rgb: np.ndarray, box: Box) -> Found:
        height, width = rgb.shape[:2]
        pad_x = (box.x1 - box.x0) * self.refine_padding
        pad_y = (box.y1 - box.y0) * self.refine_padding
        x0, y0 = int(max(0, box.x0 - pad_x)), int(max(0, box.y0 - pad_y))
        x1, y1 = int(min(width, box.x1 + pad_x)), int(min(height, box.y1 + pad_y))
        if x1 - x0 < 16 or y1 - y0 < 16:
            return Found(box)
        crop = rgb[y0:y1, x0:x1]
        saliency = self.model.predict_square(crop)
        found = _component_boxes(saliency, self.threshold, 0.02, 0.5)
        if not found:
            return Found(box)
        # The union of the dominant parts: an animal split by a tree trunk stays one animal.
        union = Box(min(b.x0 for b in found), min(b.y0 for b in found), max(b.x1 for b in found),
                    max(b.y1 for b in found), max(box.score, found[0].score), ANIMAL)
        sx, sy = (x1 - x0) / saliency.shape[1], (y1 - y0) / saliency.shape[0]
        return Found(_scale(union, sx, sy, x0, y0).clipped(width, height), SaliencyPatch(saliency, x0, y0, x1, y1))

    def detect(self, rgb: np.ndarray) -> list[Box]:
        return [found.box for found in self.find(rgb)]

    def find(self, rgb: np.ndarray) -> list[Found]:
        """The boxes, each with the saliency map of the crop it was refined on (reused as its mask)."""
        height, width = rgb.shape[:2]
        saliency = self.model.predict_square(rgb)
        coarse = _component_boxes(saliency, self.threshold, self.min_share, self.keep_share)
        sx, sy = width / saliency.shape[1], height / saliency.shape[0]
        kept: list[Found] = []
        for box in coarse[: self.max_boxes]:
            refined = self._refine(rgb, _scale(box, sx, sy))
            if all(iou(refined.box, other.box) < 0.5 for other in kept):
                kept.append(refined)
        return kept
