"""HotSpotter-style verification: re-rank embedding candidates by geometrically consistent SIFT matches.

An embedding says two animals look alike; only matching the spots themselves, in a consistent layout,
says they are the same animal. So the shortlist from the embedding index is re-scored here: RootSIFT
keypoints inside the animal's mask, mutual nearest neighbours passing Lowe's ratio test in both
directions (so A-vs-B and B-vs-A agree), and a RANSAC similarity transform whose inliers count the
agreeing spots. A mirrored copy is never tried: a flank seen in a mirror is a different pattern.
A small logistic model turns (cosine, inliers) into a probability the reviewer can read.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

WORKING_SIDE = 512
# The strongest keypoints a crop keeps (by SIFT response). Matching costs grow with the square of this, and the
# review verifies a hundred pairs for each new anchor, so it is the largest lever on review latency. Chosen on the
# bundled model's 18 calibration identities (bench/reid_bench.py --split calibration --keypoints …; fused
# mAP / rank-1 / rank-5, 100-neighbour shortlist): 4,000 → 0.497 / 0.740 / 0.850, 2,000 → the same, 1,500 →
# 0.495 / 0.732 / 0.850, 1,000 → 0.496 / 0.740 / 0.819, 700 → 0.471 / 0.701 / 0.803; the rule was the smallest
# cap tried within 0.01 of the uncapped figures on all three. Real nyala crops have a median of ~820 keypoints at
# the working size, so this only bites on dense coats (synthetic ones reach 3,800: 88 → 9 ms a pair).
MAX_KEYPOINTS = 1500
# What SIFT keeps before the mask: OpenCV keeps the strongest N of the whole crop, background included, and only then
# drops those outside the mask, so N must stay generous and the cap above is applied after, inside the mask. (Passing
# the cap to SIFT directly starved crops with a busy background: held-out fused mAP 0.32 instead of 0.50.)
DETECT_KEYPOINTS = 4000
# Repeated stripes give close runner-up descriptors, so Lowe's 0.8 drops true matches; RANSAC removes the
# false ones a looser test lets through. Chosen on the bundled model's calibration identities (SIFT alone,
# mAP 0.36 / 0.43 / 0.45 at 0.8 / 0.85 / 0.9), not on the validation identities the figures come from.
LOWE_RATIO = 0.9
# A similarity transform (not a homography): flanks bend and legs move, and with a few dozen matches the
# four-parameter model is the one RANSAC can still estimate; the threshold leaves room for the bending.
RANSAC_THRESHOLD = 8.0  # pixels at the working size
MIN_MATCHES = 4
# Each SIFT keypoint carries its own orientation and size, so a true match must turn and scale with the transform
# RANSAC found; chance matches among repeated stripes fit the positions only. Inliers whose orientation differs from
# the transform's rotation by more than ORIENTATION_TOLERANCE degrees, or whose size ratio differs from its scale by
# more than a factor e^SIZE_TOLERANCE (1.65), are not counted. This lowers the floor chance reaches (different nyala
# reach 5 to 8 inliers) so that faint true matches stand out. Chosen on the bundled model's calibration identities
# (every pair matched, SIFT alone with the cosine breaking ties, mAP / rank-1): no check 0.490 / 0.732, orientation
# within 20° 0.536 / 0.764, 30° 0.534 / 0.756, and with size within 0.5: 0.548 / 0.780 (0.4: 0.538, 0.7: 0.547);
# the validation figures are in models/nyala-lite0.md.
ORIENTATION_TOLERANCE = 20.0  # degrees
SIZE_TOLERANCE = 0.5  # natural log of the size ratio
# Bump when what match_features counts changes: score calibrations fitted on inlier counts are tied to it.
MATCHER_VERSION = 2
# Bump when extract_features changes in a way its settings above do not show (CLAHE, erosion, RootSIFT): features
# stored by an older extractor (pelage.reid.feature_store) are then extracted again instead of matched against new ones.
EXTRACTOR_VERSION = 2


def matcher_signature() -> str:
    """What a score calibration's inlier counts were counted with: a refit on other counts does not carry over."""
    return (f"mutual-ratio{LOWE_RATIO};ransac-similarity{RANSAC_THRESHOLD};orientation{ORIENTATION_TOLERANCE};"
            f"size{SIZE_TOLERANCE};v{MATCHER_VERSION}")


