"""The candidate index: exact results, filters that always hold, incremental updates, persistence, approximate mode."""

from __future__ import annotations

import numpy as np
import pytest

from pelage.reid.index import ApproximateParams, Candidate, CandidateIndex

SHORT = ApproximateParams(rerank=32, exact_subset=64)  # small enough that 2,000 vectors really go through the PQ codes


def unit(rows: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def brute_force(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    return ids[np.argsort(-(vectors @ query), kind="stable")[:k]].tolist()


@pytest.fixture
def filled():
    index = CandidateIndex(16, "model-a")
    vectors, ids = unit(200), np.arange(1000, 1200)
    index.add(ids, vectors)
    return index, ids, vectors


@pytest.fixture(scope="module")
def approximate():
    """2,000 vectors past an exact limit of 1,000: the PQ fast-scan index answers."""
    vectors, ids = unit(2000, dim=32, seed=4), np.arange(50_000, 52_000)
    index = CandidateIndex(32, "model-a", exact_limit=1000, params=SHORT)
    index.add(ids[:1000], vectors[:1000])
    assert index.is_exact
    index.add(ids[1000:], vectors[1000:])  # crossing the limit switches to approximate
    assert not index.is_exact and index.size == 2000
    return index, ids, vectors


def near_duplicates(vectors: np.ndarray, seed: int = 5) -> np.ndarray:
    return vectors + np.random.default_rng(seed).normal(scale=0.05, size=vectors.shape).astype(np.float32)


def test_exact_search_equals_brute_force(filled):
    index, ids, vectors = filled
    queries = unit(10, seed=1)
    for query, found in zip(queries, index.search(queries, k=5), strict=True):
        assert all(isinstance(c, Candidate) for c in found)
        assert [c.id for c in found] == brute_force(vectors, ids, query, 5)
        assert [c.score for c in found] == pytest.approx(sorted((vectors @ query).tolist(), reverse=True)[:5], abs=1e-5)


def test_vectors_are_normalised_on_the_way_in():
    index = CandidateIndex(16, "model-a")
    vectors = unit(20)
    index.add(np.arange(20), vectors * np.linspace(0.1, 10, 20, dtype=np.float32)[:, None])
    best = index.search(vectors[3] * 7, k=1)[0][0]
    assert best.id == 3 and best.score == pytest.approx(1.0, abs=1e-5)


def test_global_exclusions_never_come_back_and_k_still_holds(filled):
    index, ids, vectors = filled
    query = vectors[0]
    banned = set(brute_force(vectors, ids, query, 50))  # the 50 best are all excluded
    found = index.search(query, k=5, exclude=banned)[0]
    assert [c.id for c in found] == brute_force(vectors, ids, query, 55)[50:]
    rest = index.search(vectors[:3], k=5, exclude=set(ids[:197].tolist()))  # only three ids left to return
    assert [[c.id for c in hits] for hits in rest] == [brute_force(vectors[197:], ids[197:], q, 5) for q in vectors[:3]]


def test_per_query_exclusions(filled):
    index, ids, vectors = filled
    own = [{int(i)} for i in ids[:10]]  # each query is its own best match: exclude it, and only it
    found = index.search(vectors[:10], k=5, exclude=own)
    for row, hits in enumerate(found):
        assert [c.id for c in hits] == brute_force(vectors, ids, vectors[row], 6)[1:]
    with pytest.raises(ValueError, match="exclusion sets"):
        index.search(vectors[:2], exclude=[{1}, {2}, {3}])


def test_allowed_restricts_to_the_subset(filled):
    index, ids, vectors = filled
    allowed = set(ids[::7].tolist())
    found = index.search(vectors[3], k=5, allowed=allowed, exclude={int(ids[0])})[0]
    subset = np.array(sorted(allowed - {int(ids[0])}))
    assert [c.id for c in found] == brute_force(vectors[subset - 1000], subset, vectors[3], 5)
    assert [c.id for c in index.search(vectors[3], k=5, allowed={1001, 1002, 99})[0]] == brute_force(vectors[1:3], ids[1:3], vectors[3], 5)
    assert index.search(vectors[3], k=5, allowed={5, 6}) == [[]]
    selector = CandidateIndex(16, "model-a", params=SHORT)  # allowed sets past exact_subset go through a faiss selector instead
    selector.add(ids, vectors)
    half = set(ids[::2].tolist())
    for query, ban in ((vectors[4], set()), (vectors[6], {1006, 1008})):
        subset = np.array(sorted(half - ban))
        expected = brute_force(vectors[subset - 1000], subset, query, 5)
        assert [c.id for c in selector.search(query, k=5, allowed=half, exclude=ban)[0]] == expected
        assert [c.id for c in index.search(query, k=5, allowed=half, exclude=ban)[0]] == expected


def test_adding_an_existing_id_replaces_its_vector(filled):
    index, ids, vectors = filled
    index.add([1005], -vectors[5])
    assert index.size == 200 and len(index.ids()) == 200
    best = index.search(-vectors[5], k=1)[0][0]
    assert best.id == 1005 and best.score == pytest.approx(1.0, abs=1e-5)
    assert 1005 not in [c.id for c in index.search(vectors[5], k=5)[0]]


def test_removed_ids_are_unfindable(filled):
    index, ids, vectors = filled
    assert index.remove([1005, 1006, 4242]) == 2
    assert index.size == 198 and {1005, 1006}.isdisjoint(index.ids().tolist())
    found = {c.id for hits in index.search(vectors[:20], k=10) for c in hits}
    assert {1005, 1006}.isdisjoint(found) and 1004 in found
    assert index.search(vectors[5], k=5, allowed={1005, 1006}) == [[]]


def test_round_trip_gives_identical_results(filled, approximate, tmp_path):
    for name, (index, _, vectors) in {"exact": filled, "approximate": approximate}.items():
        index.save(tmp_path / name)
        loaded = CandidateIndex.load(tmp_path / name, expect_model_id="model-a")
        queries = near_duplicates(vectors[:20])
        assert (loaded.size, loaded.dim, loaded.model_id, loaded.is_exact) == (index.size, index.dim, "model-a", index.is_exact)
        assert loaded.search(queries, k=5, exclude={int(index.ids()[0])}) == index.search(queries, k=5, exclude={int(index.ids()[0])})
        assert np.array_equal(loaded.ids(), index.ids())
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


def test_loading_another_models_index_or_a_broken_file_is_refused(filled, tmp_path):
    index, _, _ = filled
    path = tmp_path / "index.faiss"
    index.save(path)
    with pytest.raises(ValueError, match="not comparable"):
        CandidateIndex.load(path, expect_model_id="model-b")
    with pytest.raises(ValueError, match="cannot read"):
        CandidateIndex.load(tmp_path / "missing.faiss")
    path.write_bytes(b"not an index")
    with pytest.raises(ValueError, match="cannot read"):
        CandidateIndex.load(path)
    index.save(path)
    sidecar = tmp_path / "index.faiss.json"
    meta = sidecar.read_text(encoding="utf-8")
    sidecar.write_text(meta.replace('"size": 200', '"size": 201'), encoding="utf-8")  # as if a save was interrupted between files
    with pytest.raises(ValueError, match="do not match"):
        CandidateIndex.load(path)
    sidecar.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="cannot read"):
        CandidateIndex.load(path)


def test_wrong_dimension_or_shape_is_a_clear_error(filled):
    index, _, _ = filled
    with pytest.raises(ValueError, match="dimension 16"):
        index.add([1], unit(1, dim=8))
    with pytest.raises(ValueError, match="dimension 16"):
        index.search(unit(1, dim=8))
    with pytest.raises(ValueError, match="2 ids but 1 vectors"):
        index.add([1, 2], unit(1))
    with pytest.raises(ValueError, match="twice"):
        index.add([1, 1], unit(2))
    with pytest.raises(ValueError, match="integers"):
        index.add([1.5], unit(1))
    with pytest.raises(ValueError, match="floating point"):
        index.add([1], np.ones((1, 16), np.int32))
    with pytest.raises(ValueError, match="non-zero"):
        index.add([1], np.zeros((1, 16), np.float32))
    assert index.size == 200  # nothing half-added


def test_past_the_exact_limit_near_duplicates_are_still_found(approximate):
    index, ids, vectors = approximate
    found = index.search(near_duplicates(vectors[:100]), k=5)
    assert all(hits[0].id == i for i, hits in zip(ids[:100], found, strict=True))
    assert all(len(hits) == 5 for hits in found)
    query = near_duplicates(vectors[:100])[0]
    assert found[0][0].score == pytest.approx(float(query @ vectors[0] / np.linalg.norm(query)), abs=1e-5)  # re-scored exactly


def test_past_the_exact_limit_filters_still_hold(approximate):
    index, ids, vectors = approximate
    queries = near_duplicates(vectors[:50])
    own = [{int(i)} for i in ids[:50]]
    for hits, banned in zip(index.search(queries, k=5, exclude=own), own, strict=True):
        assert len(hits) == 5 and banned.isdisjoint(c.id for c in hits)
    everything_but_7 = set(ids.tolist()) - set(ids[100:107].tolist())  # filters leave 7 ids: the search widens to find them
    assert {c.id for c in index.search(queries[0], k=10, exclude=everything_but_7)[0]} == set(ids[100:107].tolist())
    small = set(ids[::50].tolist())  # 40 allowed ids: searched exactly, row by row
    assert [c.id for c in index.search(queries[3], k=5, allowed=small)[0]] == brute_force(vectors[::50], ids[::50], queries[3], 5)
    large = set(ids[ids % 2 == 0].tolist())  # half the index allowed: approximate, then filtered
    for row, hits in enumerate(index.search(queries[:20], k=5, allowed=large, exclude={int(ids[0])})):
        assert len(hits) == 5 and all(c.id in large and c.id != ids[0] for c in hits)
        if ids[row] in large and row != 0:
            assert hits[0].id == ids[row]
    quarter = set(ids[ids % 4 == 1].tolist())  # k=40 from a quarter of the index: the first shortlist often keeps too few
    assert all(len(hits) == 40 and {c.id for c in hits} <= quarter for hits in index.search(queries[:20], k=40, allowed=quarter))
    far = set(ids[np.argsort(vectors @ queries[5])[:600]].tolist())  # the PQ shortlist finds none of these: widen, then search exactly
    hits = index.search(queries[5], k=5, allowed=far)[0]
    assert len(hits) == 5 and all(c.id in far for c in hits)


def test_approximate_index_follows_removals_and_replacements():
    vectors, ids = unit(2100, dim=32, seed=6), np.arange(2100)
    index = CandidateIndex(32, "model-a", exact_limit=1000, params=SHORT)
    index.add(ids[:2000], vectors[:2000])
    index.remove(ids[:2000:3])  # rows are compacted in both the store and the PQ codes: they must stay aligned
    index.add([1, 2], -vectors[[1, 2]])  # replaced: moved to the end
    index.remove([4])
    index.add(ids[2000:], vectors[2000:])  # new codes land in the block that removals left half-used
    assert not index.is_exact and index.size == 2100 - 668
    present = np.setdiff1d(ids, np.r_[ids[:2000:3], 4])
    truth = vectors.copy()
    truth[[1, 2]] *= -1
    found = index.search(near_duplicates(truth[present]), k=5)
    assert [hits[0].id for hits in found] == present.tolist()
    assert not {int(i) for i in ids[:2000:3]} & {c.id for hits in found for c in hits}
    index.remove(present[:500])  # back under the limit: exact again
    assert index.is_exact and index.size == 932
    assert [c.id for c in index.search(vectors[1500], k=3)[0]] == brute_force(truth[present[500:]], present[500:], vectors[1500], 3)


def test_an_approximate_file_left_by_another_save_is_refused(approximate, tmp_path):
    index, ids, vectors = approximate
    index.save(tmp_path / "before")
    changed = CandidateIndex.load(tmp_path / "before")
    changed.add([int(ids[0])], vectors[1])  # same size, but that id's row moves to the end
    changed.save(tmp_path / "after")
    assert CandidateIndex.load(tmp_path / "after").search(vectors[1], k=2)[0][1].id == ids[0]
    (tmp_path / "after.approx").write_bytes((tmp_path / "before.approx").read_bytes())  # as if a save stopped half-way
    with pytest.raises(ValueError, match="do not match"):
        CandidateIndex.load(tmp_path / "after")
