"""Which flank a crop shows (left, right, or not sure), read from the identification model's embedding.

The bundled model was trained with (identity, flank, mirrored) as classes, so its embedding carries the
side an animal shows. The head is a logistic regression without bias on d(x) = e(x) − e(flip(x)): since
d(flip(x)) = −d(x), P(left | flip(x)) = 1 − P(left | x) by construction, so a mirrored crop always gets
the other side and no side is favoured. A guess less confident than the head's threshold stays "not
known", so the "same flank only" filter never hides a candidate on a weak guess. The weights are a JSON
file under ``models/`` (no pickle); which split chose what is in its model card.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pelage.reid.errors import ModelFolderError
from pelage.reid.folders import DEFAULT_MODEL, bundled_models_dir

HEAD_FORMAT = 1
DEFAULT_HEAD = f"flank-{DEFAULT_MODEL}.json"
LEFT, RIGHT = "left", "right"

Embed = Callable[[Sequence[np.ndarray]], np.ndarray]  # crops → N×D unit vectors
Halves = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # identification vectors → e(x), e(flip(x))


@dataclass(frozen=True)
class FlankGuess:
    """A prediction: ``flank`` is None when the more likely side is below the head's threshold."""

    flank: str | None
    confidence: float  # P(the more likely side), 0.5–1
    p_left: float


@dataclass(frozen=True)
class FlankHead:
    """Logistic weights over d(x) for the embedding of model ``model_id`` (another model's vectors do not fit)."""

    model_id: str
    weights: np.ndarray  # D, float64; P(left) = σ(weights · d)
    threshold: float  # a guess below this confidence stays "not known"
    extra: dict = field(default_factory=dict)  # provenance: splits, regularisation, figures

    def p_left(self, differences: np.ndarray) -> np.ndarray:
        """P(left flank) for N×D flip differences."""
        differences = np.asarray(differences, np.float64).reshape(-1, len(self.weights))
        return 1.0 / (1.0 + np.exp(-(differences @ self.weights)))

    def guesses(self, differences: np.ndarray) -> list[FlankGuess]:
        return [guess(float(p), self.threshold) for p in self.p_left(differences)]

    def to_dict(self) -> dict:
        return {"format": HEAD_FORMAT, "model_id": self.model_id, "threshold": self.threshold,
                "weights": [round(float(w), 7) for w in self.weights], **self.extra}

    @classmethod
    def from_dict(cls, data: dict) -> FlankHead:
        if data.get("format") != HEAD_FORMAT:
            raise ValueError(f"flank head format {data.get('format')!r}; this Pelage reads format {HEAD_FORMAT}")
        weights = np.asarray(data["weights"], np.float64)
        if weights.ndim != 1 or not len(weights) or not np.all(np.isfinite(weights)):
            raise ValueError("flank head weights must be a non-empty list of finite numbers")
        threshold = float(data["threshold"])
        if not 0.5 <= threshold <= 1.0:
            raise ValueError(f"flank head threshold {threshold} is not between 0.5 and 1")
        known = {"format", "model_id", "threshold", "weights"}
        return cls(str(data["model_id"]), weights, threshold, {k: v for k, v in data.items() if k not in known})


def guess(p_left: float, threshold: float) -> FlankGuess:
    """The side for P(left), or None below ``threshold``."""
    confidence = max(p_left, 1.0 - p_left)
    side = (LEFT if p_left >= 0.5 else RIGHT) if confidence >= threshold else None
    return FlankGuess(side, confidence, p_left)


def same_flank_allowed(flanks: Sequence[str | None], others: Sequence[str | None] | None = None) -> np.ndarray:
    """Which pairs review's "same flank only" lets stand side by side: rows ``flanks``, columns ``others`` (by default
    the same crops). A pair is left out only when both sides are known and differ, as :class:`ReviewSession` shortlists
    an anchor of a known flank among that flank and the unknown ones (an anchor of unknown flank sees every photo). The
    identification bench ranks within it, so its figures are those of the path review runs by default."""
    def codes(sides: Sequence[str | None]) -> np.ndarray:
        return np.array([{LEFT: 1, RIGHT: 2}.get(side, 0) for side in sides], np.int8)

    rows = codes(flanks)
    columns = rows if others is None else codes(others)
    return (rows[:, None] == 0) | (columns[None, :] == 0) | (rows[:, None] == columns[None, :])


def mirrored(crop: np.ndarray) -> np.ndarray:
    """The crop flipped left to right (every channel: the edges and the mask follow the coat)."""
    return np.ascontiguousarray(crop[:, ::-1])