def extractor_signature() -> str:
    """What stored features must have been extracted with to be used: this code's version, its settings, OpenCV's SIFT."""
    return (f"rootsift-v{EXTRACTOR_VERSION};side={WORKING_SIDE};keypoints={MAX_KEYPOINTS}of{DETECT_KEYPOINTS};"
            f"opencv={cv2.__version__}")


@dataclass(frozen=True)
class LocalFeatures:
    """RootSIFT keypoints of one crop, in the coordinates of the crop resized to ``image_size``."""

    keypoints: np.ndarray  # N×2 float32 (x, y)
    sizes: np.ndarray  # N float32, keypoint diameter in pixels
    angles: np.ndarray  # N float32, degrees
    descriptors: np.ndarray  # N×128 float32, RootSIFT (unit L2 norm)
    image_size: tuple[int, int] = (0, 0)  # (width, height) the keypoints refer to
    # The SIFT histograms RootSIFT was computed from, as uint8 (OpenCV's values are whole numbers up to 255): a
    # quarter of the descriptors' bytes, and root_sift() of them gives the descriptors back exactly; what
    # pelage.reid.feature_store keeps on disk. None when not known (features read back, or built by hand).
    sift: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.keypoints)

    @staticmethod
    def empty(image_size: tuple[int, int] = (0, 0)) -> LocalFeatures:
        return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32),
                             np.zeros((0, 128), np.float32), image_size)


@dataclass(frozen=True)
class MatchResult:
    inliers: int  # matches consistent with the RANSAC similarity transform, in position, orientation and size
    matches: int  # mutual ratio-test matches before geometric verification
    scale: float = 0.0  # of the transform from the first crop to the second; 0 when none was found
    rotation: float = 0.0  # degrees
    shift: tuple[float, float] = (0.0, 0.0)  # the transform's translation, in the second crop's pixels


def root_sift(descriptors: np.ndarray) -> np.ndarray:
    """L1-normalise, then square-root: Hellinger distance between SIFT histograms becomes Euclidean."""
    descriptors = np.asarray(descriptors, dtype=np.float32)
    return np.sqrt(descriptors / np.maximum(descriptors.sum(axis=1, keepdims=True), 1e-7))


