"""Geometry and colour of the 4-channel input: letterboxing for inference, light augmentation for training.

All functions take and return H×W×4 uint8 arrays (RGB + edge) so training and inference share them;
colour changes touch only the RGB channels, geometric ones move all four together.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

# Training crops are letterboxed this much larger than the input, then randomly cropped back (spotID: up to 10% a side).
TRAIN_MARGIN = 1.12


def letterbox(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Fit ``image`` inside height×width keeping its aspect ratio; the rest is black (like the masked background)."""
    scale = min(height / image.shape[0], width / image.shape[1])
    new_h, new_w = max(1, round(image.shape[0] * scale)), max(1, round(image.shape[1] * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    if resized.ndim == 2:
        resized = resized[:, :, None]
    canvas = np.zeros((height, width, image.shape[2]), np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = resized
    return canvas


def mirror(image: np.ndarray) -> np.ndarray:
    """Left-right mirror. A mirrored flank shows a pattern no real animal has on that side: a new class."""
    return np.ascontiguousarray(image[:, ::-1])


def augment(image: np.ndarray, height: int, width: int, rng: np.random.Generator, max_rotation: float = 10.0,
            erasing: float = 0.0) -> np.ndarray:
    """Random rotation (±10°), crop back to height×width, colour jitter on the RGB channels, and with probability
    ``erasing`` one blacked-out rectangle (:func:`erase`)."""
    big_h, big_w = image.shape[:2]
    angle = rng.uniform(-max_rotation, max_rotation)
    scale = rng.uniform(0.95, 1.05)
    matrix = cv2.getRotationMatrix2D((big_w / 2, big_h / 2), angle, scale)
    rotated = cv2.warpAffine(image, matrix, (big_w, big_h), flags=cv2.INTER_LINEAR, borderValue=0)
    top = int(rng.integers(0, big_h - height + 1))
    left = int(rng.integers(0, big_w - width + 1))
    out = rotated[top:top + height, left:left + width].copy()
    rgb = out[:, :, :3].astype(np.float32)
    brightness, contrast = rng.uniform(0.75, 1.25), rng.uniform(0.75, 1.25)
    grey = rgb.mean(axis=2, keepdims=True)
    saturation = rng.uniform(0.7, 1.3)
    rgb = grey + (rgb - grey) * saturation
    rgb = (rgb - rgb.mean()) * contrast + rgb.mean() * brightness
    inside = out[:, :, :3].any(axis=2, keepdims=True)  # keep the masked background black
    out[:, :, :3] = np.where(inside, np.clip(rgb, 0, 255), 0).astype(np.uint8)
    if rng.random() < erasing:
        erase(out, rng)
    return out


def erase(image: np.ndarray, rng: np.random.Generator, area: tuple[float, float] = (0.02, 0.3),
          aspect: tuple[float, float] = (0.3, 3.3)) -> None:
    """Black out one random rectangle of 2-30 % of the image in every channel, in place (random erasing, Zhong et al.
    2020). Black, not noise: it is what a branch or grass in front of the flank leaves once the background is removed,
    so the network learns to identify a coat from the part it can see."""
    height, width = image.shape[:2]
    for _ in range(10):  # a drawn shape that does not fit is drawn again, as in the paper
        size = rng.uniform(*area) * height * width
        ratio = math.exp(rng.uniform(math.log(aspect[0]), math.log(aspect[1])))
        h, w = round(math.sqrt(size * ratio)), round(math.sqrt(size / ratio))
        if 0 < h < height and 0 < w < width:
            top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
            image[top:top + h, left:left + w] = 0
            return


def to_tensor(images: np.ndarray | list[np.ndarray], mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """N×H×W×C uint8 → N×C×H×W float, scaled to [0, 1] and normalised per channel."""
    batch = torch.from_numpy(np.ascontiguousarray(np.stack(images) if isinstance(images, list) else images))
    batch = batch.permute(0, 3, 1, 2).float().div_(255.0)
    mean_t = torch.tensor(mean, dtype=batch.dtype).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=batch.dtype).view(1, -1, 1, 1)
    return batch.sub_(mean_t).div_(std_t)
