"""Similarity of every pair of crops from the full system: embedding cosine, then pattern verification.

Verifying every pair with SIFT costs N² matches; the embedding is cheap, so each crop's ``shortlist``
nearest neighbours by cosine are verified and every other pair keeps the embedding's judgement alone
(no inliers counted). The fused score is the calibrated probability of "same animal", which is also
what the review screen shows beside each candidate.

A candidate the anchor matches strongly then vouches for the anchor's other candidates (:func:`vouched_scores`):
half of the true pairs of nyala share no verifiable spot, but many of them share spots with a third photo of the
animal that the anchor does match, so a photo is the anchor's animal with probability at least
P(anchor, voucher) · P(voucher, photo). This is the order review and ``pelage candidates`` show.
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
# Which candidates vouch for the others: the VOUCHERS most likely ones with P(same) of at least VOUCHING_SCORE (about ten
# verified spots with the bundled calibration). Chosen on the bundled model's calibration identities (bench/reid_bench.py
# --split calibration; fused mAP / rank-1 / rank-5 0.568 / 0.795 / 0.866 without vouching), with the rule, written before
# the figures, that rank-1 and rank-5 must not fall: the product of the two steps from a first step of 0.4 gave
# 0.611 / 0.795 / 0.866 (0.5: 0.601, 0.6: 0.595; 0.3: rank-5 0.858); the smaller of the two steps instead of their product
# 0.606 at 0.5 (0.4: rank-5 0.858); without a floor on the first step rank-5 fell to 0.843. Vouchers 1 / 2 / 3 / 5 / all:
# 0.601 / 0.605 / 0.608 / 0.611 / 0.611.
VOUCHING_SCORE = 0.4
VOUCHERS = 5


def cosine_similarity(embeddings: np.ndarray) -> np.ndarray:
    embeddings = np.asarray(embeddings, dtype=np.float32)
    return embeddings @ embeddings.T


def shortlists(cosine: np.ndarray, shortlist: int, allowed: np.ndarray | None = None) -> list[np.ndarray]:
    """Each crop's ``shortlist`` most similar other crops, best first, among those ``allowed`` (N×N, symmetric: review's
    same-flank filter, :func:`pelage.reid.flank.same_flank_allowed`) when given."""
    hidden = np.eye(len(cosine), dtype=bool)  # a crop is never its own candidate
    if allowed is not None:
        hidden |= ~np.asarray(allowed, bool)
    ranked = np.argsort(np.where(hidden, np.inf, -np.asarray(cosine)), axis=1, kind="stable")
    return [row[~hidden[q, row]][:shortlist] for q, row in enumerate(ranked)]


def shortlist_pairs(cosine: np.ndarray, shortlist: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """Unordered pairs (i < j) where j is among i's ``shortlist`` most similar (allowed) crops or the reverse."""
    ranked = shortlists(cosine, shortlist, allowed)
    rows = np.concatenate([np.full(len(row), q) for q, row in enumerate(ranked)]) if ranked else np.zeros(0, np.int64)
    columns = np.concatenate(ranked) if ranked else np.zeros(0, np.int64)
    pairs = np.stack([np.minimum(rows, columns), np.maximum(rows, columns)], axis=1).astype(np.int64)
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
                     shortlist: int = SHORTLIST, progress: Callable[[int, int], None] | None = None,
                     allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(probability "same animal" for every pair, the inlier counts behind it); diagonals are 1 and 0. With ``allowed``
    (review's same-flank filter) shortlists are drawn among the allowed pairs and the others score -inf: never shown."""
    cosine = cosine_similarity(embeddings)
    if len(features) != len(cosine):
        raise ValueError(f"{len(cosine)} embeddings but {len(features)} feature sets")
    inliers = verified_inliers(features, shortlist_pairs(cosine, shortlist, allowed), progress)
    fused = fuse_scores(cosine, inliers, calibration).astype(np.float32)
    np.fill_diagonal(fused, 1.0)
    return only_allowed(fused, allowed), inliers


def only_allowed(scores: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """``scores`` with the pairs ``allowed`` leaves out at -inf (they rank last; a true match left out is a miss).
    Every ranking the bench scores goes through it, so each system is judged within review's filter alike."""
    return scores if allowed is None else np.where(np.asarray(allowed, bool), scores, -np.inf).astype(scores.dtype)


def vouchers(direct: np.ndarray, eligible: np.ndarray | None = None) -> np.ndarray:
    """Positions of the candidates that vouch for the others: the :data:`VOUCHERS` most likely among those whose
    P(same) reaches :data:`VOUCHING_SCORE` (and are ``eligible``), most likely first."""
    direct = np.asarray(direct, np.float64)
    strong = direct >= VOUCHING_SCORE
    if eligible is not None:
        strong &= np.asarray(eligible, bool)
    found = np.flatnonzero(strong)
    return found[np.argsort(-direct[found], kind="stable")][:VOUCHERS]


def display_floor(scores: np.ndarray, shown: int, groups: Sequence[object] | None = None) -> float:
    """The score a candidate must beat to be among the first ``shown`` (one per group: a confirmed individual's photos
    take one place); 0 when fewer groups than that are there."""
    seen: set[object] = set()
    for position in np.argsort(-np.asarray(scores, np.float64), kind="stable"):
        seen.add(groups[position] if groups is not None else position)
        if len(seen) == shown:
            return float(scores[position])
    return 0.0


def vouched_scores(direct: np.ndarray, voucher_positions: np.ndarray, onward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(score, via) for an anchor's m candidates: score_j = max(P(anchor, j), max over vouchers v of P(anchor, v) · P(v, j))
    and via_j the position of the voucher that gave it, or -1 where the direct score stands.

    ``direct`` is P(anchor, candidate) for the m candidates; ``onward[i, j]`` is P(voucher i, candidate j) for the
    vouchers at ``voucher_positions`` (from :func:`vouchers`). A voucher never vouches for itself."""
    direct = np.asarray(direct, np.float64)
    score, via = direct.copy(), np.full(len(direct), -1, np.int64)
    for i, position in enumerate(np.asarray(voucher_positions, np.int64)):
        through = direct[position] * np.asarray(onward[i], np.float64)
        through[position] = -np.inf
        better = through > score
        score[better], via[better] = through[better], position
    return score, via


def vouched_similarity(fused: np.ndarray, inliers: np.ndarray, cosine: np.ndarray, features: Sequence[LocalFeatures],
                       calibration: FusionCalibration = DEFAULT_CALIBRATION, shortlist: int = SHORTLIST,
                       groups: Sequence[object] | None = None, allowed: np.ndarray | None = None) -> np.ndarray:
    """Every crop's row of scores as review orders its candidates (:func:`vouched_scores` over its shortlist), from the
    pairwise ``fused`` scores and ``inliers`` of :func:`fused_similarity`; rows are queries (not symmetric).

    This is the full ranking, each voucher verified against every candidate of the anchor's shortlist; review verifies
    only what can change the candidates it shows, the first of this ranking (:meth:`pelage.reid.scoring.PatternScorer.rank`).
    ``groups`` (one label a crop) keeps crops of one group from vouching for each other's candidates: the evaluation
    protocol leaves a query's own sighting out of its gallery, so it may not vouch either. ``allowed`` is review's
    same-flank filter, as in :func:`fused_similarity`: shortlists and vouchers come from the allowed crops alone."""
    n = len(fused)
    if n < 3:  # a voucher needs a third photo
        return only_allowed(np.asarray(fused, np.float32).copy(), allowed)
    fused, inliers = np.array(fused, np.float64), np.array(inliers, np.float32)
    verified = np.zeros((n, n), bool)
    pairs = shortlist_pairs(cosine, shortlist, allowed)
    verified[pairs[:, 0], pairs[:, 1]] = verified[pairs[:, 1], pairs[:, 0]] = True
    ranked = shortlists(cosine, shortlist, allowed)
    labels = np.asarray(groups if groups is not None else np.arange(n), dtype=object)
    out = fused.copy()
    for q in range(n):
        candidates = ranked[q]
        positions = vouchers(fused[q, candidates], labels[candidates] != labels[q])
        chosen = candidates[positions]
        for t in chosen:
            for g in candidates:
                if g != t and not verified[t, g]:
                    inliers[t, g] = inliers[g, t] = match_features(features[t], features[g]).inliers
                    verified[t, g] = verified[g, t] = True
                    fused[t, g] = fused[g, t] = fuse_scores(cosine[t, g], inliers[t, g], calibration)
        out[q, candidates] = vouched_scores(fused[q, candidates], positions, fused[np.ix_(chosen, candidates)])[0]
    return only_allowed(out.astype(np.float32), allowed)
