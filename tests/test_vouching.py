"""Vouching: a candidate the anchor matches strongly lifts the anchor's candidates that it matches too
(pelage.reid.ranking.vouched_scores), in the pure function, on whole folders and in the scorer review uses."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pelage.reid.flank import same_flank_allowed
from pelage.reid.ranking import VOUCHERS, VOUCHING_SCORE, fused_similarity, vouched_scores, vouched_similarity, vouchers
from pelage.reid.rerank import DEFAULT_CALIBRATION, extract_features
from pelage.reid.scoring import NOTABLE_LIFT, PatternScorer
from tests.test_rerank import full_mask, spotted_coat


def test_only_strong_candidates_vouch_the_strongest_first_and_at_most_a_few():
    direct = np.array([0.2, VOUCHING_SCORE + 0.05, 0.95, VOUCHING_SCORE - 0.01, *[0.9] * VOUCHERS])
    chosen = vouchers(direct)
    assert chosen[0] == 2 and len(chosen) == VOUCHERS and 3 not in chosen and 0 not in chosen
    assert list(vouchers(direct, eligible=np.arange(len(direct)) != 2))[:1] != [2]
    assert len(vouchers(np.full(4, VOUCHING_SCORE / 2))) == 0


def test_a_vouched_candidate_scores_the_product_of_the_two_steps_and_never_passes_its_voucher():
    direct = np.array([0.9, 0.05, 0.10, 0.30])
    # the voucher (position 0) matches candidate 1 strongly, candidate 2 weakly, and itself (ignored)
    onward = np.array([[1.0, 0.8, 0.05, 0.2]])
    score, via = vouched_scores(direct, np.array([0]), onward)
    assert score[1] == pytest.approx(0.9 * 0.8) and via[1] == 0
    assert score[2] == pytest.approx(0.10) and via[2] == -1  # 0.9 · 0.05 is below what the pair says itself
    assert score[3] == pytest.approx(0.30) and via[3] == -1
    assert score[0] == pytest.approx(0.9) and via[0] == -1  # no candidate vouches for itself
    assert score.max() == direct.max()  # the most likely candidate stays first: rank-1 is the pairs' own
    same, none = vouched_scores(direct, np.zeros(0, np.int64), np.zeros((0, 4)))
    assert np.array_equal(same, direct) and (none == -1).all()


@pytest.fixture(scope="module")
def flank():
    """One wide coat seen in three overlapping parts (left, middle, right: left and right share no spot), and a
    different coat. Only the middle photo links the two ends."""
    coat = spotted_coat(1, size=(300, 900))
    return {"left": coat[:, :420], "middle": coat[:, 240:660], "right": coat[:, 480:], "other": spotted_coat(2, size=(300, 420))}


def test_the_middle_of_a_flank_vouches_for_its_far_end_in_a_folder_ranking(flank):
    names = list(flank)
    features = [extract_features(np.ascontiguousarray(image), full_mask(image)) for image in flank.values()]
    embeddings = np.full((4, 8), 1 / np.sqrt(8), np.float32)  # an embedding that tells nothing apart
    fused, inliers = fused_similarity(embeddings, features)
    left, middle, right, other = (names.index(name) for name in ("left", "middle", "right", "other"))
    assert fused[left, middle] >= VOUCHING_SCORE and fused[middle, right] >= VOUCHING_SCORE
    assert fused[left, right] < VOUCHING_SCORE  # the two ends share no spot
    ranked = vouched_similarity(fused, inliers, embeddings @ embeddings.T, features)
    assert ranked[left, right] == pytest.approx(fused[left, middle] * fused[middle, right], rel=1e-5)
    assert ranked[left, right] > ranked[left, other] and ranked[left, middle] == pytest.approx(fused[left, middle])
    # a photo of the query's own group (its sighting, under the evaluation protocol) may not vouch
    grouped = vouched_similarity(fused, inliers, embeddings @ embeddings.T, features, groups=["a", "a", "b", "c"])
    assert grouped[left, right] == pytest.approx(fused[left, right])


def test_within_the_same_flank_filter_a_photo_review_would_not_show_neither_ranks_nor_vouches(flank):
    """The identification bench ranks as review shortlists by default: a photo of the other known flank is left out of the
    anchor's shortlist, so it is never verified against the anchor, never vouches, and ranks last."""
    names = list(flank)
    left, middle, right, other = (names.index(name) for name in ("left", "middle", "right", "other"))
    features = [extract_features(np.ascontiguousarray(image), full_mask(image)) for image in flank.values()]
    embeddings = np.full((4, 8), 1 / np.sqrt(8), np.float32)
    # the middle photo is guessed as the other side: review never shows it beside the two ends
    allowed = same_flank_allowed(["left", "right", "left", None])
    fused, inliers = fused_similarity(embeddings, features, allowed=allowed)
    assert inliers[left, middle] == 0 and fused[left, middle] == -np.inf and fused[middle, right] == -np.inf
    assert np.isfinite(fused[left, right]) and np.isfinite(fused[left, other]) and inliers[left, right] >= 0
    ranked = vouched_similarity(fused, inliers, embeddings @ embeddings.T, features, allowed=allowed)
    assert ranked[left, middle] == -np.inf
    assert ranked[left, right] == pytest.approx(fused[left, right])  # no lift: its voucher was left out
    both, both_inliers = fused_similarity(embeddings, features)
    assert vouched_similarity(both, both_inliers, embeddings @ embeddings.T, features)[left, right] > ranked[left, right]


