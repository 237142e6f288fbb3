"""Similarity of every pair of crops from the full system: embedding cosine, then pattern verification.

Verifying every pair with SIFT costs N² matches; the embedding is cheap, so each crop's ``shortlist``
nearest neighbours by cosine are verified and every other pair keeps the embedding's judgement alone
(no inliers counted). The fused score is the calibrated probability of "same animal", which is also
what the review screen shows beside each candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from pelage.reid.rerank import DEFAULT_CALIBRATION, FusionCalibration, LocalFeatures, fuse_scores, match_features

# How many embedding neighbours of each crop are verified by pattern matching (about 3 ms a pair). The
# embedding's own rank-5 is under 0.5 on held-out nyala, so a short list hides true matches the pattern
# would confirm: 20 gave fused mAP 0.38, 100 gave 0.48 (bench/reid_bench.py).
SHORTLIST = 100
# Candidates a reviewer is shown per anchor (the top-5 of the product brief); the metrics' rank-5 and DT5AP measure it.
TOP_K = 5


def cosine_similarity(embeddings: np.ndarray) -> np.ndarray:
    embeddings = np.asarray(embeddings, dtype=np.float32)
    return embeddings @ embeddings.T


def shortlist_pairs(cosine: np.ndarray, shortlist: int) -> np.ndarray:
    """Unordered pairs (i < j) where j is among i's ``shortlist`` most similar crops or the reverse."""
    n = len(cosine)
    ranked = np.argsort(-np.where(np.eye(n, dtype=bool), -np.inf, cosine), axis=1, kind="stable")[:, :min(shortlist, n - 1)]
    rows = np.repeat(np.arange(n), ranked.shape[1])
    pairs = np.stack([np.minimum(rows, ranked.ravel()), np.maximum(rows, ranked.ravel())], axis=1)
    return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)


def verified_inliers(features: Sequence[LocalFeatures], pairs: np.ndarray,
                     progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """N×N symmetric matrix of RANSAC inliers for ``pairs``; zero elsewhere (not verified)."""
    n = len(features)
    inliers = np.zeros((n, n), np.float32)
    for done, (i, j) in enumerate(pairs, 1):
        inliers[i, j] = inliers[j, i] = match_features(features[i], features[j]).inliers
        if progress is not None and (done % 200 == 0 or done == len(pairs)):
            progress(done, len(pairs))
    return inliers


def all_pairs(n: int) -> np.ndarray:
    rows, cols = np.triu_indices(n, k=1)
    return np.stack([rows, cols], axis=1)


def fused_similarity(embeddings: np.ndarray, features: Sequence[LocalFeatures], calibration: FusionCalibration = DEFAULT_CALIBRATION,
                     shortlist: int = SHORTLIST, progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(probability "same animal" for every pair, the inlier counts behind it); diagonals are 1 and 0."""
    cosine = cosine_similarity(embeddings)
    if len(features) != len(cosine):
        raise ValueError(f"{len(cosine)} embeddings but {len(features)} feature sets")
    inliers = verified_inliers(features, shortlist_pairs(cosine, shortlist), progress)
    fused = fuse_scores(cosine, inliers, calibration).astype(np.float32)
    np.fill_diagonal(fused, 1.0)
    return fused, inliers
