"""Re-identification metrics under the project's one evaluation protocol, and the labels they read.

The protocol (see the shared data README) exists so that every figure Pelage reports is comparable:
the unit is identity + view, because a left and a right flank show different patterns; a positive must
come from another sighting, because two frames of one encounter are near-duplicates that flatter any
matcher; and a query's gallery drops its own sighting entirely, so those near-duplicates cannot even
push true matches down the list. Everything here is a pure function of a similarity matrix and labels.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pelage.reid.ranking import TOP_K  # what the review shows is what rank-5 and DT5AP score

# Joins identity and view into one key; a control character cannot occur in a folder or CSV name.
ENTITY_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class ReidScores:
    """Scores over the queries that have at least one positive; NaN when there are none."""

    queries: int
    identities: int  # distinct identity + view units among the queries
    map: float
    rank1: float
    rank5: float
    dt5ap: float  # spotID: precision averaged over the first min(positives, 5) ranks
    t5rmd: float  # spotID: share of queries with a positive in the top 5 (equals rank-5 CMC by definition)

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def entity_keys(identities: Sequence[str], views: Sequence[str]) -> list[str]:
    """One key per image for the identity + view unit the protocol scores."""
    if len(identities) != len(views):
        raise ValueError(f"{len(identities)} identities but {len(views)} views")
    return [f"{identity}{ENTITY_SEPARATOR}{view}" for identity, view in zip(identities, views, strict=True)]


def _codes(labels: Sequence[str]) -> np.ndarray:
    return np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)[1].reshape(-1)


def ranked_hits(sim: np.ndarray, entity: Sequence[str], sighting: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per image, its gallery ordered best first as a boolean "is a positive" matrix, and its positive count.

    Row i lists image i's gallery (every image of another sighting) by decreasing similarity, ties broken
    by index, padded with False after the gallery ends. NaN similarities rank last.
    """
    sim = np.asarray(sim, dtype=np.float64)
    n = len(entity)
    if sim.shape != (n, n) or len(sighting) != n:
        raise ValueError(f"similarity {sim.shape} does not fit {n} entity and {len(sighting)} sighting labels")
    ent, sig = _codes(entity), _codes(sighting)
    gallery = sig[:, None] != sig[None, :]  # also drops the diagonal: an image shares its own sighting
    positive = gallery & (ent[:, None] == ent[None, :])
    by_score = np.argsort(-sim, axis=1, kind="stable")
    # A second stable sort moves gallery members to the front without disturbing their order.
    gallery_first = np.argsort(~np.take_along_axis(gallery, by_score, axis=1), axis=1, kind="stable")
    order = np.take_along_axis(by_score, gallery_first, axis=1)
    return np.take_along_axis(positive, order, axis=1), positive.sum(axis=1)


@dataclass(frozen=True)
class QueryScores:
    """Per-query figures (for listing failures, say); ``index`` holds the queries' rows in the matrix."""

    index: np.ndarray
    first_hit_rank: np.ndarray  # 1-based rank of the best-placed positive
    average_precision: np.ndarray
    dtkap: np.ndarray


def score_queries(sim: np.ndarray, entity: Sequence[str], sighting: Sequence[str], top_k: int = TOP_K) -> QueryScores:
    """Average precision, first-hit rank and spotID's DTkAP for every image that has a positive."""
    hits, n_pos = ranked_hits(sim, entity, sighting)
    index = np.flatnonzero(n_pos > 0)
    hits, n_pos = hits[index], n_pos[index]
    ranks = np.arange(1, hits.shape[1] + 1)
    precision = np.cumsum(hits, axis=1) / ranks  # precision at every rank j
    k_i = np.minimum(n_pos, top_k)
    window = ranks[None, :] <= k_i[:, None]  # k_i never exceeds the gallery, which holds the positives
    return QueryScores(
        index=index,
        first_hit_rank=hits.argmax(axis=1) + 1,
        average_precision=(precision * hits).sum(axis=1) / n_pos,
        dtkap=(precision * window).sum(axis=1) / k_i,
    )


def evaluate_similarity(sim: np.ndarray, entity: Sequence[str], sighting: Sequence[str]) -> ReidScores:
    """mAP, CMC rank-1/rank-5 and spotID's DT5AP/T5RMD for an N×N similarity matrix (higher = more alike)."""
    scores = score_queries(sim, entity, sighting, TOP_K)
    queries = len(scores.index)
    if queries == 0:
        nan = float("nan")
        return ReidScores(0, 0, nan, nan, nan, nan, nan)
    in_top_5 = float((scores.first_hit_rank <= TOP_K).mean())  # CMC rank-5 and T5RMD are one quantity
    return ReidScores(
        queries=queries,
        identities=len({entity[i] for i in scores.index}),
        map=float(scores.average_precision.mean()),
        rank1=float((scores.first_hit_rank == 1).mean()),
        rank5=in_top_5,
        dt5ap=float(scores.dtkap.mean()),
        t5rmd=in_top_5,
    )


