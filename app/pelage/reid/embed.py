"""Embedding crops with a trained model, in batches, on CUDA when there is one and the CPU otherwise."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path

import numpy as np
import torch

from pelage.reid.bundle import ModelBundle, load_model, resolve_model_dir
from pelage.reid.devices import resolve_device
from pelage.reid.nets import EmbeddingNet
from pelage.reid.transforms import letterbox, mirror, to_tensor


def _batches(items: Iterable[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def embed_with(model: EmbeddingNet, crops: Iterable[np.ndarray], batch_size: int = 16,
               progress: Callable[[int], None] | None = None) -> np.ndarray:
    """N×D float32 unit vectors for H×W×4 crops (RGB masked + edge), letterboxed to the model's input."""
    config = model.config
    device = next(model.parameters()).device
    chunks = []
    done = 0
    with torch.inference_mode():
        for batch in _batches(crops, batch_size):
            images = [letterbox(crop, config.input_height, config.input_width) for crop in batch]
            tensor = to_tensor(images, config.mean, config.std).to(device)
            chunks.append(model(tensor).float().cpu().numpy())
            done += len(batch)
            if progress is not None:
                progress(done)
    if not chunks:
        return np.zeros((0, config.embedding_dim), np.float32)
    return np.concatenate(chunks).astype(np.float32)


def identification_vectors(model: EmbeddingNet, crops: Iterable[np.ndarray], batch_size: int = 16,
                           progress: Callable[[int], None] | None = None) -> np.ndarray:
    """The vectors identification indexes and compares: the embedding, or for a model with ``mirror_features`` the
    embeddings of the crop and of its mirror image side by side, scaled to unit length.

    The cosine of two such vectors is the mean of two cosines, the coats as they are and the coats mirrored. The
    bundled model learnt a mirrored crop as a class of its own, so the mirror is a second look at the same coat, not
    the same look twice (calibration identities: embedding mAP 0.270 → 0.311). The flank predictor reads
    e(x) − e(mirror x) off the two halves, so it needs no pass of its own."""
    if not model.config.mirror_features:
        return embed_with(model, crops, batch_size, progress)
    chunks, done = [], 0
    for batch in _batches(crops, batch_size):
        as_is = embed_with(model, batch, batch_size)
        mirrored = embed_with(model, [mirror(crop) for crop in batch], batch_size)
        chunks.append(np.concatenate([as_is, mirrored], axis=1) / np.float32(np.sqrt(2.0)))
        done += len(batch)
        if progress is not None:
            progress(done)
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros((0, model.config.vector_dim), np.float32)


class Embedder:
    """A loaded model ready to embed; ``model_id`` tells which model produced a vector."""

    def __init__(self, model: str | Path | None = None, device: str | None = None, threads: int | None = None,
                 batch_size: int = 16) -> None:
        if threads:
            torch.set_num_threads(threads)  # a process-wide setting: only the caller knows the machine's share
        self.device = resolve_device(device)
        self.model, self.bundle = load_model(resolve_model_dir(model), self.device)
        self.batch_size = batch_size

    @property
    def model_id(self) -> str:
        return self.bundle.model_id

    @property
    def info(self) -> ModelBundle:
        return self.bundle

    @property
    def mirror_features(self) -> bool:
        return self.bundle.config.mirror_features

    def embed(self, crops: Iterable[np.ndarray], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Identification vectors (see :func:`identification_vectors`)."""
        return identification_vectors(self.model, crops, self.batch_size, progress)
