"""The FAISS index that proposes candidates: exact for a survey's worth of animals, approximate past that.

Up to ``exact_limit`` vectors are searched exactly (inner product over unit vectors = cosine). Past it a
4-bit product-quantisation fast-scan index shortlists candidates and the shortlist is re-scored on the raw
vectors, so scores are always exact cosines: of the indexes measured, the best recall@5 within 50 ms per
query over a million 1024-d vectors on two cores (see :class:`ApproximateParams`). The raw vectors always
stay in a flat store, so vectors can be replaced, removed or re-indexed at any time, and filters (exclude
the anchor's own photo and decided pairs, allow only one flank) hold exactly: the search widens, and at
worst falls back to exact search, until enough candidates survive them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

FORMAT_VERSION = 2
EXACT_LIMIT = 100_000
MIN_APPROXIMATE = 1_000  # fewer vectors than this cannot train the 16-centroid codebooks well; they are searched exactly anyway


@dataclass(frozen=True)
class Candidate:
    id: int
    score: float  # cosine similarity, exact also when the approximate index found the candidate


@dataclass(frozen=True)
class ApproximateParams:
    """The approximate index, chosen by measurement: 1M uniform random 1024-d unit vectors, one top-5 query at a time, 2 cores.

    PQ512x4fs + exact re-rank of 1,024 reached recall@5 1.00 at about 30 ms; PQ256x4fs needed an 8,192 shortlist
    for 0.99 at 35-50 ms; RaBitQ 1-bit fast-scan gave 0.94 at 40 ms. Uniform noise has no structure for
    partitions or graphs: already at 100k, IVF-Flat reached 0.58 (nprobe 128, 14 ms) and HNSW32 0.69 (efSearch
    1024, 34 ms, 7 min to build). Figures from ``bench/index_bench.py`` and its exploration.
    """

    dims_per_code: int = 2  # 4-bit PQ, one sub-quantiser per 2 dimensions: 256 bytes per 1024-d vector (PQ512x4fs)
    rerank: int = 1024  # shortlist re-scored exactly per query
    train_size: int = 65_536  # codebook training sample
    exact_subset: int = 20_000  # allowed sets up to this size are searched exactly, reading only their rows (exact mode too)

    def factory(self, dim: int) -> str:
        m = max(1, dim // self.dims_per_code)
        while dim % m:
            m -= 1
        return f"PQ{m}x4fs"


class CandidateIndex:
    """Inner-product search over unit vectors keyed by int64 (detection) ids."""

    def __init__(self, dim: int, model_id: str, exact_limit: int = EXACT_LIMIT, params: ApproximateParams | None = None) -> None:
        self._dim, self._model_id, self.exact_limit = int(dim), model_id, int(exact_limit)
        self.params = params or ApproximateParams()
        self._store = faiss.IndexIDMap2(faiss.IndexFlatIP(self._dim))  # raw vectors: exact search, re-ranking, rebuilds
        self._approximate: faiss.IndexIDMap | None = None  # PQ codes of the same rows, in the same order, as the store
        self._lookup: tuple[np.ndarray, np.ndarray] | None = None  # (sorted ids, their rows), cached for membership and row lookups

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def size(self) -> int:
        return int(self._store.ntotal)

    @property
    def is_exact(self) -> bool:
        return self._approximate is None

    def ids(self) -> np.ndarray:
        """The ids held, sorted."""
        return self._sorted_rows()[0].copy()

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors (normalised here); an id already present has its vector replaced."""
        ids = _as_ids(ids)
        vectors = _unit_rows(vectors, self._dim)
        if len(ids) != len(vectors):
            raise ValueError(f"{len(ids)} ids but {len(vectors)} vectors")
        if len(np.unique(ids)) != len(ids):
            raise ValueError("the same id appears twice in one add")
        replaced = ids[self._present(ids)]
        if len(replaced):
            self.remove(replaced)
        self._store.add_with_ids(vectors, ids)
        self._lookup = None
        if self._approximate is not None:
            self._approximate.add_with_ids(vectors, ids)
        elif self._wants_approximate():
            self.rebuild()

    def remove(self, ids: Sequence[int] | np.ndarray) -> int:
        """Remove ids (absent ones are ignored); returns how many were removed."""
        ids = _as_ids(ids)
        if not len(ids) or not self.size:
            return 0
        selector = faiss.IDSelectorBatch(ids)
        if self._approximate is not None:
            self._approximate.remove_ids(selector)  # both compact their rows in order: they stay aligned
        removed = int(self._store.remove_ids(selector))
        self._lookup = None
        if self._approximate is not None and not self._wants_approximate():
            self._approximate = None
        elif self._approximate is not None and removed:
            self._reencode_last_block()
        return removed

    def _reencode_last_block(self) -> None:
        """Work around faiss 1.15: fast-scan ``remove_ids`` leaves stale codes in the free slots of the last 32-row
        block and a later ``add`` ORs new codes into them. Dropping and re-encoding that block's rows lets ``add``
        start from zeroed memory."""
        tail = self.size % faiss.downcast_index(self._approximate.index).bbs
        if tail:
            ids = self._row_ids()[-tail:].copy()
            self._approximate.remove_ids(faiss.IDSelectorBatch(ids))
            self._approximate.add_with_ids(np.ascontiguousarray(self._raw()[-tail:]), ids)

    def rebuild(self) -> None:
        """Exact at or under ``exact_limit``; otherwise retrain and refill the approximate index from the raw vectors."""
        self._approximate = None
        if not self._wants_approximate():
            return
        vectors = self._raw()
        sample = vectors[np.sort(np.random.default_rng(0).choice(self.size, min(self.size, self.params.train_size), replace=False))]
        codes = faiss.index_factory(self._dim, self.params.factory(self._dim), faiss.METRIC_INNER_PRODUCT)
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)  # hundreds of tiny k-means: with threads they mostly wait on each other (50× slower under load)
        try:
            codes.train(sample)
        finally:
            faiss.omp_set_num_threads(threads)
        index = faiss.IndexIDMap(codes)  # its own copy of the ids lets load() check that its rows match the store's
        for start in range(0, self.size, 65_536):
            index.add_with_ids(vectors[start:start + 65_536], self._row_ids()[start:start + 65_536])
        self._approximate = index

    def search(self, queries: np.ndarray, k: int = 5, exclude: Collection[int] | Sequence[Collection[int]] | None = None,
               allowed: Collection[int] | None = None) -> list[list[Candidate]]:
        """The ``k`` best candidates per query, best first, never an excluded id, only allowed ids if given.

        ``exclude`` is one set of ids for every query, or one set per query. Fewer than ``k`` come back only
        when fewer than ``k`` ids pass the filters.
        """
        queries = _unit_rows(queries, self._dim)
        banned = _per_query_exclusions(exclude, len(queries))
        if k <= 0 or not self.size:
            return [[] for _ in queries]
        allowed_ids = None
        if allowed is not None:
            allowed_ids = _as_ids(allowed if isinstance(allowed, np.ndarray) else list(allowed))
            allowed_ids = np.unique(allowed_ids[self._present(allowed_ids)])
            if not len(allowed_ids):
                return [[] for _ in queries]
        if allowed_ids is not None and len(allowed_ids) <= self.params.exact_subset:
            return self._subset(queries, k, banned, allowed_ids)
        if self._approximate is None:
            return self._exact(queries, k, banned, allowed_ids)
        return [self._approximate_one(query, k, ban, allowed_ids) for query, ban in zip(queries, banned, strict=True)]

    def _exact(self, queries: np.ndarray, k: int, banned: list[np.ndarray], allowed_ids: np.ndarray | None) -> list[list[Candidate]]:
        """Flat search; exclusions shared by all queries go into the selector, the rest are over-fetched and dropped."""
        common = banned[0]
        for ban in banned[1:]:
            common = np.intersect1d(common, ban)
        keep: list[faiss.IDSelector] = []  # SWIG selectors hold raw pointers to each other: keep them alive
        if allowed_ids is not None:
            keep.append(faiss.IDSelectorBatch(allowed_ids))
        if len(common):
            keep.append(faiss.IDSelectorBatch(common))
            keep.append(faiss.IDSelectorNot(keep[-1]))
            if allowed_ids is not None:
                keep.append(faiss.IDSelectorAnd(keep[0], keep[-1]))
        extra = max(len(np.setdiff1d(ban, common)) for ban in banned)
        fetch = min(k + extra, self.size)
        params = faiss.SearchParameters(sel=keep[-1]) if keep else None
        scores, labels = self._store.search(queries, fetch, params=params)
        return [_take(row_labels, row_scores, ban, k) for row_labels, row_scores, ban in zip(labels, scores, banned, strict=True)]

    def _subset(self, queries: np.ndarray, k: int, banned: list[np.ndarray], allowed_ids: np.ndarray) -> list[list[Candidate]]:
        """Exact search of a small allowed set (one flank of one survey), reading only its rows."""
        sorted_ids, order = self._sorted_rows()
        rows = np.sort(order[np.searchsorted(sorted_ids, allowed_ids)])
        vectors, ids = self._raw()[rows], self._row_ids()[rows]
        results = []
        for query, ban in zip(queries, banned, strict=True):
            scores = np.einsum("ij,j->i", vectors, query)
            scores[_member(ban, ids)] = -np.inf
            best = np.argsort(-scores, kind="stable")[:k]
            results.append([Candidate(int(ids[i]), float(scores[i])) for i in best if scores[i] > -np.inf])
        return results

    def _approximate_one(self, query: np.ndarray, k: int, banned: np.ndarray, allowed_ids: np.ndarray | None) -> list[Candidate]:
        """Shortlist by PQ fast-scan, drop filtered ids, re-score the rest exactly; widen while too few survive."""
        pool = self.size if allowed_ids is None else len(allowed_ids)
        wanted = min(k, pool - int(np.count_nonzero(_member(self._sorted_rows()[0] if allowed_ids is None else allowed_ids, banned))))
        if wanted <= 0:
            return []
        fetch = int((max(self.params.rerank, k) + len(banned)) * self.size / pool)
        row_ids, codes = self._row_ids(), faiss.downcast_index(self._approximate.index)
        while 2 * fetch < self.size:
            rows = codes.search(query[None], fetch)[1][0]  # rows, not ids: the re-rank reads the store's rows
            rows = rows[rows >= 0]
            ids = row_ids[rows]
            keep = ~_member(banned, ids)
            if allowed_ids is not None:
                keep &= _member(allowed_ids, ids)
            if np.count_nonzero(keep) >= wanted:
                rows = np.sort(rows[keep])  # sorted rows read the raw vectors in memory order
                scores = np.einsum("ij,j->i", self._raw()[rows], query)  # no thread pool: one query waits on no other thread
                best = np.argsort(-scores, kind="stable")[:k]
                return [Candidate(int(row_ids[rows[i]]), float(scores[i])) for i in best]
            fetch *= 4  # filters removed too many
        return self._exact(query[None], k, [banned], allowed_ids)[0]

    def save(self, path: Path | str) -> None:
        """The flat store at ``path``, the approximate index beside it, then a JSON sidecar; each written atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic(path, lambda tmp: faiss.write_index(self._store, str(tmp)))
        approximate = _approximate_path(path)
        if self._approximate is not None:
            _atomic(approximate, lambda tmp: faiss.write_index(self._approximate, str(tmp)))
        else:
            approximate.unlink(missing_ok=True)
        meta = {"format": FORMAT_VERSION, "model_id": self._model_id, "dim": self._dim, "size": self.size, "exact": self.is_exact,
                "exact_limit": self.exact_limit, "approximate": asdict(self.params) | {"factory": self.params.factory(self._dim)}}
        _atomic(_sidecar(path), lambda tmp: tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8"))

    @classmethod
    def load(cls, path: Path | str, expect_model_id: str | None = None) -> CandidateIndex:
        """Read an index saved by :meth:`save`; refuses another model's index and missing, corrupt or mismatched files."""
        path = Path(path)
        try:
            meta = json.loads(_sidecar(path).read_text(encoding="utf-8"))
            if meta.get("format") != FORMAT_VERSION:
                raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT_VERSION}")
        except (OSError, ValueError, AttributeError) as exc:
            raise ValueError(f"cannot read the candidate index {path}: {exc}") from exc
        if expect_model_id is not None and meta.get("model_id") != expect_model_id:
            raise ValueError(f"{path} holds embeddings of model {meta.get('model_id')!r}, not {expect_model_id!r}: "
                             "embeddings of different models are not comparable")
        try:
            params = {key: value for key, value in meta["approximate"].items() if key != "factory"}
            index = cls(meta["dim"], meta["model_id"], meta["exact_limit"], ApproximateParams(**params))
            index._store = faiss.read_index(str(path))
            if not meta["exact"]:
                index._approximate = faiss.read_index(str(_approximate_path(path)))
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise ValueError(f"cannot read the candidate index {path}: {exc}") from exc
        store, approximate = index._store, index._approximate
        consistent = (isinstance(store, faiss.IndexIDMap2) and isinstance(faiss.downcast_index(store.index), faiss.IndexFlatIP)
                      and store.d == index.dim and store.ntotal == meta["size"]
                      and (approximate is None or (isinstance(approximate, faiss.IndexIDMap) and approximate.d == index.dim
                                                   and np.array_equal(faiss.vector_to_array(approximate.id_map), index._row_ids()))))
        if not consistent:
            raise ValueError(f"cannot read the candidate index {path}: its files do not match each other (interrupted save?)")
        return index

    def _wants_approximate(self) -> bool:
        return self.size > max(self.exact_limit, MIN_APPROXIMATE - 1)

    def _flat(self) -> faiss.IndexFlatIP:
        return faiss.downcast_index(self._store.index)

    def _raw(self) -> np.ndarray:
        """The stored vectors as a view (no copy); valid until the store changes."""
        return faiss.rev_swig_ptr(self._flat().get_xb(), self.size * self._dim).reshape(self.size, self._dim)

    def _row_ids(self) -> np.ndarray:
        """The id of each store row, as a view; valid until the store changes."""
        return faiss.rev_swig_ptr(self._store.id_map.data(), self.size) if self.size else np.zeros(0, np.int64)

    def _sorted_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The ids sorted, and the store row of each."""
        if self._lookup is None:
            order = np.argsort(self._row_ids(), kind="stable")
            self._lookup = (self._row_ids()[order], order)
        return self._lookup

    def _present(self, ids: np.ndarray) -> np.ndarray:
        return _member(self._sorted_rows()[0], ids)


def _as_ids(ids: Sequence[int] | np.ndarray) -> np.ndarray:
    array = np.asarray(ids).reshape(-1)
    if len(array) and array.dtype.kind not in "iu":
        raise ValueError(f"ids must be integers, got {array.dtype}")
    return array.astype(np.int64)


def _unit_rows(vectors: np.ndarray, dim: int) -> np.ndarray:
    vectors = np.asarray(vectors)
    if vectors.dtype.kind != "f":
        raise ValueError(f"vectors must be floating point, got {vectors.dtype}")
    if vectors.ndim == 1:
        vectors = vectors[None]
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got an array of shape {vectors.shape}; "
                         "embeddings from another model need an index of their own")
    vectors = np.array(vectors, dtype=np.float32, order="C")  # always a copy: normalised in place below
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        raise ValueError("vectors must be finite and non-zero to be normalised")
    return vectors / norms


def _member(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Which of ``ids`` are in ``sorted_ids`` (sorted, unique), by binary search."""
    if not len(sorted_ids):
        return np.zeros(len(ids), bool)
    at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return sorted_ids[at] == ids


def _take(labels: np.ndarray, scores: np.ndarray, banned: np.ndarray, k: int) -> list[Candidate]:
    keep = (labels >= 0) & ~_member(banned, labels)  # faiss pads with -1 when fewer ids pass the selector
    return [Candidate(int(i), float(s)) for i, s in zip(labels[keep][:k].tolist(), scores[keep][:k].tolist(), strict=True)]


def _per_query_exclusions(exclude: Collection[int] | Sequence[Collection[int]] | None, queries: int) -> list[np.ndarray]:
    """One sorted id array per query, from one set for all queries or one set per query."""
    if exclude is None:
        return [np.zeros(0, np.int64)] * queries
    items = list(exclude)
    if items and all(isinstance(item, Collection) and not isinstance(item, str) for item in items):
        if len(items) != queries:
            raise ValueError(f"{len(items)} exclusion sets for {queries} queries")
        return [np.unique(_as_ids(list(item))) for item in items]
    return [np.unique(_as_ids(items))] * queries


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _approximate_path(path: Path) -> Path:
    return path.with_name(path.name + ".approx")


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")
