"""Re-identification metrics on hand-computed examples, and the identity split on the real nyala labels."""

from __future__ import annotations

import numpy as np
import pytest

from pelage.reid.metrics import LabelRow, entity_keys, evaluate_similarity, identity_split, load_labels, ranked_hits, score_queries
from tests.conftest import shared_dataset


def similarity(n: int, entries: dict[tuple[int, int], float]) -> np.ndarray:
    """An n×n matrix of zeros with the given (row, column) entries; the diagonal is set high to prove it is ignored."""
    sim = np.zeros((n, n))
    np.fill_diagonal(sim, 10.0)
    for (row, col), value in entries.items():
        sim[row, col] = value
    return sim


# 0 and 1 are one sighting of A's left flank, 2 and 3 another (left and right flank), 4 is B, 5 is A again.
ENTITY = entity_keys(["A", "A", "A", "A", "B", "A"], ["left", "left", "left", "right", "left", "left"])
SIGHTING = ["s1", "s1", "s2", "s2", "s3", "s4"]
SIM = similarity(6, {
    # Query 0: its same-sighting twin (1) and A's right flank (3) rank above everything; ranked gallery 3 2 4 5 → - + - +.
    (0, 1): 0.99, (0, 3): 0.9, (0, 2): 0.8, (0, 4): 0.7, (0, 5): 0.1,
    # Query 1: 5 2 4 3 → + + - -.
    (1, 0): 0.99, (1, 5): 0.6, (1, 2): 0.5, (1, 4): 0.3, (1, 3): 0.2,
    # Query 2: its own sighting's right flank (3) is first but out of the gallery; 0 and 1 tie (index order); 4 0 1 5 → - + + +.
    (2, 3): 0.95, (2, 4): 0.9, (2, 0): 0.4, (2, 1): 0.4, (2, 5): 0.3,
    # Query 5: 4 3 2 0 1 → - - + + +.
    (5, 4): 0.9, (5, 3): 0.8, (5, 2): 0.7, (5, 0): 0.6, (5, 1): 0.5,
})


def test_hand_computed_scores():
    per_query = score_queries(SIM, ENTITY, SIGHTING)
    # 3 (A right: its only other A-right image is none) and 4 (B, alone) have no positive and are no queries.
    assert per_query.index.tolist() == [0, 1, 2, 5]
    assert per_query.first_hit_rank.tolist() == [2, 1, 2, 3]
    expected_ap = [(1 / 2 + 2 / 4) / 2, 1.0, (1 / 2 + 2 / 3 + 3 / 4) / 3, (1 / 3 + 2 / 4 + 3 / 5) / 3]
    np.testing.assert_allclose(per_query.average_precision, expected_ap)
    # DT5AP: k_i = min(positives, 5) = 2, 2, 3, 3; mean precision over the first k_i ranks.
    expected_dt5ap = [(0 + 1 / 2) / 2, (1 + 1) / 2, (0 + 1 / 2 + 2 / 3) / 3, (0 + 0 + 1 / 3) / 3]
    np.testing.assert_allclose(per_query.dtkap, expected_dt5ap)

    scores = evaluate_similarity(SIM, ENTITY, SIGHTING)
    assert scores.queries == 4 and scores.identities == 1
    assert scores.map == pytest.approx(np.mean(expected_ap))
    assert scores.rank1 == pytest.approx(0.25)
    assert scores.rank5 == pytest.approx(1.0) and scores.t5rmd == pytest.approx(1.0)
    assert scores.dt5ap == pytest.approx(np.mean(expected_dt5ap))
    assert set(scores.as_dict()) == {"queries", "identities", "map", "rank1", "rank5", "dt5ap", "t5rmd"}


def test_same_sighting_never_in_gallery():
    hits, n_pos = ranked_hits(SIM, ENTITY, SIGHTING)
    # Image 0 sees 4 gallery images (all but itself and 1); its same-sighting twin is not a positive.
    assert n_pos.tolist() == [2, 2, 3, 0, 0, 3]
    assert hits[0].tolist() == [False, True, False, True, False, False]
    # Were sightings ignored, the twin 1 would be query 0's rank-1 hit.
    own_sightings = [str(i) for i in range(6)]
    assert score_queries(SIM, ENTITY, own_sightings).first_hit_rank[0] == 1


