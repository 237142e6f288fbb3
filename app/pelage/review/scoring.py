"""Calibrated P(same animal) for the pairs a reviewer is shown: embedding cosine fused with verified spot matches.

Pattern verification (SIFT + RANSAC, see :mod:`pelage.reid.rerank`) needs each crop's features, which cost tens
of milliseconds to extract, so they are read from the project (:mod:`pelage.reid.feature_store`: written at
identify time, or here, once, for an animal identified before that existed), kept in a bounded LRU (about half a
megabyte each), and inlier counts (per unordered pair: the matching is symmetric) are cached; the pairs a reviewer
will probably see next are computed ahead on one background thread. An animal without a readable crop (vectors
imported from elsewhere, a deleted cache) is not an error: its pairs score on the embedding alone, with zero
verified spots.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from pelage.reid.feature_store import load_or_extract
from pelage.reid.rerank import FusionCalibration, LocalFeatures, fuse_scores, match_features

FEATURE_CACHE_SIZE = 256


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


class PatternScorer:
    """Scores (anchor, candidate) pairs; thread-safe, with a one-thread prefetcher that :meth:`close` stops."""

    def __init__(self, artefacts: Path, crops: Mapping[int, tuple[str | None, str | None]], calibration: FusionCalibration,
                 feature_cache_size: int = FEATURE_CACHE_SIZE) -> None:
        self.artefacts = Path(artefacts)
        self.crops = dict(crops)  # animal id -> (crop path, mask path), relative to the artefact folder
        self.calibration = calibration
        self._features: OrderedDict[int, LocalFeatures | None] = OrderedDict()
        self._feature_cache_size = feature_cache_size
        self._inliers: dict[tuple[int, int], int | None] = {}
        self._pending: dict[tuple[int, int], Future] = {}
        self._lock = threading.Lock()
        self._worker: ThreadPoolExecutor | None = None
        self.extracted = 0  # crops whose features had to be extracted (none stored, or stale): 0 on an identified project

    def features(self, animal_id: int) -> LocalFeatures | None:
        """The animal's spot features, or None when it has no readable crop."""
        with self._lock:
            if animal_id in self._features:
                self._features.move_to_end(animal_id)
                return self._features[animal_id]
        crop, mask = self.crops.get(animal_id, (None, None))
        found, extracted = None, False
        if crop:
            try:
                found, extracted = load_or_extract(self.artefacts, crop, mask)
            except (OSError, ValueError):
                found = None  # unreadable cache: score on the embedding alone
        with self._lock:
            self.extracted += extracted
            self._features[animal_id] = found
            while len(self._features) > self._feature_cache_size:
                self._features.popitem(last=False)
        return found

    def _compute(self, a: int, b: int) -> int | None:
        first, second = self.features(a), self.features(b)
        inliers = None if first is None or second is None else int(match_features(first, second).inliers)
        with self._lock:
            self._inliers[_pair(a, b)] = inliers
        return inliers

    def inliers(self, a: int, b: int) -> int | None:
        """Verified spot matches between two animals; None when either has no crop to match."""
        key = _pair(a, b)
        with self._lock:
            if key in self._inliers:
                return self._inliers[key]
            pending = self._pending.get(key)
        if pending is not None:
            try:
                return pending.result()
            except CancelledError:
                pass  # the prefetcher was closed before it got there
        return self._compute(a, b)

    def has_crop(self, animal_id: int) -> bool:
        return bool(self.crops.get(animal_id, (None, None))[0])

    def score(self, anchor: int, candidates: Iterable[tuple[int, float]]) -> list[tuple[int, float, float, int, bool]]:
        """(id, P(same), cosine, inliers, verified) for each (id, cosine), best first (ties keep the cosine order).

        ``verified`` says whether pattern matching ran; when it could not, inliers count as 0."""
        candidates = list(candidates)
        if not candidates:
            return []
        verify = self.has_crop(anchor)
        found = [self.inliers(anchor, c) if verify and self.has_crop(c) else None for c, _ in candidates]
        inliers = np.array([count or 0 for count in found], np.float64)
        cosine = np.array([cosine for _, cosine in candidates], np.float64)
        fused = fuse_scores(cosine, inliers, self.calibration)
        order = np.argsort(-fused, kind="stable")
        return [(candidates[i][0], float(fused[i]), float(cosine[i]), int(inliers[i]), found[i] is not None) for i in order]

    def prefetch(self, pairs: Iterable[tuple[int, int]]) -> None:
        """Compute these pairs' inliers in the background (pairs without crops, or already known, are skipped)."""
        todo = []
        with self._lock:
            for a, b in pairs:
                key = _pair(a, b)
                if key in self._inliers or key in self._pending or not (self.has_crop(a) and self.has_crop(b)):
                    continue
                todo.append(key)
            if not todo:
                return
            if self._worker is None:
                self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pelage-prefetch")
            for key in todo:
                future = self._worker.submit(self._compute, *key)
                self._pending[key] = future
                future.add_done_callback(lambda _done, key=key: self._forget(key))

    def _forget(self, key: tuple[int, int]) -> None:
        with self._lock:
            self._pending.pop(key, None)

    def forget_animal(self, animal_id: int) -> None:
        """Drop what is cached for an animal whose crop changed."""
        with self._lock:
            self._features.pop(animal_id, None)
            for key in [key for key in self._inliers if animal_id in key]:
                del self._inliers[key]

    def close(self) -> None:
        """Stop the prefetcher, dropping work not yet started."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.shutdown(wait=True, cancel_futures=True)
