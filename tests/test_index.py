"""The candidate index: exact results, filters that always hold, incremental updates, and persistence."""

from __future__ import annotations

import numpy as np
import pytest

from pelage.reid.index import CandidateIndex


def unit(rows: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def filled():
    index = CandidateIndex(16, "model-a")
    vectors = unit(200)
    ids = np.arange(1000, 1200)
    index.add(ids, vectors)
    return index, ids, vectors


def brute_force(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    return ids[np.argsort(-(vectors @ query), kind="stable")[:k]].tolist()


def test_exact_search_equals_brute_force(filled):
    index, ids, vectors = filled
    queries = unit(10, seed=1)
    for query, found in zip(queries, index.search(queries, k=5), strict=True):
        assert [c.id for c in found] == brute_force(vectors, ids, query, 5)
        assert [c.score for c in found] == pytest.approx(sorted((vectors @ query).tolist(), reverse=True)[:5], abs=1e-5)


def test_exclusions_never_come_back_and_k_still_holds(filled):
    index, ids, vectors = filled
    query = vectors[0]
    banned = set(brute_force(vectors, ids, query, 50))  # the 50 best are all excluded
    found = index.search(query, k=5, exclude=banned)[0]
    assert len(found) == 5 and banned.isdisjoint(c.id for c in found)
    assert [c.id for c in found] == brute_force(vectors, ids, query, 55)[50:]
    per_query = index.search(vectors[:2], k=3, exclude=[{1000}, {1001}])
    assert 1000 not in [c.id for c in per_query[0]] and 1001 not in [c.id for c in per_query[1]]
    with pytest.raises(ValueError, match="exclusion sets"):
        index.search(vectors[:2], exclude=[{1}, {2}, {3}])


def test_allowed_restricts_to_the_subset(filled):
    index, ids, vectors = filled
    allowed = set(ids[::7].tolist())
    found = index.search(vectors[3], k=5, allowed=allowed, exclude={int(ids[0])})[0]
    subset = np.array(sorted(allowed - {int(ids[0])}))
    assert [c.id for c in found] == brute_force(vectors[subset - 1000], subset, vectors[3], 5)
    assert index.search(vectors[3], k=5, allowed={5, 6})[0] == []


def test_adding_an_existing_id_replaces_and_removed_ids_disappear(filled):
    index, ids, vectors = filled
    index.add([1005], -vectors[5])
    assert index.size == 200
    assert index.search(-vectors[5], k=1)[0][0].id == 1005
    index.remove([1005, 1006])
    assert index.size == 198
    found = {c.id for hits in index.search(vectors[:20], k=10) for c in hits}
    assert {1005, 1006}.isdisjoint(found)


def test_round_trip_gives_identical_results(filled, tmp_path):
    index, _, _ = filled
    index.save(tmp_path / "index.npz")
    loaded = CandidateIndex.load(tmp_path / "index.npz", expect_model_id="model-a")
    queries = unit(5, seed=3)
    assert loaded.search(queries, k=5) == index.search(queries, k=5)
    assert (loaded.size, loaded.dim, loaded.model_id) == (200, 16, "model-a")


def test_loading_another_models_index_or_a_broken_file_is_refused(filled, tmp_path):
    index, _, _ = filled
    index.save(tmp_path / "index.npz")
    with pytest.raises(ValueError, match="not comparable"):
        CandidateIndex.load(tmp_path / "index.npz", expect_model_id="model-b")
    (tmp_path / "index.npz").write_bytes(b"not an index")
    with pytest.raises(ValueError, match="cannot read"):
        CandidateIndex.load(tmp_path / "index.npz")


def test_wrong_dimension_is_a_clear_error(filled):
    index, _, _ = filled
    with pytest.raises(ValueError, match="dimension 16"):
        index.add([1], unit(1, dim=8))
    with pytest.raises(ValueError, match="dimension 16"):
        index.search(unit(1, dim=8))


def test_past_the_exact_limit_near_duplicates_are_still_found_and_filters_hold():
    vectors = unit(3000, dim=32, seed=4)
    ids = np.arange(3000)
    index = CandidateIndex(32, "model-a", exact_limit=1000)
    index.add(ids, vectors)
    assert not index.is_exact
    noisy = vectors[:50] + np.random.default_rng(5).normal(scale=0.05, size=(50, 32)).astype(np.float32)
    found = index.search(noisy, k=5)
    assert sum(hits[0].id == i for i, hits in enumerate(found)) >= 48
    filtered = index.search(noisy, k=5, exclude=[{i} for i in range(50)])
    assert all(len(hits) == 5 and i not in {c.id for c in hits} for i, hits in enumerate(filtered))