def _working_copy(rgb: np.ndarray, mask: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    scale = max_side / max(rgb.shape[:2])
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    inside = (mask > 127).astype(np.uint8) * 255
    if scale < 1:
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        inside = cv2.resize(inside, size, interpolation=cv2.INTER_NEAREST)
    return grey, inside


def extract_features(rgb: np.ndarray, mask: np.ndarray, max_side: int = WORKING_SIDE, max_keypoints: int = MAX_KEYPOINTS) -> LocalFeatures:
    """RootSIFT keypoints of an RGB crop inside its mask (uint8, >127 = animal), at most ``max_side`` long.

    The crop is equalised (CLAHE) so rosettes in shadow and in flash glare give alike descriptors, and
    the mask is eroded so the silhouette against the background is not mistaken for pattern.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or mask.shape != rgb.shape[:2]:
        raise ValueError(f"expected an H×W×3 crop and an H×W mask, got {rgb.shape} and {mask.shape}")
    if rgb.size == 0:
        return LocalFeatures.empty()
    grey, inside = _working_copy(rgb, mask, max_side)
    image_size = (grey.shape[1], grey.shape[0])
    inside = cv2.erode(inside, np.ones((5, 5), np.uint8))
    if not inside.any():
        return LocalFeatures.empty(image_size)
    grey = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(grey)
    keypoints, descriptors = cv2.SIFT_create(nfeatures=max(DETECT_KEYPOINTS, max_keypoints)).detectAndCompute(grey, inside)
    if descriptors is None or not keypoints:
        return LocalFeatures.empty(image_size)
    strongest = np.argsort([-kp.response for kp in keypoints], kind="stable")[:max_keypoints]  # inside the mask, strongest first
    keypoints, descriptors = [keypoints[i] for i in strongest], descriptors[strongest]
    histograms = np.clip(np.rint(descriptors), 0, 255).astype(np.uint8)
    return LocalFeatures(
        keypoints=np.array([kp.pt for kp in keypoints], dtype=np.float32).reshape(-1, 2),
        sizes=np.array([kp.size for kp in keypoints], dtype=np.float32),
        angles=np.array([kp.angle for kp in keypoints], dtype=np.float32),
        descriptors=root_sift(descriptors),
        image_size=image_size,
        sift=histograms if np.array_equal(histograms, descriptors) else None,
    )


def _best_two(similarity: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the index of the most similar column, its similarity, and the runner-up's similarity."""
    rows = np.arange(similarity.shape[0])
    best = similarity.argmax(axis=1)
    first = similarity[rows, best]
    if similarity.shape[1] < 2:
        return best, first, np.full_like(first, -1.0)
    saved = similarity[rows, best].copy()
    similarity[rows, best] = -np.inf
    second = similarity.max(axis=1)
    similarity[rows, best] = saved
    return best, first, second


def _distance(cosine: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(2.0 - 2.0 * cosine, 0.0))  # Euclidean distance between unit vectors


def mutual_matches(a: np.ndarray, b: np.ndarray, ratio: float = LOWE_RATIO) -> np.ndarray:
    """K×2 index pairs (row of ``a``, row of ``b``): mutual nearest neighbours passing the ratio test both ways.

    RootSIFT descriptors have unit length, so one matrix product gives every distance; that is several
    times faster than two brute-force k-NN searches and makes the result exactly symmetric.
    """
    if len(a) == 0 or len(b) == 0:
        return np.zeros((0, 2), np.int64)
    similarity = a @ b.T
    best_ab, first_ab, second_ab = _best_two(similarity)
    # Row reductions over a contiguous copy: about half the time of reducing the transposed view (the review's
    # shortlist is a hundred of these a new anchor), with the same values.
    best_ba, first_ba, second_ba = _best_two(np.ascontiguousarray(similarity.T))
    rows = np.arange(len(a))
    mutual = best_ba[best_ab] == rows
    passes_ab = _distance(first_ab) < ratio * _distance(second_ab)
    passes_ba = (_distance(first_ba) < ratio * _distance(second_ba))[best_ab]
    keep = mutual & passes_ab & passes_ba
    return np.stack([rows[keep], best_ab[keep]], axis=1)


def match_features(a: LocalFeatures, b: LocalFeatures, ratio: float = LOWE_RATIO, threshold: float = RANSAC_THRESHOLD) -> MatchResult:
    """Geometrically verified matches between two crops' features."""
    pairs = mutual_matches(a.descriptors, b.descriptors, ratio)
    if len(pairs) < MIN_MATCHES:
        return MatchResult(inliers=0, matches=len(pairs))
    source, target = a.keypoints[pairs[:, 0]], b.keypoints[pairs[:, 1]]
    transform, inlier_mask = cv2.estimateAffinePartial2D(source, target, method=cv2.RANSAC, ransacReprojThreshold=threshold,
                                                         maxIters=2000, confidence=0.995, refineIters=10)
    if transform is None or inlier_mask is None:
        return MatchResult(inliers=0, matches=len(pairs))
    scale = float(math.hypot(transform[0, 0], transform[1, 0]))
    rotation = float(math.degrees(math.atan2(transform[1, 0], transform[0, 0])))
    kept = pairs[inlier_mask.ravel().astype(bool)]
    inliers = int(np.count_nonzero(consistent_keypoints(a, b, kept, rotation, scale)))
    if inliers < MIN_MATCHES:
        inliers = 0  # three points always fit some similarity: that is chance, not evidence
    return MatchResult(inliers=inliers, matches=len(pairs), scale=scale, rotation=rotation,
                       shift=(float(transform[0, 2]), float(transform[1, 2])))


def consistent_keypoints(a: LocalFeatures, b: LocalFeatures, pairs: np.ndarray, rotation: float, scale: float) -> np.ndarray:
    """Which matched pairs turn by ``rotation`` (degrees, as the transform) and grow by ``scale``, within tolerance."""
    if len(pairs) == 0 or scale <= 0:
        return np.zeros(len(pairs), bool)
    turn = (b.angles[pairs[:, 1]] - a.angles[pairs[:, 0]] - rotation) % 360.0
    turn = np.minimum(turn, 360.0 - turn)
    growth = np.abs(np.log(np.maximum(b.sizes[pairs[:, 1]], 1e-6) / np.maximum(a.sizes[pairs[:, 0]], 1e-6) / scale))
    return (turn < ORIENTATION_TOLERANCE) & (growth < SIZE_TOLERANCE)


@dataclass(frozen=True)
class FusionCalibration:
    """Logistic model P(same animal) = σ(w_cos·cosine + w_inl·log1p(inliers) + bias)."""

    cosine_weight: float
    inlier_weight: float
    bias: float

    def to_dict(self) -> dict[str, float]:
        return {"cosine_weight": self.cosine_weight, "inlier_weight": self.inlier_weight, "bias": self.bias}

    @staticmethod
    def from_dict(data: dict[str, float]) -> FusionCalibration:
        return FusionCalibration(float(data["cosine_weight"]), float(data["inlier_weight"]), float(data["bias"]))


# Until a survey has confirmed pairs to fit on: an unremarkable cosine with no verified spots stays
# unlikely, while twenty-odd inliers (which different leopards' crops almost never reach) make a match likely.
DEFAULT_CALIBRATION = FusionCalibration(cosine_weight=6.0, inlier_weight=2.0, bias=-9.0)


def _design(cosine: np.ndarray, inliers: np.ndarray) -> np.ndarray:
    cosine = np.asarray(cosine, dtype=np.float64)
    inliers = np.asarray(inliers, dtype=np.float64)
    if cosine.shape != inliers.shape:
        raise ValueError(f"cosine {cosine.shape} and inliers {inliers.shape} differ in shape")
    return np.stack([cosine, np.log1p(np.maximum(inliers, 0.0)), np.ones_like(cosine)], axis=-1)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow warnings for large |z|


def fuse_scores(cosine: np.ndarray, inliers: np.ndarray, calibration: FusionCalibration = DEFAULT_CALIBRATION) -> np.ndarray:
    """Probability "same animal" for each (cosine, inliers) pair, same shape as the inputs."""
    weights = np.array([calibration.cosine_weight, calibration.inlier_weight, calibration.bias])
    return _sigmoid(_design(cosine, inliers) @ weights)


def fit_calibration(cosine: np.ndarray, inliers: np.ndarray, same: np.ndarray, l2: float = 1e-2, iterations: int = 50,
                    prior: FusionCalibration | None = None, prior_precision: float = 1.0) -> FusionCalibration:
    """Logistic regression by Newton's method (IRLS).

    Without ``prior``: a small L2 penalty (``l2`` per pair) on the two weights, which keeps the fit finite when the
    classes separate perfectly, as they do on small surveys. With ``prior``: a Gaussian prior of ``prior_precision``
    centred on that calibration, on all three numbers, so a project's few dozen decisions adjust a fit made elsewhere
    instead of replacing it; one-class data then simply return the prior's pull.
    """
    x = _design(cosine, inliers).reshape(-1, 3)
    y = np.asarray(same, dtype=np.float64).reshape(-1)
    if len(y) != len(x):
        raise ValueError(f"{len(x)} pairs but {len(y)} labels")
    if prior is None and (len(y) == 0 or y.min() == y.max()):
        raise ValueError("calibration needs both same-animal and different-animal pairs")
    if prior is None:
        penalty, centre = np.diag([l2, l2, 0.0]) * len(y), np.zeros(3)
    else:
        penalty, centre = np.eye(3) * prior_precision, np.array([prior.cosine_weight, prior.inlier_weight, prior.bias])
    weights = centre.copy()
    for _ in range(iterations):
        p = _sigmoid(x @ weights)
        gradient = x.T @ (p - y) + penalty @ (weights - centre)
        hessian = (x * (p * (1 - p))[:, None]).T @ x + penalty + 1e-9 * np.eye(3)
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-8:
            break
    return FusionCalibration(float(weights[0]), float(weights[1]), float(weights[2]))


def rerank(query: LocalFeatures, candidates: Sequence[LocalFeatures], cosine: np.ndarray,
           calibration: FusionCalibration = DEFAULT_CALIBRATION) -> np.ndarray:
    """P(same animal) for each candidate of a query, from its embedding cosine and verified inliers."""
    cosine = np.asarray(cosine, dtype=np.float64)
    if cosine.shape != (len(candidates),):
        raise ValueError(f"{len(candidates)} candidates but cosine of shape {cosine.shape}")
    inliers = np.array([match_features(query, candidate).inliers for candidate in candidates], dtype=np.float64)
    return fuse_scores(cosine, inliers, calibration)


class FeatureCache:
    """Local features by crop id, so each crop is described once; saved as one .npz of concatenated arrays."""

    def __init__(self) -> None:
        self._features: dict[str, LocalFeatures] = {}

    def __len__(self) -> int:
        return len(self._features)

    def __contains__(self, key: object) -> bool:
        return key in self._features

    def __iter__(self) -> Iterator[str]:
        return iter(self._features)

    def __getitem__(self, key: str) -> LocalFeatures:
        return self._features[key]

    def __setitem__(self, key: str, features: LocalFeatures) -> None:
        self._features[key] = features

    def get_or_compute(self, key: str, rgb: np.ndarray, mask: np.ndarray) -> LocalFeatures:
        if key not in self._features:
            self._features[key] = extract_features(rgb, mask)
        return self._features[key]

    def save(self, path: Path | str) -> None:
        """Write atomically; descriptors go as float16, which halves the file and does not change matches."""
        keys = list(self._features)
        items = [self._features[key] for key in keys]
        counts = np.array([len(item) for item in items], dtype=np.int64)

        def joined(name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
            parts = [getattr(item, name) for item in items]
            return np.concatenate(parts).astype(dtype) if parts else np.zeros((0, *shape), dtype)

        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp.npz")
        np.savez(
            tmp,
            keys=np.array(keys, dtype=str), counts=counts,
            image_sizes=np.array([item.image_size for item in items], dtype=np.int64).reshape(-1, 2),
            keypoints=joined("keypoints", (2,), np.float32), sizes=joined("sizes", (), np.float32),
            angles=joined("angles", (), np.float32), descriptors=joined("descriptors", (128,), np.float16),
        )
        tmp.replace(path)

    @staticmethod
    def load(path: Path | str) -> FeatureCache:
        cache = FeatureCache()
        with np.load(Path(path), allow_pickle=False) as data:
            bounds = np.concatenate([[0], np.cumsum(data["counts"])])
            keypoints, sizes, angles = data["keypoints"], data["sizes"], data["angles"]
            descriptors = data["descriptors"].astype(np.float32)
            for i, key in enumerate(data["keys"].tolist()):
                lo, hi = bounds[i], bounds[i + 1]
                width, height = (int(v) for v in data["image_sizes"][i])
                cache[key] = LocalFeatures(keypoints[lo:hi], sizes[lo:hi], angles[lo:hi], descriptors[lo:hi], (width, height))
        return cache