def test_other_flank_is_not_a_positive():
    entity = entity_keys(["A", "A", "A"], ["left", "right", "left"])
    sim = similarity(3, {(0, 1): 0.9, (0, 2): 0.1, (2, 1): 0.9, (2, 0): 0.1, (1, 0): 0.9, (1, 2): 0.9})
    scores = evaluate_similarity(sim, entity, ["a", "b", "c"])
    assert scores.queries == 2  # the right flank has no other right-flank photo
    assert scores.rank1 == 0.0 and scores.map == pytest.approx(0.5)


def test_single_positive_outside_top_five():
    # Query 0's only positive (6) sits at rank 6; six distractors of other identities fill ranks 1–5 and 7.
    n = 8
    entity = entity_keys(["A", "B", "C", "D", "E", "F", "A", "G"], [""] * n)
    entries = {(0, j): 1.0 - j / 10 for j in range(1, 8)}
    entries[(6, 0)] = 1.0
    sim = similarity(n, entries)
    per_query = score_queries(sim, entity, [str(i) for i in range(n)])
    assert per_query.index.tolist() == [0, 6]
    assert per_query.first_hit_rank.tolist() == [6, 1]
    np.testing.assert_allclose(per_query.average_precision, [1 / 6, 1.0])
    np.testing.assert_allclose(per_query.dtkap, [0.0, 1.0])  # one positive: k_i = 1, DT5AP is P(1)
    scores = evaluate_similarity(sim, entity, [str(i) for i in range(n)])
    assert scores.t5rmd == pytest.approx(0.5) and scores.rank5 == pytest.approx(0.5)


def test_dt5ap_caps_at_five_positives():
    # Query 0 has six positives (1–6) ranked 4, 6, 7, 8, 9, 10 behind distractors 7–11: k_i = 5.
    n = 12
    entity = entity_keys(["A"] * 7 + ["B", "C", "D", "E", "F"], [""] * n)
    order = [7, 8, 9, 1, 10, 2, 3, 4, 5, 6, 11]
    sim = similarity(n, {(0, j): 1.0 - rank / 100 for rank, j in enumerate(order)})
    per_query = score_queries(sim, entity, [str(i) for i in range(n)])
    assert per_query.dtkap[0] == pytest.approx((0 + 0 + 0 + 1 / 4 + 1 / 5) / 5)


def test_ties_break_by_index():
    entity = entity_keys(["A", "B", "A"], [""] * 3)
    sim = np.zeros((3, 3))  # every score ties
    per_query = score_queries(sim, entity, ["x", "y", "z"])
    # Query 0: gallery [1, 2] in index order → first hit at rank 2; query 2: gallery [0, 1] → rank 1.
    assert per_query.first_hit_rank.tolist() == [2, 1]


def test_no_queries():
    scores = evaluate_similarity(np.eye(3), entity_keys(["A", "B", "C"], [""] * 3), ["x", "y", "z"])
    assert scores.queries == 0 and np.isnan(scores.map)


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        evaluate_similarity(np.zeros((3, 4)), ["a"] * 3, ["x"] * 3)


def test_scales_to_two_thousand_images():
    rng = np.random.default_rng(0)
    n = 2000
    identity = rng.integers(0, 300, n).astype(str)
    sim = rng.normal(size=(n, n))
    scores = evaluate_similarity(sim, entity_keys(list(identity), ["left"] * n), [str(i) for i in range(n)])
    assert scores.queries > 1900 and 0 <= scores.map < 0.1


def test_labels_tolerate_missing_columns(tmp_path):
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("path,identity\na.jpg,x\nb.jpg,x\n", encoding="utf-8")
    rows = load_labels(csv_path)
    assert rows[0] == LabelRow(path="a.jpg", identity="x", view="", sighting="photo:a.jpg")
    assert rows[0].sighting != rows[1].sighting
    (tmp_path / "bad.csv").write_text("file,who\n", encoding="utf-8")
    with pytest.raises(ValueError, match="identity, path"):
        load_labels(tmp_path / "bad.csv")


