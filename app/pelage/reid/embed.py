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
from pelage.reid.transforms import letterbox, to_tensor


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

    def embed(self, crops: Iterable[np.ndarray], progress: Callable[[int], None] | None = None) -> np.ndarray:
        return embed_with(self.model, crops, self.batch_size, progress)