def flip_differences(embed: Embed, crops: Sequence[np.ndarray], vectors: np.ndarray | None = None,
                     halves: Halves | None = None) -> np.ndarray:
    """N×D e(x) − e(flip(x)); ``vectors`` are what ``embed`` gives for the crops when the caller already has them
    (identification does). With ``halves`` (a mirror-features model: :func:`pelage.reid.embed.mirror_halves`) those
    vectors hold e(x) and e(flip(x)) already: nothing more is embedded."""
    if not len(crops):
        return np.zeros((0, 0), np.float64)
    if vectors is None:
        vectors = embed(list(crops))
    if halves is not None:
        as_is, mirror_image = halves(vectors)
        return np.asarray(as_is, np.float64) - np.asarray(mirror_image, np.float64)
    return np.asarray(vectors, np.float64) - np.asarray(embed([mirrored(crop) for crop in crops]), np.float64)


def head_path(name: str | Path | None = None) -> Path:
    """A head file by path, or by name among the bundled models (default: the head of the bundled model)."""
    candidate = Path(name) if name is not None else None
    if candidate is not None and candidate.is_file():
        return candidate
    return bundled_models_dir() / (str(name) if name is not None else DEFAULT_HEAD)


def load_head(name: str | Path | None = None) -> FlankHead:
    path = head_path(name)
    try:
        return FlankHead.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFolderError(f"cannot read the flank predictor {path}: {exc}") from exc


def save_head(head: FlankHead, path: Path) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(head.to_dict(), indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


# Fitting (bench/flank_bench.py --fit): pure numpy, so the package needs no solver library.

def fit_weights(differences: np.ndarray, is_left: np.ndarray, l2: float, iterations: int = 50) -> np.ndarray:
    """L2-regularised logistic regression without bias, by Newton's method; ``l2`` is the penalty per sample.

    No mirrored copies are needed: without a bias, a mirror (−d, the other side) adds exactly the same
    gradient as its original.
    """
    x = np.asarray(differences, np.float64)
    y = np.asarray(is_left, np.float64)
    n, dim = x.shape
    weights = np.zeros(dim)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ weights)))
        gradient = x.T @ (p - y) / n + l2 * weights
        hessian = (x * (p * (1 - p))[:, None]).T @ x / n + l2 * np.eye(dim)
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return weights


def fit_temperature(logits: np.ndarray, is_left: np.ndarray) -> float:
    """The scale a on the logits that maximises the likelihood of held-out labels (Platt scaling without a
    bias, so the symmetry stays): the shown confidence then means what it says on photos the head never saw."""
    scales = np.exp(np.linspace(np.log(0.05), np.log(5.0), 400))
    z = np.where(is_left, 1.0, -1.0) * logits
    losses = [np.logaddexp(0.0, -scale * z).mean() for scale in scales]
    return float(scales[int(np.argmin(losses))])


def choose_threshold(p_left: np.ndarray, is_left: np.ndarray, target: float, coverage: float, minimum_kept: int = 10) -> float:
    """The highest confidence (in steps of 0.01) that still guesses ``coverage`` of these crops, right at least
    ``target`` of the time; the lowest one right that often when no threshold keeps enough.

    On the species it was fitted on nearly every guess is near-certain, so a guess less sure than almost all of
    them says the crop is unlike what the head knows (another species, an odd view): it stays "not known".
    """
    confidence = np.maximum(p_left, 1 - p_left)
    right = (p_left >= 0.5) == is_left
    grid = np.round(np.arange(0.5, 1.0, 0.01), 2)
    good = [float(t) for t in grid if (confidence >= t).sum() >= minimum_kept and right[confidence >= t].mean() >= target]
    wide = [t for t in good if (confidence >= t).mean() >= coverage]
    return max(wide) if wide else (min(good) if good else 1.0)


@dataclass(frozen=True)
class FlankScores:
    """Accuracy on the guesses made, the share of crops guessed, and accuracy if forced to choose."""

    crops: int
    accuracy: float
    coverage: float
    forced_accuracy: float

    def as_dict(self) -> dict:
        return {"crops": self.crops, "accuracy": round(self.accuracy, 4), "coverage": round(self.coverage, 4),
                "forced_accuracy": round(self.forced_accuracy, 4)}


def score(p_left: np.ndarray, is_left: np.ndarray, threshold: float) -> FlankScores:
    p_left, is_left = np.asarray(p_left, np.float64), np.asarray(is_left, bool)
    right = (p_left >= 0.5) == is_left
    kept = np.maximum(p_left, 1 - p_left) >= threshold
    return FlankScores(len(p_left), float(right[kept].mean()) if kept.any() else float("nan"),
                       float(kept.mean()) if len(kept) else 0.0, float(right.mean()) if len(right) else float("nan"))


@dataclass(frozen=True)
class FlankPredictor:
    """A head and the embedding it reads: ``embed`` runs model ``model_id`` (the head's), whose vectors hold the
    mirror image's embedding too when ``halves`` reads them back."""

    head: FlankHead
    embed: Embed
    halves: Halves | None = None

    def predict(self, crops: Sequence[np.ndarray], vectors: np.ndarray | None = None) -> list[FlankGuess]:
        """One guess per crop; ``vectors`` (e(x) by the head's model, when the caller has them) save half the work."""
        if not len(crops):
            return []
        return self.head.guesses(flip_differences(self.embed, crops, vectors, self.halves))
