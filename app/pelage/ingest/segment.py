"""Background removal of one detected animal, with the plain box as a recorded fallback."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pelage.ingest.saliency import SaliencyModel
from pelage.store.schema import MaskSource

# A mask this small (share of the crop) is a failed segmentation, not a tiny animal inside its own box.
MIN_MASK_SHARE = 0.03


@dataclass
class MaskResult:
    mask: np.ndarray  # uint8, 255 = animal, same size as the crop
    source: MaskSource
    error: str | None = None


def _largest_components(binary: np.ndarray, keep_share: float = 0.15) -> np.ndarray:
    """Drop specks: keep connected parts at least ``keep_share`` of the largest one."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if count <= 2:
        return binary
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= keep_share * areas.max()) + 1
    return np.isin(labels, keep).astype(np.uint8)


def mask_animal(crop_rgb: np.ndarray, model: SaliencyModel | None) -> MaskResult:
    """Segment the animal in ``crop_rgb``; on any failure return the whole box and say why."""
    full = np.full(crop_rgb.shape[:2], 255, np.uint8)
    if model is None:
        return MaskResult(full, MaskSource.BOX, "background removal is switched off")
    try:
        saliency = model.predict(crop_rgb)
    except Exception as exc:  # onnxruntime errors are not worth losing an image over
        return MaskResult(full, MaskSource.BOX, f"background removal failed: {exc}")
    binary = (saliency >= 0.5).astype(np.uint8)
    binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    binary = _largest_components(binary)
    share = float(binary.mean())
    if share < MIN_MASK_SHARE:
        return MaskResult(full, MaskSource.BOX, f"background removal found no animal in the box ({share:.1%} of it)")
    return MaskResult(binary * np.uint8(255), MaskSource.REMBG)