@dataclass(frozen=True)
class LabelRow:
    """One labelled photo. ``sighting`` is never empty: a photo without one is its own sighting."""

    path: str
    identity: str
    view: str = ""
    sighting: str = ""
    split: str = ""
    orig_w: int | None = None
    orig_h: int | None = None

    @property
    def entity(self) -> str:
        return entity_keys([self.identity], [self.view])[0]


def _optional_int(text: str | None) -> int | None:
    return int(text) if text not in (None, "") else None


def load_labels(csv_path: Path | str) -> list[LabelRow]:
    """Rows of a labels.csv (path, identity required; view, sighting, split, orig_w, orig_h optional)."""
    rows = []
    with Path(csv_path).open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"path", "identity"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{csv_path} lacks the column(s) {', '.join(sorted(missing))}")
        for record in reader:
            path = record["path"]
            # The lion set leaves sighting blank: then no two photos are known to share an encounter.
            sighting = record.get("sighting") or f"photo:{path}"
            rows.append(LabelRow(
                path=path, identity=record["identity"], view=record.get("view") or "", sighting=sighting,
                split=record.get("split") or "", orig_w=_optional_int(record.get("orig_w")), orig_h=_optional_int(record.get("orig_h")),
            ))
    return rows


def _linked_identity_groups(rows: Sequence[LabelRow]) -> list[list[str]]:
    """Identities joined whenever they share a sighting, so a split by group keeps every sighting whole."""
    parent: dict[str, str] = {row.identity: row.identity for row in rows}

    def root(identity: str) -> str:
        while parent[identity] != identity:
            parent[identity] = parent[parent[identity]]
            identity = parent[identity]
        return identity

    first_in_sighting: dict[str, str] = {}
    for row in rows:
        other = first_in_sighting.setdefault(row.sighting, row.identity)
        a, b = root(row.identity), root(other)
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict[str, list[str]] = {}
    for identity in sorted(parent):
        groups.setdefault(root(identity), []).append(identity)
    return [groups[key] for key in sorted(groups)]


def identity_split(rows: Sequence[LabelRow], val_fraction: float, seed: int) -> tuple[list[LabelRow], list[LabelRow]]:
    """Train and validation rows with no identity (any view) and no sighting on both sides.

    About ``val_fraction`` of the identities go to validation, drawn reproducibly from ``seed``; the
    order of ``rows`` is kept on each side.
    """
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must lie in [0, 1], not {val_fraction}")
    groups = _linked_identity_groups(rows)
    target = round(val_fraction * sum(len(group) for group in groups))
    val_identities: set[str] = set()
    for index in np.random.default_rng(seed).permutation(len(groups)):
        if len(val_identities) >= target:
            break
        val_identities.update(groups[index])
    train = [row for row in rows if row.identity not in val_identities]
    val = [row for row in rows if row.identity in val_identities]
    return train, val


def shortlist_recall(query_vectors: np.ndarray, query_entity: Sequence[str], query_sighting: Sequence[str], gallery_vectors: np.ndarray,
                     gallery_entity: Sequence[str], gallery_sighting: Sequence[str], shortlist: int,
                     allowed: np.ndarray | None = None) -> tuple[float, int]:
    """(share of queries with a positive among their ``shortlist`` nearest gallery photos, how many queries had one).

    The survey-scale question: the shortlist is all that pattern matching ever sees, so a true match outside it is
    never found. A query's own sighting is left out of its gallery, as in :func:`ranked_hits`; distractors carry
    entity labels no query shares. Vectors are unit rows (cosine by inner product). ``allowed`` (queries × gallery:
    review's same-flank filter) restricts each shortlist as review does; a true match it leaves out is a miss."""
    q_sig, g_sig = np.asarray(query_sighting, dtype=object), np.asarray(gallery_sighting, dtype=object)
    q_ent, g_ent = np.asarray(query_entity, dtype=object), np.asarray(gallery_entity, dtype=object)
    found = counted = 0
    for i, vector in enumerate(np.asarray(query_vectors, np.float32)):
        outside = g_sig != q_sig[i]
        positives = outside & (g_ent == q_ent[i])
        if not positives.any():
            continue
        shown = outside if allowed is None else outside & np.asarray(allowed[i], bool)
        scores = np.where(shown, np.asarray(gallery_vectors, np.float32) @ vector, -np.inf)
        top = np.argsort(-scores, kind="stable")[:shortlist]
        counted += 1
        found += bool((positives & shown)[top].any())
    return (found / counted if counted else float("nan")), counted