def test_lion_blank_sightings_become_one_per_photo():
    rows = load_labels(shared_dataset("lion") / "labels.csv")
    assert len({row.sighting for row in rows}) == len(rows)
    assert {row.split for row in rows} == {"train", "val"}


def test_nyala_split_is_identity_disjoint_and_sighting_safe():
    rows = load_labels(shared_dataset("nyala") / "labels.csv")
    assert len(rows) == 1213 and {row.view for row in rows} == {"left", "right"}
    assert all(row.orig_w and row.orig_h for row in rows)
    train, val = identity_split(rows, 0.2, seed=7)
    assert len(train) + len(val) == len(rows)
    train_ids, val_ids = {row.identity for row in train}, {row.identity for row in val}
    assert not train_ids & val_ids
    assert not {row.sighting for row in train} & {row.sighting for row in val}
    assert abs(len(val_ids) / len(train_ids | val_ids) - 0.2) < 0.02
    assert identity_split(rows, 0.2, seed=7) == (train, val)
    assert {row.identity for row in identity_split(rows, 0.2, seed=8)[1]} != val_ids


def test_split_keeps_a_shared_sighting_together():
    rows = [LabelRow(f"{i}.jpg", identity, sighting=sighting) for i, (identity, sighting) in enumerate(
        [("a", "s1"), ("b", "s1"), ("c", "s2"), ("d", "s3"), ("e", "s4"), ("b", "s5")])]
    for seed in range(20):
        train, val = identity_split(rows, 0.5, seed)
        assert not {row.sighting for row in train} & {row.sighting for row in val}
        assert not {row.identity for row in train} & {row.identity for row in val}


def test_shortlist_recall_counts_queries_whose_true_match_is_in_the_shortlist_and_leaves_their_sighting_out():
    from pelage.reid.metrics import shortlist_recall

    gallery = np.eye(4, dtype=np.float32)  # four unrelated directions
    queries = np.array([[1, 0.1, 0, 0], [0, 0, 1, 0.9]], np.float32)
    entity, sighting = ["a", "a", "b", "c"], ["s1", "s2", "s3", "s4"]
    # Query 0 is animal a seen in s1: its own photo (s1) is left out, so its match is gallery photo 1 (a, s2).
    assert shortlist_recall(queries[:1], ["a"], ["s1"], gallery, entity, sighting, shortlist=1) == (1.0, 1)
    # Query 1 is animal c: its nearest is b (a distractor for it), c comes second.
    assert shortlist_recall(queries[1:], ["c"], ["s9"], gallery, entity, sighting, shortlist=1) == (0.0, 1)
    assert shortlist_recall(queries[1:], ["c"], ["s9"], gallery, entity, sighting, shortlist=2) == (1.0, 1)
    # A query whose only match is its own sighting has nothing to find: not counted.
    recall, counted = shortlist_recall(queries[1:], ["c"], ["s4"], gallery, entity, sighting, shortlist=2)
    assert counted == 0 and np.isnan(recall)


def test_shortlist_recall_within_the_same_flank_filter_misses_a_match_it_leaves_out_and_finds_one_it_lets_in():
    from pelage.reid.metrics import shortlist_recall

    gallery = np.eye(4, dtype=np.float32)
    query = np.array([[0, 0, 1, 0.9]], np.float32)  # animal c: b is nearer than c
    entity, sighting = ["a", "a", "b", "c"], ["s1", "s2", "s3", "s4"]
    assert shortlist_recall(query, ["c"], ["s9"], gallery, entity, sighting, shortlist=1) == (0.0, 1)
    b_left_out = np.array([[True, True, False, True]])  # b shows the other flank: c moves up into the shortlist
    assert shortlist_recall(query, ["c"], ["s9"], gallery, entity, sighting, shortlist=1, allowed=b_left_out) == (1.0, 1)
    c_left_out = np.array([[True, True, True, False]])  # the true match itself left out (a wrong flank guess): a miss
    assert shortlist_recall(query, ["c"], ["s9"], gallery, entity, sighting, shortlist=4, allowed=c_left_out) == (0.0, 1)
