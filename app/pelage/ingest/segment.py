"""Background removal of one detected animal, with the plain box as a recorded fallback."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pelage.ingest.detect.base import SaliencyPatch
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
    """Segment the animal in ``crop_rgb`` with rembg (U²-Net-p on the crop); on any failure return the whole box and say why."""
    full = np.full(crop_rgb.shape[:2], 255, np.uint8)
    if model is None:
        return MaskResult(full, MaskSource.BOX, "background removal is switched off")
    try:
        saliency = model.predict(crop_rgb)
    except Exception as exc:  # onnxruntime errors are not worth losing an image over
        return MaskResult(full, MaskSource.BOX, f"background removal failed: {exc}")
    return mask_from_saliency(saliency, MaskSource.REMBG)


def patch_on_crop(patch: SaliencyPatch, rect: tuple[int, int, int, int], crop_shape: tuple[int, ...]) -> np.ndarray:
    """The detector's map resampled onto a crop of the frame rectangle ``rect`` (crop pixels outside the map: 0).

    One affine warp from crop pixels to map pixels, so no full-frame map is ever built.
    """
    x0, y0, x1, y1 = rect
    out_h, out_w = crop_shape[:2]
    map_h, map_w = patch.saliency.shape[:2]
    frame_x, frame_y = (x1 - x0) / out_w, (y1 - y0) / out_h  # frame pixels per crop pixel
    map_x, map_y = map_w / (patch.x1 - patch.x0), map_h / (patch.y1 - patch.y0)  # map pixels per frame pixel
    matrix = np.array([
        [frame_x * map_x, 0.0, (x0 - patch.x0 + 0.5 * frame_x) * map_x - 0.5],
        [0.0, frame_y * map_y, (y0 - patch.y0 + 0.5 * frame_y) * map_y - 0.5],
    ], np.float64)
    return cv2.warpAffine(patch.saliency, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def mask_from_patch(patch: SaliencyPatch, rect: tuple[int, int, int, int], crop_shape: tuple[int, ...]) -> MaskResult:
    """The animal's mask cut from the map the detector refined its box with: no third U²-Net-p run."""
    return mask_from_saliency(patch_on_crop(patch, rect, crop_shape), MaskSource.SALIENCY)


def mask_from_saliency(saliency: np.ndarray, source: MaskSource) -> MaskResult:
    """Threshold a crop-sized saliency map into the animal's mask (the whole box, and why, when it finds none).

    One function for both sources (rembg on the crop, the detector's own map), so their masks differ only in
    the map they start from.
    """
    binary = (saliency >= 0.5).astype(np.uint8)
    binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8))
    binary = _largest_components(binary)
    share = float(binary.mean())
    if share < MIN_MASK_SHARE:
        full = np.full(saliency.shape[:2], 255, np.uint8)
        return MaskResult(full, MaskSource.BOX, f"background removal found no animal in the box ({share:.1%} of it)")
    return MaskResult(binary * np.uint8(255), source)