def test_review_scorer_ranks_the_far_end_through_the_middle_and_says_so(flank, tmp_path):
    crops = {}
    for number, (name, image) in enumerate(flank.items(), 1):
        Image.fromarray(np.ascontiguousarray(image)).save(tmp_path / f"{name}.png")
        Image.fromarray(full_mask(image)).save(tmp_path / f"{name}_mask.png")
        crops[number] = (f"{name}.png", f"{name}_mask.png")
    left, middle, right, other = 1, 2, 3, 4
    vectors = {animal: np.ones(8, np.float32) for animal in crops}
    scorer = PatternScorer(tmp_path, crops, DEFAULT_CALIBRATION)
    try:
        pairs = {row[0]: row for row in scorer.score(left, [(right, 0.5), (other, 0.5), (middle, 0.5)])}
        ranked = scorer.rank(left, [(right, 0.5), (other, 0.5), (middle, 0.5)], vectors)
    finally:
        scorer.close()
    assert [candidate.id for candidate in ranked] == [middle, right, other]
    far = ranked[1]
    assert far.via == middle and far.direct == pytest.approx(pairs[right][1]) and far.score > far.direct + NOTABLE_LIFT
    assert far.inliers == pairs[right][3]  # the spots it shares with the anchor itself, not with the voucher
    assert ranked[0].via is None and ranked[0].direct is None and ranked[2].score < far.score / 10
    assert ranked[2].via is None  # whatever the voucher nudged it by, under NOTABLE_LIFT it is not named

    # Review does not wait for the vouchers' pairs: they are verified behind, and count from the next proposal on.
    behind = PatternScorer(tmp_path, crops, DEFAULT_CALIBRATION)
    try:
        behind.rank(left, [(right, 0.5), (other, 0.5), (middle, 0.5)], vectors, wait=False)
        assert behind.wait_idle(timeout=60)
        assert behind.known_inliers(middle, right) is not None
        later = behind.rank(left, [(right, 0.5), (other, 0.5), (middle, 0.5)], vectors, wait=False)
    finally:
        behind.close()
    assert [(c.id, c.via) for c in later] == [(c.id, c.via) for c in ranked] and later[1].score == pytest.approx(far.score)

    from pelage.review.session import CandidateView
    from pelage.ui.review_view import candidate_title, candidate_tooltip

    view = CandidateView(far.id, far.score, far.cosine, far.inliers, far.verified, None, None, via=far.via, direct=far.direct)
    assert f"through #{middle}" in candidate_title(1, view)
    assert f"#{middle} matches the anchor" in candidate_tooltip(view) and f"{far.direct:.1%}" in candidate_tooltip(view)
