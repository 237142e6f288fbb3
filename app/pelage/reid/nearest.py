"""Each animal's best cosine to an animal in another photo, kept in the project beside the candidate index.

The cosine is the appearance's (:func:`appearance_rows`: the vectors without their spot words).

The review queue (:mod:`pelage.review.queue`) orders anchors by an upper bound on their best candidate's cosine.
Computing it for every animal is an all-pairs pass, quadratic in the animals: about a minute at 100,000 on two cores,
which a reviewer would wait for at every session start. It depends only on the vectors and on which photo each
animal is in, so it is kept in a file and brought up to date only for animals whose vector is new or changed (a
redrawn box): a session then opens in time linear in the animals, and ``pelage identify`` pays for its new animals
(new × all, a few milliseconds an animal at 100,000).

Every value stays an upper bound on the true one: a changed or removed animal may leave another's value too high
(the queue corrects it lazily), never too low, since each fresh vector raises everyone it beats. The file holds
plain arrays, read with ``allow_pickle=False``; anything unreadable or inconsistent is recomputed, never trusted.
"""

from __future__ import annotations

import os
import threading
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

SUFFIX = ".nearest.npz"
BLOCK = 512  # fresh rows per matrix product: 512 × 100,000 float32 is 200 MB at most


def nearest_path(index_file: Path) -> Path:
    """The bounds file beside an index file (``index/<model>.faiss`` → ``index/<model>.nearest.npz``)."""
    return index_file.with_suffix(SUFFIX)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32, contiguous): inner products become cosines."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def appearance_rows(vectors: np.ndarray, spot_words: int = 0) -> np.ndarray:
    """:func:`unit_rows` of the vectors without their last ``spot_words`` columns: what the review queue orders by.

    Spot words help a shortlist set other coats aside, but two crops of the same scenery share all their words, so
    ordering by them put the false detections in empty frames first (the first 29 anchors of a 300-frame season; by
    appearance, none of the first 60): the queue asks how alike the coats look."""
    vectors = np.asarray(vectors, np.float32)
    if spot_words and vectors.ndim == 2 and vectors.shape[1] > spot_words:
        vectors = vectors[:, :-spot_words]
    return unit_rows(vectors)


def _digests(vectors: np.ndarray) -> np.ndarray:
    return np.fromiter((zlib.crc32(row.tobytes()) for row in vectors), np.uint32, len(vectors))


def _read(path: Path) -> dict[int, tuple[int, int, float]]:
    """id -> (vector digest, image id, bound), or nothing when the file is absent or not one of ours."""
    try:
        with np.load(path, allow_pickle=False) as data:
            ids, digests, images, best = (data[name] for name in ("ids", "digests", "images", "best"))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return {}
    if not (ids.ndim == digests.ndim == images.ndim == best.ndim == 1 and len(ids) == len(digests) == len(images) == len(best)):
        return {}
    return {int(i): (int(d), int(m), float(b)) for i, d, m, b in zip(ids.tolist(), digests.tolist(), images.tolist(), best.tolist(),
                                                                       strict=True)}


def _write(path: Path, ids: np.ndarray, digests: np.ndarray, images: np.ndarray, best: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp.npz")  # two writers never share one
    np.savez(tmp, ids=ids.astype(np.int64), digests=digests, images=images.astype(np.int64), best=best.astype(np.float32))
    tmp.replace(path)


def best_in_other_photos(path: Path, ids: np.ndarray, vectors: np.ndarray, image_of: Mapping[int, int]) -> tuple[np.ndarray, int]:
    """(each animal's best cosine to an animal of another photo, -inf when there is none; how many were computed afresh).

    ``vectors`` are :func:`unit_rows`, one per id; ``image_of`` gives each id's photo. Reads and updates the file at ``path``.
    """
    ids = np.asarray(ids, np.int64)
    images = np.array([image_of[int(i)] for i in ids], np.int64)
    digests = _digests(vectors)
    cached = _read(path)
    best = np.full(len(ids), -np.inf, np.float32)
    fresh = np.ones(len(ids), bool)
    for row, (animal, digest, image) in enumerate(zip(ids.tolist(), digests.tolist(), images.tolist(), strict=True)):
        known = cached.get(animal)
        if known is not None and known[0] == digest and known[1] == image:
            best[row], fresh[row] = known[2], False
    rows = np.flatnonzero(fresh)
    for start in range(0, len(rows), BLOCK):
        block = rows[start:start + BLOCK]
        similarity = vectors[block] @ vectors.T
        similarity[images[block][:, None] == images[None, :]] = -np.inf  # itself and the other animals of its photo
        best[block] = similarity.max(axis=1)
        np.maximum(best, similarity.max(axis=0), out=best)  # a fresh vector may beat what the others had
    if len(rows) or len(cached) != len(ids):
        _write(path, ids, digests, images, best)
    return best, len(rows)
