"""Pattern verification (RootSIFT + RANSAC), score calibration, and the fused ranking on synthetic coats."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pelage.reid import rerank
from pelage.reid.ranking import fused_similarity, shortlist_pairs
from pelage.reid.rerank import (
    FeatureCache,
    FusionCalibration,
    LocalFeatures,
    consistent_keypoints,
    extract_features,
    fit_calibration,
    fuse_scores,
    match_features,
    mutual_matches,
)


def spotted_coat(seed: int, size: tuple[int, int] = (300, 500)) -> np.ndarray:
    """A tan coat with irregular dark rosettes; each seed is another animal."""
    rng = np.random.default_rng(seed)
    coat = np.full((*size, 3), (190, 150, 90), np.uint8)
    for _ in range(90):
        centre = (int(rng.integers(0, size[1])), int(rng.integers(0, size[0])))
        axes = (int(rng.integers(5, 16)), int(rng.integers(4, 12)))
        cv2.ellipse(coat, centre, axes, float(rng.uniform(0, 180)), 0, 360, (40, 30, 20), int(rng.integers(2, 5)))
    return cv2.GaussianBlur(coat, (3, 3), 0)


def warped(image: np.ndarray, angle: float, scale: float, gain: float) -> np.ndarray:
    """The same animal photographed again: rotated, rescaled and differently lit."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, scale)
    moved = cv2.warpAffine(image, matrix, (width, height), borderValue=(0, 0, 0))
    return np.clip(moved.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def full_mask(image: np.ndarray) -> np.ndarray:
    return np.full(image.shape[:2], 255, np.uint8)


@pytest.fixture(scope="module")
def coats():
    a = spotted_coat(1)
    again = warped(a, angle=8, scale=0.9, gain=0.8)
    return {name: extract_features(image, full_mask(image)) for name, image in
            {"a": a, "a_again": again, "a_mirrored": np.ascontiguousarray(a[:, ::-1]), "b": spotted_coat(2)}.items()}


def test_the_same_coat_rephotographed_gives_many_inliers_another_coat_few(coats):
    same = match_features(coats["a"], coats["a_again"])
    other = match_features(coats["a"], coats["b"])
    assert same.inliers >= 30
    assert other.inliers < same.inliers / 3
    assert same.scale == pytest.approx(0.9, abs=0.05) and same.rotation == pytest.approx(-8, abs=2)


def test_a_turned_and_rescaled_coat_keeps_its_inliers_through_the_orientation_and_size_check(monkeypatch):
    a = spotted_coat(3)
    again = warped(a, angle=30, scale=0.7, gain=1.1)
    first, second = extract_features(a, full_mask(a)), extract_features(again, full_mask(again))
    checked = match_features(first, second)
    monkeypatch.setattr(rerank, "ORIENTATION_TOLERANCE", 181.0)
    monkeypatch.setattr(rerank, "SIZE_TOLERANCE", np.inf)
    unchecked = match_features(first, second)
    assert checked.rotation == pytest.approx(-30, abs=2) and checked.scale == pytest.approx(0.7, abs=0.05)
    assert unchecked.inliers >= 30 and checked.inliers >= 0.8 * unchecked.inliers  # keypoints turn and shrink with the coat


def test_matches_that_fit_the_layout_but_not_the_keypoints_own_turn_and_size_are_not_counted():
    rng = np.random.default_rng(0)
    n = 200
    points = rng.uniform(0, 400, (n, 2)).astype(np.float32)
    a = LocalFeatures(points, rng.uniform(4, 20, n).astype(np.float32), rng.uniform(0, 360, n).astype(np.float32),
                      np.zeros((n, 128), np.float32))
    pairs = np.stack([np.arange(n), np.arange(n)], axis=1)
    turned = LocalFeatures(points, a.sizes * 0.8 * rng.uniform(0.9, 1.1, n).astype(np.float32),
                           (a.angles + 25 + rng.uniform(-5, 5, n).astype(np.float32)) % 360, a.descriptors)
    assert consistent_keypoints(a, turned, pairs, rotation=25, scale=0.8).mean() == 1.0
    assert consistent_keypoints(a, turned, pairs, rotation=-25, scale=0.8).mean() == 0.0  # the wrong way round
    scrambled = LocalFeatures(points, rng.uniform(4, 20, n).astype(np.float32), rng.uniform(0, 360, n).astype(np.float32),
                              a.descriptors)
    assert consistent_keypoints(a, scrambled, pairs, rotation=0, scale=1.0).mean() < 0.1  # chance: about 11 % × 40 %


def test_a_mirrored_flank_is_not_a_match(coats):
    # SIFT descriptors are not mirror-invariant: the mirrored coat is a different pattern, as it is on the animal.
    assert match_features(coats["a"], coats["a_mirrored"]).inliers < match_features(coats["a"], coats["a_again"]).inliers / 3


def test_features_stay_inside_the_mask():
    image = spotted_coat(3)
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[:, :200] = 255
    features = extract_features(image, mask)
    assert len(features) > 20 and features.keypoints[:, 0].max() < 200
    assert len(extract_features(image, np.zeros_like(mask))) == 0


def test_the_keypoint_cap_keeps_the_strongest_inside_the_mask_even_beside_a_busier_background():
    """OpenCV chooses SIFT's strongest N before it applies the mask: a busy background beside the animal must not use
    up the cap (the animal kept 1,500 keypoints' worth of pattern, not what the background left over)."""
    animal = spotted_coat(4, size=(300, 250))
    background = cv2.resize(np.random.default_rng(5).integers(0, 255, (150, 125, 3), dtype=np.uint8), (250, 300),
                            interpolation=cv2.INTER_NEAREST)  # blocky noise: far more, and stronger, corners than the coat
    image = np.concatenate([animal, background], axis=1)
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[:, :250] = 255
    everything = extract_features(image, mask, max_keypoints=4000)
    capped = extract_features(image, mask, max_keypoints=60)
    assert len(everything) > 60 and len(capped) == 60 and capped.keypoints[:, 0].max() < 250
    inside = {tuple(point) for point in everything.keypoints.tolist()}
    assert all(tuple(point) in inside for point in capped.keypoints.tolist())


def test_mutual_matches_are_symmetric(coats):
    forward = mutual_matches(coats["a"].descriptors, coats["a_again"].descriptors)
    backward = mutual_matches(coats["a_again"].descriptors, coats["a"].descriptors)
    assert len(forward) > 0
    assert {tuple(pair) for pair in forward} == {(j, i) for i, j in backward}


def test_fused_score_rises_with_cosine_and_inliers():
    cosine = np.array([0.2, 0.2, 0.6, 0.6])
    inliers = np.array([0, 30, 0, 30])
    p = fuse_scores(cosine, inliers)
    assert ((0 < p) & (p < 1)).all()
    assert p[1] > p[0] and p[3] > p[2] and p[2] > p[0]


def test_calibration_recovers_a_known_logistic_model():
    rng = np.random.default_rng(0)
    cosine = rng.uniform(-0.2, 1.0, 20000)
    inliers = rng.integers(0, 60, 20000).astype(float)
    truth = FusionCalibration(cosine_weight=4.0, inlier_weight=1.5, bias=-6.0)
    same = rng.uniform(size=20000) < fuse_scores(cosine, inliers, truth)
    fitted = fit_calibration(cosine, inliers, same, l2=1e-6)
    assert fitted.cosine_weight == pytest.approx(4.0, abs=0.5)
    assert fitted.inlier_weight == pytest.approx(1.5, abs=0.2)
    assert fitted.bias == pytest.approx(-6.0, abs=0.6)
    with pytest.raises(ValueError, match="both"):
        fit_calibration(cosine[:5], inliers[:5], np.zeros(5, bool))


def test_feature_cache_round_trip(tmp_path, coats):
    cache = FeatureCache()
    cache["a"], cache["b"] = coats["a"], coats["b"]
    cache.save(tmp_path / "features.npz")
    loaded = FeatureCache.load(tmp_path / "features.npz")
    assert list(loaded) == ["a", "b"]
    assert np.array_equal(loaded["a"].keypoints, coats["a"].keypoints)
    assert match_features(loaded["a"], coats["a_again"]).inliers == pytest.approx(match_features(coats["a"], coats["a_again"]).inliers, abs=2)


def test_shortlist_and_fused_similarity_rank_the_rephotographed_coat_first():
    images = [spotted_coat(1), spotted_coat(2), warped(spotted_coat(1), 5, 1.05, 1.1), spotted_coat(4)]
    features = [extract_features(image, full_mask(image)) for image in images]
    # An embedding that is no help at all: every pair equally similar.
    embeddings = np.full((4, 8), 1 / np.sqrt(8), np.float32)
    pairs = shortlist_pairs(embeddings @ embeddings.T, shortlist=2)
    assert all(i < j for i, j in pairs) and len(pairs) >= 4
    fused, inliers = fused_similarity(embeddings, features, shortlist=3)
    assert fused.shape == (4, 4) and np.allclose(np.diag(fused), 1.0) and np.allclose(fused, fused.T)
    assert np.argmax(np.where(np.eye(4, dtype=bool), -1, fused)[0]) == 2
    assert inliers[0, 2] > inliers[0, 1]
