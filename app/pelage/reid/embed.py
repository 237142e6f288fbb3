"""Embedding crops with a trained model, in batches, on CUDA when there is one and the CPU otherwise."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import islice
from pathlib import Path

import numpy as np
import torch

from pelage.reid.bundle import ModelBundle, load_model, resolve_model_dir
from pelage.reid.devices import resolve_device
from pelage.reid.nets import EmbeddingNet, ModelConfig
from pelage.reid.spot_words import word_vectors
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


def _embedding_part(model: EmbeddingNet, crops: list[np.ndarray], batch_size: int) -> np.ndarray:
    """The embedding, or [e(x), e(mirror x)] / √2 for a model with ``mirror_features``: unit rows either way."""
    as_is = embed_with(model, crops, batch_size)
    if not model.config.mirror_features:
        return as_is
    mirrored = embed_with(model, [mirror(crop) for crop in crops], batch_size)
    return np.concatenate([as_is, mirrored], axis=1) / np.float32(np.sqrt(2.0))


def identification_vectors(model: EmbeddingNet, crops: Iterable[np.ndarray], batch_size: int = 16,
                           progress: Callable[[int], None] | None = None) -> np.ndarray:
    """The unit vectors identification indexes and compares, whose inner product is what the shortlist ranks by.

    - With ``mirror_features``, the embeddings of the crop and of its mirror image side by side: the cosine of two
      is the mean of two cosines, the coats as they are and mirrored. The bundled model learnt a mirrored crop as a
      class of its own, so the mirror is a second look at the same coat (calibration identities: embedding mAP
      0.270 → 0.311). The flank predictor reads e(x) − e(mirror x) off them (:func:`mirror_halves`).
    - With ``spot_words``, the crop's unit spot-word histogram (:mod:`pelage.reid.spot_words`) appended at
      ``√spot_words_weight``, so the inner product is (cosine + weight · word cosine) / (1 + weight).
    """
    config = model.config
    vocabulary = model.spot_words if config.spot_words else None
    if config.spot_words and (vocabulary is None or vocabulary.size != config.spot_words):
        raise ValueError(f"the model's config asks for {config.spot_words} spot words but it carries no such vocabulary")
    chunks, done = [], 0
    for batch in _batches(crops, batch_size):
        part = _embedding_part(model, batch, batch_size)
        if vocabulary is not None:
            words = word_vectors(vocabulary, batch) * np.float32(np.sqrt(config.spot_words_weight))
            part = np.concatenate([part, words], axis=1) / np.float32(np.sqrt(1.0 + config.spot_words_weight))
        chunks.append(part)
        done += len(batch)
        if progress is not None:
            progress(done)
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros((0, config.vector_dim), np.float32)


def mirror_halves(vectors: np.ndarray, config: ModelConfig) -> tuple[np.ndarray, np.ndarray]:
    """e(x) and e(mirror x) read back off identification vectors of a ``mirror_features`` model (no pass needed)."""
    vectors = np.asarray(vectors, np.float64)
    scale = np.sqrt(2.0) * (np.sqrt(1.0 + config.spot_words_weight) if config.spot_words else 1.0)
    dim = config.embedding_dim
    return vectors[:, :dim] * scale, vectors[:, dim:2 * dim] * scale


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

    @property
    def halves(self) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None:
        """What reads e(x) and e(mirror x) back off this model's vectors (:func:`mirror_halves`); None without mirror
        features."""
        return partial(mirror_halves, config=self.bundle.config) if self.mirror_features else None

    def embed(self, crops: Iterable[np.ndarray], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Identification vectors (see :func:`identification_vectors`)."""
        return identification_vectors(self.model, crops, self.batch_size, progress)
