"""The FAISS index that proposes candidates: exact for a survey's worth of animals, approximate past that.

A season of a few thousand animals is searched exactly (inner product over unit vectors = cosine),
which is already sub-millisecond. Past ``exact_limit`` vectors an inverted-file index answers in
milliseconds instead; its recall against exact search is measured in ``bench/index_bench.py``. The
raw vectors are always kept, so vectors can be replaced or removed and the approximate index can be
rebuilt at any time. Filters (exclude the anchor's own photo and decided pairs, allow only one flank)
are exact: the search widens until enough candidates survive them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

FORMAT_VERSION = 1
EXACT_LIMIT = 100_000


@dataclass(frozen=True)
class Candidate:
    id: int
    score: float  # cosine similarity


def _normalised(vectors: np.ndarray, dim: int) -> np.ndarray:
    vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if vectors.ndim == 1:
        vectors = vectors[None]
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got an array of shape {vectors.shape}; "
                         "embeddings from another model need an index of their own")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def ivf_lists(size: int) -> int:
    """Inverted lists for ``size`` vectors: about √n, which keeps k-means training affordable on a laptop."""
    return int(max(64, min(16384, round(np.sqrt(size)))))


class CandidateIndex:
    """Inner-product search over unit vectors keyed by animal (detection) ids."""

    def __init__(self, dim: int, model_id: str, exact_limit: int = EXACT_LIMIT, nprobe: int = 32) -> None:
        self.dim, self.model_id, self.exact_limit, self.nprobe = int(dim), model_id, int(exact_limit), int(nprobe)
        self._ids = np.zeros(0, np.int64)
        self._vectors = np.zeros((0, self.dim), np.float32)
        self._row: dict[int, int] = {}
        self._search_index: faiss.Index | None = None

    @property
    def size(self) -> int:
        return len(self._ids)

    @property
    def is_exact(self) -> bool:
        return self.size <= self.exact_limit

    def ids(self) -> np.ndarray:
        return self._ids.copy()

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors; an id already present has its vector replaced."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        vectors = _normalised(vectors, self.dim)
        if len(ids) != len(vectors):
            raise ValueError(f"{len(ids)} ids but {len(vectors)} vectors")
        if len(np.unique(ids)) != len(ids):
            raise ValueError("the same id appears twice in one add")
        replaced = np.array([i in self._row for i in ids.tolist()], dtype=bool)
        if replaced.any():
            self.remove(ids[replaced])
        self._ids = np.concatenate([self._ids, ids])
        self._vectors = np.concatenate([self._vectors, vectors])
        self._reindex()

    def remove(self, ids: Sequence[int] | np.ndarray) -> None:
        gone = set(np.asarray(ids, dtype=np.int64).reshape(-1).tolist())
        keep = np.array([i not in gone for i in self._ids.tolist()], dtype=bool)
        self._ids, self._vectors = self._ids[keep], self._vectors[keep]
        self._reindex()

    def _reindex(self) -> None:
        self._row = {int(i): row for row, i in enumerate(self._ids.tolist())}
        self._search_index = None  # rebuilt lazily: many adds in a row cost one build

    def _index(self) -> faiss.Index:
        if self._search_index is None:
            if self.is_exact:
                index = faiss.IndexFlatIP(self.dim)
            else:
                quantizer = faiss.IndexFlatIP(self.dim)
                index = faiss.IndexIVFFlat(quantizer, self.dim, ivf_lists(self.size), faiss.METRIC_INNER_PRODUCT)
                rng = np.random.default_rng(0)
                sample = self._vectors[rng.choice(self.size, min(self.size, 64 * index.nlist), replace=False)]
                index.train(sample)
                index.nprobe = self.nprobe
            index.add(self._vectors)  # faiss row numbers are positions in self._ids
            self._search_index = index
        return self._search_index

    def _allowed_rows(self, allowed: Collection[int]) -> np.ndarray:
        return np.array(sorted(self._row[i] for i in allowed if i in self._row), dtype=np.int64)

    def search(self, queries: np.ndarray, k: int = 5, exclude: Collection[int] | Sequence[Collection[int]] | None = None,
               allowed: Collection[int] | None = None) -> list[list[Candidate]]:
        """The ``k`` best candidates per query, best first, never an excluded id, only allowed ids if given.

        ``exclude`` is one set of ids for every query, or one set per query.
        """
        queries = _normalised(queries, self.dim)
        per_query = _per_query_exclusions(exclude, len(queries))
        if self.size == 0 or k <= 0:
            return [[] for _ in queries]
        if allowed is not None:
            rows = self._allowed_rows(allowed)
            # A small allowed set (one flank of one survey) is searched exactly, directly.
            scores = queries @ self._vectors[rows].T if len(rows) else np.zeros((len(queries), 0), np.float32)
            return [self._take(rows[np.argsort(-row_scores, kind="stable")], row_scores[np.argsort(-row_scores, kind="stable")],
                               banned, k) for row_scores, banned in zip(scores, per_query, strict=True)]
        results = []
        for query, banned in zip(queries, per_query, strict=True):
            fetch = min(self.size, k + len(banned))
            while True:
                scores, rows = self._index().search(query[None], fetch)
                picked = self._take(rows[0], scores[0], banned, k)
                available = self.size - len(banned & self._row.keys())
                if len(picked) >= min(k, available) or fetch >= self.size:
                    break
                fetch = min(self.size, fetch * 4)  # filters removed too many: widen the search
            results.append(picked)
        return results

    def _take(self, rows: np.ndarray, scores: np.ndarray, banned: set[int], k: int) -> list[Candidate]:
        picked = []
        for row, score in zip(rows.tolist(), scores.tolist(), strict=True):
            if row < 0:
                continue  # faiss pads with -1 when a probe finds fewer than asked
            candidate_id = int(self._ids[row])
            if candidate_id in banned:
                continue
            picked.append(Candidate(candidate_id, float(score)))
            if len(picked) == k:
                break
        return picked

    def save(self, path: Path | str) -> None:
        """Vectors and ids in one .npz, settings in a JSON sidecar; both written atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data_tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        np.savez(data_tmp, ids=self._ids, vectors=self._vectors)
        data_tmp.replace(path)
        meta = {"format": FORMAT_VERSION, "model_id": self.model_id, "dim": self.dim, "exact_limit": self.exact_limit,
                "nprobe": self.nprobe, "size": self.size}
        sidecar = _sidecar(path)
        meta_tmp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.tmp")
        meta_tmp.write_text(json.dumps(meta), encoding="utf-8")
        meta_tmp.replace(sidecar)

    @classmethod
    def load(cls, path: Path | str, expect_model_id: str | None = None) -> CandidateIndex:
        path = Path(path)
        try:
            meta = json.loads(_sidecar(path).read_text(encoding="utf-8"))
            with np.load(path, allow_pickle=False) as data:
                ids, vectors = data["ids"].astype(np.int64), data["vectors"].astype(np.float32)
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"cannot read the candidate index {path}: {exc}") from exc
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path} has index format {meta.get('format')!r}, expected {FORMAT_VERSION}")
        if expect_model_id is not None and meta["model_id"] != expect_model_id:
            raise ValueError(f"{path} holds embeddings of model {meta['model_id']}, not {expect_model_id}: they are not comparable")
        index = cls(meta["dim"], meta["model_id"], meta["exact_limit"], meta["nprobe"])
        if len(ids):
            index._ids, index._vectors = ids, vectors.reshape(len(ids), index.dim)
            index._reindex()
        return index


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _per_query_exclusions(exclude: Collection[int] | Sequence[Collection[int]] | None, queries: int) -> list[set[int]]:
    if exclude is None:
        return [set() for _ in range(queries)]
    items = list(exclude)
    if items and all(isinstance(item, Collection) and not isinstance(item, str) for item in items):
        if len(items) != queries:
            raise ValueError(f"{len(items)} exclusion sets for {queries} queries")
        return [{int(i) for i in item} for item in items]
    return [{int(i) for i in items} for _ in range(queries)]
