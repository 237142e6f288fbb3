"""The edge channel of spotID and the 4-channel (RGB + edge) input built from it.

spotID equalises the histogram so faint and bright rosettes count alike, blurs lightly so only real
edges survive, and runs Canny to isolate the pattern. This module is the only place that stacks the
channels: import, training and inference all call :func:`stack_rgb_edge`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class EdgeParams:
    blur_kernel: int = 5
    blur_sigma: float = 1.0
    canny_low: int = 50
    canny_high: int = 150


def edge_channel(rgb: np.ndarray, mask: np.ndarray | None = None, params: EdgeParams = EdgeParams()) -> np.ndarray:
    """Canny edges (uint8, 0 or 255) of an H×W×3 image; outside ``mask`` (uint8, >127 = animal) is zero."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    equalised = cv2.equalizeHist(grey)
    blurred = cv2.GaussianBlur(equalised, (params.blur_kernel, params.blur_kernel), params.blur_sigma)
    edges = cv2.Canny(blurred, params.canny_low, params.canny_high)
    if mask is not None:
        # Erode a little so the outline of the mask itself does not become a strong edge.
        inside = cv2.erode((mask > 127).astype(np.uint8), np.ones((5, 5), np.uint8))
        edges = edges * inside
    return edges


def stack_rgb_edge(rgb: np.ndarray, edge: np.ndarray) -> np.ndarray:
    """H×W×4 uint8: the RGB channels followed by the edge channel."""
    if rgb.shape[:2] != edge.shape[:2]:
        raise ValueError(f"RGB {rgb.shape[:2]} and edge {edge.shape[:2]} images differ in size")
    return np.concatenate([rgb, edge[:, :, None]], axis=2)


def apply_mask(rgb: np.ndarray, mask: np.ndarray, background: int = 0) -> np.ndarray:
    """The animal on a plain background: what the identification model sees."""
    keep = (mask > 127)[:, :, None]
    return np.where(keep, rgb, np.uint8(background))
