"""Calibrated P(same animal) for the pairs a reviewer is shown: embedding cosine fused with verified spot matches.

Pattern verification (SIFT + RANSAC, see :mod:`pelage.reid.rerank`) needs each crop's features, which cost tens
of milliseconds to extract, so they are read from the project (:mod:`pelage.reid.feature_store`: written at
identify time, or here, once, for an animal identified before that existed), kept in a bounded LRU (about half a
megabyte each), and inlier counts (per unordered pair: the matching is symmetric) are cached. Pairs are verified on
a small pool of threads (one per core: OpenCV and NumPy release the GIL), both the pairs a proposal needs now and
those the reviewer will probably see next, computed ahead while they look; a proposal's own pairs go first, and
look-ahead work not yet started is dropped when a proposal needs something else. An animal without a readable crop (vectors
imported from elsewhere, a deleted cache) is not an error: its pairs score on the embedding alone, with zero
verified spots. A pair that is one camera's scenery seen twice (:mod:`pelage.reid.scenery`) counts no spots either,
and says so.

:meth:`PatternScorer.rank` orders an anchor's candidates as review and ``pelage candidates`` show them: the pairwise
scores, then the strongest candidates vouching for the others (:func:`pelage.reid.ranking.vouched_scores`), which
verifies each voucher against the anchor's other candidates too.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pelage.reid.feature_store import load_or_extract
from pelage.reid.ranking import display_floor, vouched_scores, vouchers
from pelage.reid.rerank import FusionCalibration, LocalFeatures, fuse_scores, match_features
from pelage.reid.scenery import Place, same_scenery

FEATURE_CACHE_SIZE = 256
# A voucher is named beside a candidate (review's "through #N") only when it raised the chance by this much: a strong pair
# nudged from 97 to 98 %, or a stranger from 1 to 3 %, reads the same as its own score and would only distract.
NOTABLE_LIFT = 0.05
VERIFY_THREADS = max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class RankedCandidate:
    """One candidate as review shows it."""

    id: int
    score: float  # P(same animal): the pair's own, or through ``via`` where that is higher
    cosine: float
    inliers: int  # verified spots shared with the anchor itself
    verified: bool  # whether pattern matching ran on the pair (it cannot without both crops)
    scenery: bool = False  # one camera's scenery seen twice: its spots were not counted
    via: int | None = None  # the candidate that vouched for it (matches both), where that raised the score notably
    direct: float | None = None  # the pair's own P(same) where ``via`` is given


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


class PatternScorer:
    """Scores (anchor, candidate) pairs; thread-safe, with a pool of verifying threads that :meth:`close` stops."""

    def __init__(self, artefacts: Path, crops: Mapping[int, tuple[str | None, str | None]], calibration: FusionCalibration,
                 feature_cache_size: int = FEATURE_CACHE_SIZE, places: Mapping[int, Place] | None = None) -> None:
        self.artefacts = Path(artefacts)
        self.crops = dict(crops)  # animal id -> (crop path, mask path), relative to the artefact folder
        self.places = dict(places or {})  # animal id -> camera, time and what its crop shows: what tells scenery seen twice
        self._scenery: set[tuple[int, int]] = set()  # verified pairs that are scenery: their spots are not counted
        self.calibration = calibration
        self._features: OrderedDict[int, LocalFeatures | None] = OrderedDict()
        self._feature_cache_size = feature_cache_size
        self._inliers: dict[tuple[int, int], int | None] = {}
        self._pending: dict[tuple[int, int], Future] = {}
        self._lock = threading.RLock()
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False  # after close() nothing is queued: pairs asked for are verified on the caller's thread
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
        inliers, scenery = None, False
        if first is not None and second is not None:
            match = match_features(first, second)
            scenery = same_scenery(self.places.get(a), first.image_size, self.places.get(b), second.image_size, match)
            inliers = 0 if scenery else int(match.inliers)
        with self._lock:
            self._inliers[_pair(a, b)] = inliers
            if scenery:
                self._scenery.add(_pair(a, b))
        return inliers

    def inliers(self, a: int, b: int) -> int | None:
        """Verified spot matches between two animals (0 for scenery seen twice); None when either has no crop to match."""
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

    def known_inliers(self, a: int, b: int) -> int | None:
        """:meth:`inliers` if the pair is verified already, else None (without waiting or verifying)."""
        with self._lock:
            return self._inliers.get(_pair(a, b))

    def scenery(self, a: int, b: int) -> bool:
        """Whether the pair, once verified, was found to be one camera's scenery seen twice."""
        with self._lock:
            return _pair(a, b) in self._scenery

    def has_crop(self, animal_id: int) -> bool:
        return bool(self.crops.get(animal_id, (None, None))[0])

    def score(self, anchor: int, candidates: Iterable[tuple[int, float]]) -> list[tuple[int, float, float, int, bool, bool]]:
        """(id, P(same), cosine, inliers, verified, scenery) for each (id, cosine), best first (ties keep the cosine order).

        ``verified`` says whether pattern matching ran; when it could not, inliers count as 0, as they do when
        ``scenery`` (one camera's scenery seen twice). The pairs not yet known are verified on the pool, ahead of any
        look-ahead work."""
        candidates = list(candidates)
        if not candidates:
            return []
        verify = self.has_crop(anchor) and self.features(anchor) is not None  # read once here, not by every thread at once
        needed = [_pair(anchor, c) for c, _ in candidates if verify and self.has_crop(c)]
        self._submit(needed, first=True)
        found = [self.inliers(anchor, c) if verify and self.has_crop(c) else None for c, _ in candidates]
        inliers = np.array([count or 0 for count in found], np.float64)
        cosine = np.array([cosine for _, cosine in candidates], np.float64)
        fused = fuse_scores(cosine, inliers, self.calibration)
        order = np.argsort(-fused, kind="stable")
        return [(candidates[i][0], float(fused[i]), float(cosine[i]), int(inliers[i]), found[i] is not None,
                 self.scenery(anchor, candidates[i][0])) for i in order]

    def rank(self, anchor: int, candidates: Iterable[tuple[int, float]], vectors: Mapping[int, np.ndarray],
             shown: int | None = None, group: Callable[[int], object] | None = None, wait: bool = True) -> list[RankedCandidate]:
        """The anchor's candidates ((id, cosine) pairs), best first, with the strongest vouching for the others.

        ``vectors`` holds each candidate's identification vector (what the cosines were taken of): a voucher's pair with
        another candidate is fused from their own cosine and verified spots, like any pair. With ``shown`` (review shows
        that many candidates, one per ``group``: a confirmed individual) only what can change the first ``shown`` is
        verified: a voucher no more likely than the last of them lifts nothing past it (a vouched score never exceeds
        its voucher's), so it waits until answers have lowered that bar. The first ``shown`` are then exactly those of
        the full ranking; the order after them may be the pairs' own. Without ``wait`` the vouchers' pairs not yet verified
        are queued behind and count as unverified until they are (review: from the next proposal on), so a new anchor
        is shown as soon as its own pairs are known."""
        direct = self.score(anchor, candidates)
        own = np.array([row[1] for row in direct], np.float64)  # each pair's own P(same)
        scores = own
        ids = [row[0] for row in direct]
        chosen = vouchers(scores)
        if shown is not None:
            chosen = chosen[scores[chosen] > display_floor(scores, shown, [group(i) for i in ids] if group else None)]
        if len(chosen):
            voucher_ids = [ids[i] for i in chosen]
            self._submit(self._voucher_pairs(voucher_ids, ids, scores), first=wait)
            onward = np.zeros((len(chosen), len(ids)), np.float64)
            count = self.inliers if wait else self.known_inliers
            for row, t in enumerate(voucher_ids):
                liftable = own < own[chosen[row]]  # a vouched score stays below its voucher's
                cosine = np.array([_cosine(vectors[t], vectors[c]) if up else 0.0 for c, up in zip(ids, liftable, strict=True)])
                found = np.array([(count(t, c) or 0) if up and c != t and self.has_crop(t) and self.has_crop(c) else 0
                                  for c, up in zip(ids, liftable, strict=True)], np.float64)
                onward[row] = np.where(liftable, fuse_scores(cosine, found, self.calibration), 0.0)
            scores, via = vouched_scores(own, chosen, onward)
        else:
            via = np.full(len(ids), -1, np.int64)
        order = np.argsort(-scores, kind="stable")
        said = (via >= 0) & (scores - own >= NOTABLE_LIFT)
        return [RankedCandidate(ids[i], float(scores[i]), direct[i][2], direct[i][3], direct[i][4], direct[i][5],
                                ids[via[i]] if said[i] else None, direct[i][1] if said[i] else None) for i in order]

    def _voucher_pairs(self, voucher_ids: list[int], ids: list[int], scores: np.ndarray) -> list[tuple[int, int]]:
        """The pairs vouching needs: each voucher with the candidates less likely than itself (the ones it can lift)."""
        strength = dict(zip(ids, scores, strict=True))
        return [_pair(t, c) for t in voucher_ids for c in ids
                if c != t and strength[c] < strength[t] and self.has_crop(t) and self.has_crop(c)]

    def prefetch_vouchers(self, anchor: int, candidates: Iterable[tuple[int, float]], timeout: float | None = None,
                          shown: int | None = None, answers: int = 0) -> None:
        """(Look-ahead, on a planning thread.) Once the anchor's own pairs are verified (queued by :meth:`prefetch`), queue
        its vouchers' pairs too, so :meth:`rank` finds them done; with ``answers``, also those of the vouchers that take
        over once that many of its best candidates are answered. Gives up quietly when a proposal dropped that work."""
        candidates = [(c, cosine) for c, cosine in candidates if self.has_crop(c)]
        if not self.has_crop(anchor) or not candidates:
            return
        keys = [_pair(anchor, c) for c, _ in candidates]
        with self._lock:
            pending = [self._pending[key] for key in keys if key in self._pending]
        wait(pending, timeout=timeout)
        with self._lock:
            found = [self._inliers.get(key) for key in keys]
        if any(count is None for count in found):
            return  # not verified (dropped for a proposal, or timed out): planned again after the next proposal
        scores = fuse_scores(np.array([cosine for _, cosine in candidates], np.float64), np.array(found, np.float64),
                             self.calibration)
        ids = [c for c, _ in candidates]
        chosen = vouchers(scores)
        if shown is not None:
            chosen = chosen[scores[chosen] > display_floor(scores, shown)]
        if answers:  # the vouchers once the reviewer has answered the ``answers`` most likely candidates as not a match
            unanswered = np.argsort(-scores, kind="stable")[answers:]
            later = unanswered[vouchers(scores[unanswered])]
            chosen = np.concatenate([chosen, later[~np.isin(later, chosen)]])
        self.prefetch(self._voucher_pairs([ids[i] for i in chosen], ids, scores))

    def prefetch(self, pairs: Iterable[tuple[int, int]]) -> None:
        """Compute these pairs' inliers in the background (pairs without crops, or already known, are skipped)."""
        self._submit([_pair(a, b) for a, b in pairs if self.has_crop(a) and self.has_crop(b)], first=False)

    def _submit(self, keys: list[tuple[int, int]], first: bool) -> None:
        """Queue the unknown pairs on the pool; with ``first``, drop queued look-ahead work that is not among them, so
        these are verified now (dropped pairs are planned again after the proposal)."""
        with self._lock:
            if self._closed:
                return
            if first:
                wanted = set(keys)
                for key, future in list(self._pending.items()):
                    if key not in wanted:
                        future.cancel()  # its done-callback forgets it (on this thread, hence the re-entrant lock)
            todo = [key for key in dict.fromkeys(keys) if key not in self._inliers and key not in self._pending]
            if not todo:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=VERIFY_THREADS, thread_name_prefix="pelage-verify")
            for key in todo:
                future = self._pool.submit(self._compute, *key)
                self._pending[key] = future
                future.add_done_callback(lambda _done, key=key: self._forget(key))

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until the pairs queued now are verified (for tests and benches); True when they all are."""
        with self._lock:
            pending = list(self._pending.values())
        return not wait(pending, timeout=timeout).not_done

    def _forget(self, key: tuple[int, int]) -> None:
        with self._lock:
            self._pending.pop(key, None)

    def forget_animal(self, animal_id: int) -> None:
        """Drop what is cached for an animal whose crop changed."""
        with self._lock:
            self._features.pop(animal_id, None)
            for key in [key for key in self._inliers if animal_id in key]:
                del self._inliers[key]
                self._scenery.discard(key)

    def close(self) -> None:
        """Stop the verifying threads, dropping work not yet started."""
        with self._lock:
            pool, self._pool, self._closed = self._pool, None, True
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
