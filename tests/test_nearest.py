"""The review queue's stored bounds: each animal's best cosine to another photo, updated only where vectors changed."""

from __future__ import annotations

import numpy as np

from pelage.reid.nearest import best_in_other_photos, unit_rows
from pelage.review.session import ReviewSession
from tests.review_synthetic import build_synthetic_project


def brute_force(ids: np.ndarray, vectors: np.ndarray, image_of: dict[int, int]) -> np.ndarray:
    images = np.array([image_of[int(i)] for i in ids])
    similarity = vectors @ vectors.T
    similarity[images[:, None] == images[None, :]] = -np.inf
    return similarity.max(axis=1)


def season(rng: np.random.Generator, n: int, dim: int = 16) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    ids = np.arange(100, 100 + n, dtype=np.int64)
    image_of = {int(i): int(i) // 3 for i in ids}  # three animals a photo: same-photo pairs never count
    return ids, unit_rows(rng.standard_normal((n, dim))), image_of


def test_bounds_equal_a_full_pass_and_a_second_call_computes_nothing(tmp_path):
    ids, vectors, image_of = season(np.random.default_rng(0), 700)
    path = tmp_path / "model.nearest.npz"
    best, fresh = best_in_other_photos(path, ids, vectors, image_of)
    assert fresh == 700
    np.testing.assert_allclose(best, brute_force(ids, vectors, image_of), rtol=0, atol=1e-6)
    again, fresh = best_in_other_photos(path, ids, vectors, image_of)
    assert fresh == 0
    np.testing.assert_array_equal(again, best)


def test_new_and_changed_vectors_are_computed_and_every_bound_stays_an_upper_bound(tmp_path):
    rng = np.random.default_rng(1)
    ids, vectors, image_of = season(rng, 600)
    path = tmp_path / "model.nearest.npz"
    best_in_other_photos(path, ids, vectors, image_of)
    changed = vectors.copy()
    changed[5] = unit_rows(rng.standard_normal((1, vectors.shape[1])))[0]  # a redrawn box: a new vector for animal 105
    more_ids, more, more_images = season(rng, 50)
    more_ids += 10_000
    ids2, vectors2 = np.concatenate([ids, more_ids]), np.concatenate([changed, more])
    image_of2 = {**image_of, **{int(i): 10_000 + int(i) // 3 for i in more_ids}}
    best, fresh = best_in_other_photos(path, ids2, vectors2, image_of2)
    assert fresh == 51
    exact = brute_force(ids2, vectors2, image_of2)
    assert np.all(best >= exact - 1e-6)  # never below the truth: the queue would then serve anchors out of order
    recomputed = np.r_[5, np.arange(600, 650)]
    np.testing.assert_allclose(best[recomputed], exact[recomputed], rtol=0, atol=1e-6)
    # Everyone a new animal beats was raised to it: only animals whose old best was animal 105's old vector may be high.
    high = np.flatnonzero(best > exact + 1e-6)
    old_best_partner = np.argmax(np.where(np.eye(600, dtype=bool), -np.inf, vectors @ vectors.T), axis=1)
    assert set(high.tolist()) <= set(np.flatnonzero(old_best_partner == 5).tolist())


def test_a_damaged_file_is_recomputed_not_trusted(tmp_path):
    ids, vectors, image_of = season(np.random.default_rng(2), 40)
    path = tmp_path / "model.nearest.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    best, fresh = best_in_other_photos(path, ids, vectors, image_of)
    assert fresh == 40
    np.testing.assert_allclose(best, brute_force(ids, vectors, image_of), rtol=0, atol=1e-6)
    path.write_bytes(np.zeros(10).tobytes())
    assert best_in_other_photos(path, ids, vectors, image_of)[1] == 40


def test_a_second_review_session_reads_the_bounds_the_first_stored(tmp_path):
    synthetic = build_synthetic_project(tmp_path / "project", 300, dim=32, seed=3)
    with ReviewSession(synthetic.project, synthetic.model_id) as first:
        bounds = dict(first.queue.static_bounds)
        ids, vectors, image_of = first._ids, first._vectors, first._image_of
    stored = next((tmp_path / "project" / "index").glob("*.nearest.npz"))
    assert best_in_other_photos(stored, ids, vectors, image_of)[1] == 0
    with ReviewSession(synthetic.project, synthetic.model_id) as second:
        assert second.queue.static_bounds == bounds
    exact = brute_force(ids, vectors, image_of)
    np.testing.assert_allclose([bounds[int(i)] for i in ids], exact, rtol=0, atol=1e-6)
    synthetic.project.close()
