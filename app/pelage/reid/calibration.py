"""How well P(same animal) fits a project's own decisions, and a refit of it from them.

The bundled calibration was fitted on nyala pairs. On another species or another camera set-up the same cosine and
inlier count can mean something else (tried on snow leopards, true matches were shown at 7–10 %, like non-matches).
Once a project holds enough confirmed matches and rejections, the logistic model is refitted on them, pulled toward
the model's own fit by a Gaussian prior, so that a few dozen decisions adjust it rather than replace it. Whether
that helps is measured by cross-validation over the decisions: the expected calibration error (does "80 %" come true
four times in five?) and the chance that a true match is scored above a non-match (the ranking a reviewer sees).

A refit is kept in the project as ``calibration/<model id>.json``: three numbers and the figures behind them, plain
JSON. A file that is damaged or not one of ours is ignored (the model's own calibration is used), never trusted; so
is one fitted on inlier counts from another version of the pattern matcher (the same numbers then mean other things).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from pelage.reid.rerank import FusionCalibration, fit_calibration, fuse_scores, matcher_signature

MIN_EACH = 10  # matches and rejections each, before a project's own decisions are used
# The prior's precision: how many pairs' worth of weight the model's own fit keeps. Set before any leopard or
# snow-leopard pair was scored, and not tuned on them (they are what the refit is judged on).
PRIOR_PRECISION = 1.0
FOLDS = 5
BINS = 10
FOLDER = "calibration"
FORMAT = "pelage-calibration/1"


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    predicted: float  # mean P(same) of the pairs in the bin
    observed: float  # share of them that are the same animal
    count: int


@dataclass(frozen=True)
class CalibrationCheck:
    """Cross-validated figures of the refit, beside the same figures for the model's fit on the same pairs."""

    pairs: int
    matches: int
    ece: float  # expected calibration error of the refit, on pairs it was not fitted on
    auc: float  # P(a true match scores above a non-match), refit
    prior_ece: float  # the same for the model's own calibration, unchanged
    prior_auc: float
    bins: tuple[ReliabilityBin, ...]  # the refit's reliability curve (held-out predictions)

    def as_dict(self) -> dict:
        return asdict(self)


def reliability(probability: np.ndarray, same: np.ndarray, bins: int = BINS) -> tuple[float, tuple[ReliabilityBin, ...]]:
    """(expected calibration error, the non-empty bins): equal-width bins of P, each weighted by its share of pairs."""
    probability, same = np.asarray(probability, np.float64), np.asarray(same, np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probability, edges[1:-1]), 0, bins - 1)
    found, error = [], 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            predicted, observed = float(probability[inside].mean()), float(same[inside].mean())
            error += inside.mean() * abs(predicted - observed)
            found.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]), predicted, observed, int(inside.sum())))
    return float(error), tuple(found)


def ranking_auc(score: np.ndarray, same: np.ndarray) -> float:
    """P(a random true match scores above a random non-match), ties counting half (Mann–Whitney)."""
    score, same = np.asarray(score, np.float64), np.asarray(same, bool)
    positives, negatives = score[same], score[~same]
    if not len(positives) or not len(negatives):
        return float("nan")
    above = (positives[:, None] > negatives[None, :]).sum() + 0.5 * (positives[:, None] == negatives[None, :]).sum()
    return float(above / (len(positives) * len(negatives)))


def enough(same: np.ndarray) -> bool:
    same = np.asarray(same, bool)
    return int(same.sum()) >= MIN_EACH and int((~same).sum()) >= MIN_EACH


def refit(cosine: np.ndarray, inliers: np.ndarray, same: np.ndarray, prior: FusionCalibration) -> FusionCalibration:
    """The calibration refitted on these decided pairs, drawn toward ``prior``."""
    return fit_calibration(cosine, inliers, same, prior=prior, prior_precision=PRIOR_PRECISION)


def cross_validate(cosine: np.ndarray, inliers: np.ndarray, same: np.ndarray, prior: FusionCalibration, folds: int = FOLDS,
                   seed: int = 0) -> CalibrationCheck:
    """Refit on all folds but one, predict that one, for each fold; figures from the pooled held-out predictions."""
    cosine, inliers, same = (np.asarray(a, np.float64) for a in (cosine, inliers, same))
    if not enough(same):
        raise ValueError(f"needs at least {MIN_EACH} confirmed matches and {MIN_EACH} rejections, has {int(same.sum())} and "
                         f"{int(len(same) - same.sum())}")
    rng = np.random.default_rng(seed)
    fold = np.empty(len(same), int)
    for label in (0.0, 1.0):  # stratified: every fold holds matches and rejections alike
        rows = rng.permutation(np.flatnonzero(same == label))
        fold[rows] = np.arange(len(rows)) % folds
    held_out = np.empty(len(same))
    for f in range(folds):
        test = fold == f
        fitted = refit(cosine[~test], inliers[~test], same[~test], prior)
        held_out[test] = fuse_scores(cosine[test], inliers[test], fitted)
    ece, bins = reliability(held_out, same)
    before = fuse_scores(cosine, inliers, prior)
    return CalibrationCheck(len(same), int(same.sum()), ece, ranking_auc(held_out, same), reliability(before, same)[0],
                            ranking_auc(before, same), bins)


def calibration_path(project_root: Path, model_id: str) -> Path:
    return Path(project_root) / FOLDER / f"{model_id}.json"


def save_calibration(project_root: Path, model_id: str, fitted: FusionCalibration, check: CalibrationCheck) -> Path:
    """Write the project's refit atomically; returns the file."""
    path = calibration_path(project_root, model_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "model_id": model_id, "matcher": matcher_signature(), "calibration": fitted.to_dict(),
            "check": check.as_dict(),
            "fitted_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(path)
    return path


def saved_calibration(project_root: Path, model_id: str) -> FusionCalibration | None:
    """The project's refit for ``model_id``, or None (none yet, or a file that is not a sound one)."""
    try:
        data = json.loads(calibration_path(project_root, model_id).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or data.get("model_id") != model_id or data.get("matcher") != matcher_signature():
            return None
        fitted = FusionCalibration.from_dict(data["calibration"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    numbers = (fitted.cosine_weight, fitted.inlier_weight, fitted.bias)
    return fitted if all(math.isfinite(value) for value in numbers) else None
