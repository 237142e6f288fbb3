"""Identification on plain folders of photos: what ``pelage train / embed / rank / evaluate`` call.

Every photo goes through the import pipeline once (cached), so a labelled data set, a benchmark and
an imported survey give the network the same input. Functions here compose the pieces; the pieces
(crops, nets, rerank, ranking, metrics) stay pure and separately tested.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pelage.ingest.artefacts import read_grey, read_rgb
from pelage.reid.bundle import load_model, save_model, update_calibration
from pelage.reid.crops import CropFailure, CropRecord, list_images, load_crop, prepare_crops, records_by_path
from pelage.reid.devices import resolve_device
from pelage.reid.embed import embed_with, identification_vectors
from pelage.reid.metrics import LabelRow, ReidScores, evaluate_similarity, identity_split
from pelage.reid.nets import EmbeddingNet, ModelConfig
from pelage.reid.ranking import (
    SHORTLIST,
    all_pairs,
    cosine_similarity,
    fused_similarity,
    shortlist_pairs,
    verified_inliers,
    vouched_similarity,
)
from pelage.reid.rerank import MAX_KEYPOINTS, FusionCalibration, LocalFeatures, extract_features, fit_calibration, matcher_signature
from pelage.reid.spot_words import fit_crop_vocabulary
from pelage.reid.train import LabelledCrop, Recipe, train_embedding, write_training_record

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def _quiet(stage: str, done: int, total: int) -> None:
    """The default progress callback: report nothing."""


@dataclass(frozen=True)
class PreparedFolder:
    """A folder's photos after the pipeline: one record per photo that could be read."""

    root: Path
    cache: Path
    records: list[CropRecord]
    failures: list[CropFailure]

    @property
    def paths(self) -> list[str]:
        return [record.path for record in self.records]

    @property
    def undetected(self) -> list[str]:
        return [record.path for record in self.records if not record.detected]

    def crops(self) -> list[np.ndarray]:
        return [load_crop(self.cache, record) for record in self.records]


def default_crop_cache(root: Path) -> Path:
    """A per-folder cache in the user's cache directory, so a data set folder is never written to."""
    import platformdirs

    key = hashlib.sha256(str(Path(root).resolve()).encode("utf-8")).hexdigest()[:16]
    return Path(platformdirs.user_cache_dir("pelage", appauthor=False)) / "crops" / key


def prepare_folder(root: Path, cache: Path | None = None, relpaths: Sequence[str] | None = None, threads: int | None = None,
                   progress: Progress = _quiet) -> PreparedFolder:
    """Detect, mask and edge every photo under ``root`` (or the listed ones), reusing the cache."""
    from pelage.ingest.pipeline import build_pipeline  # loads the detector's dependencies only when needed
    from pelage.paths import resolve_user_paths

    root = Path(root)
    cache = Path(cache) if cache is not None else default_crop_cache(root)
    relpaths = list(relpaths) if relpaths is not None else list_images(root)
    records, failures = prepare_crops(root, relpaths, cache, lambda folder: build_pipeline(resolve_user_paths(), folder, threads=threads),
                                      lambda done, total: progress("prepare", done, total))
    return PreparedFolder(root, cache, records, failures)


def cached_folder(cache: Path, relpaths: Sequence[str]) -> PreparedFolder:
    """Records of an already prepared cache, for a machine that has the cache but not the photos."""
    known = records_by_path(cache)
    missing = [path for path in relpaths if path not in known]
    return PreparedFolder(Path(), Path(cache), [known[path] for path in relpaths if path in known],
                          [CropFailure(path, "not in the crop cache") for path in missing])


def local_features(folder: PreparedFolder, progress: Progress = _quiet, max_keypoints: int = MAX_KEYPOINTS) -> list[LocalFeatures]:
    """RootSIFT features of every crop inside its mask (the ``max_keypoints`` strongest)."""
    features = []
    for done, record in enumerate(folder.records, 1):
        features.append(extract_features(read_rgb(folder.cache / record.crop), read_grey(folder.cache / record.mask),
                                         max_keypoints=max_keypoints))
        progress("features", done, len(folder.records))
    return features


def embed_folder(model: EmbeddingNet, folder: PreparedFolder, progress: Progress = _quiet) -> np.ndarray:
    total = len(folder.records)
    return identification_vectors(model, (load_crop(folder.cache, record) for record in folder.records),
                                  progress=lambda done: progress("embed", done, total))


def imagenet_embeddings(folder: PreparedFolder, config: ModelConfig = ModelConfig()) -> np.ndarray:
    """The baseline: pooled ImageNet features of the same 4-channel crops at the same input size; no training, no head."""
    import torch

    backbone = EmbeddingNet(config, pretrained=True).backbone.eval()

    class PooledOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.config, self.backbone = config, backbone

        def forward(self, batch: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.normalize(self.backbone(batch), dim=1)

    return embed_with(PooledOnly(), (load_crop(folder.cache, record) for record in folder.records))


def same_entity_pairs(rows: Sequence[LabelRow]) -> tuple[np.ndarray, np.ndarray]:
    """For every unordered pair: whether it counts (different sightings) and whether it is the same identity + view."""
    entity = np.array([row.entity for row in rows], dtype=object)
    sighting = np.array([row.sighting for row in rows], dtype=object)
    counted = sighting[:, None] != sighting[None, :]
    return counted, entity[:, None] == entity[None, :]


def fit_folder_calibration(model: EmbeddingNet, folder: PreparedFolder, rows: Sequence[LabelRow],
                           shortlist: int = SHORTLIST, progress: Progress = _quiet) -> tuple[FusionCalibration, dict]:
    """Fit P(same animal | cosine, inliers) on labelled crops the model did not train on."""
    cosine = cosine_similarity(embed_folder(model, folder, progress))
    features = local_features(folder, progress)
    inliers = verified_inliers(features, shortlist_pairs(cosine, shortlist), lambda d, t: progress("verify", d, t))
    return fit_labelled_calibration(cosine, inliers, rows)


def fit_labelled_calibration(cosine: np.ndarray, inliers: np.ndarray, rows: Sequence[LabelRow]) -> tuple[FusionCalibration, dict]:
    """The logistic fit on every pair of different sightings, and a note of what it saw (for the model's config)."""
    counted, same = same_entity_pairs(rows)
    upper = np.triu(counted, k=1)
    calibration = fit_calibration(cosine[upper], inliers[upper], same[upper])
    return calibration, {"pairs": int(upper.sum()), "positive_pairs": int(same[upper].sum()), "images": len(rows),
                         "matcher": matcher_signature()}


@dataclass(frozen=True)
class SplitRows:
    """Identity-disjoint thirds of a labelled set: trained on, calibrated on, and held out for evaluation."""

    train: list[LabelRow]
    calibration: list[LabelRow]
    validation: list[LabelRow]

    def summary(self) -> dict:
        def describe(rows: list[LabelRow]) -> dict:
            return {"images": len(rows), "identities": sorted({row.identity for row in rows})}

        return {"train": describe(self.train), "calibration": describe(self.calibration), "validation": describe(self.validation)}


def split_rows(rows: Sequence[LabelRow], validation_fraction: float, calibration_fraction: float, seed: int) -> SplitRows:
    """Validation identities first (the figures we report), then calibration identities from the rest."""
    rest, validation = identity_split(rows, validation_fraction, seed)
    share = calibration_fraction / max(1e-9, 1.0 - validation_fraction)
    train, calibration = identity_split(rest, min(1.0, share), seed + 1)
    return SplitRows(train, calibration, validation)


def labelled_crops(folder: PreparedFolder, rows: Sequence[LabelRow]) -> list[LabelledCrop]:
    by_path = {row.path: row for row in rows}
    return [LabelledCrop(load_crop(folder.cache, record), by_path[record.path].identity, by_path[record.path].view)
            for record in folder.records]


def _rows_for(folder: PreparedFolder, rows: Sequence[LabelRow]) -> list[LabelRow]:
    """The label rows of the photos that made it into ``folder``, in its order."""
    by_path = {row.path: row for row in rows}
    return [by_path[path] for path in folder.paths]


def evaluation_scores(rows: Sequence[LabelRow], sim: np.ndarray) -> ReidScores:
    return evaluate_similarity(sim, [row.entity for row in rows], [row.sighting for row in rows])


def train_from_labels(
    rows: Sequence[LabelRow],
    folder_for: Callable[[Sequence[str]], PreparedFolder],
    out_dir: Path,
    name: str,
    recipe: Recipe = Recipe(),
    config: ModelConfig = ModelConfig(),
    validation_fraction: float = 0.2,
    calibration_fraction: float = 0.1,
    split_seed: int = 0,
    resume: bool = False,
    progress: Progress = _quiet,
    on_epoch: Callable[[dict], None] | None = None,
) -> Path:
    """Train on the training identities, log calibration figures, fit the score calibration, save the model.

    The figures logged while training are the calibration identities', the split every choice is made on:
    the validation identities are not looked at until a frozen model is scored on them
    (``bench/reid_bench.py --split validation``), so reading a training log cannot steer a choice.
    ``folder_for(paths)`` gives prepared crops for label paths (from photos, or from a copied cache).
    """
    split = split_rows(rows, validation_fraction, calibration_fraction, split_seed)
    train_folder = folder_for([row.path for row in split.train])
    calibration_folder = folder_for([row.path for row in split.calibration])
    calibration_rows = _rows_for(calibration_folder, split.calibration)

    def check(model: EmbeddingNet) -> dict[str, float]:
        scores = evaluation_scores(calibration_rows, cosine_similarity(embed_folder(model, calibration_folder))).as_dict()
        return {key: round(value, 4) for key, value in scores.items()}

    training = labelled_crops(train_folder, split.train)
    model, state = train_embedding(training, out_dir, recipe, config, resume=resume, validate=check if calibration_rows else None,
                                   held_out_name="calibration", progress=on_epoch)
    data = {"split_seed": split_seed, "validation_fraction": validation_fraction, "calibration_fraction": calibration_fraction,
            **split.summary(), "missing_crops": [failure.path for failure in train_folder.failures]}
    write_training_record(out_dir, recipe, state, data)
    try:
        model.spot_words = fit_crop_vocabulary([crop.image for crop in training])  # the words of the coats it was trained on
    except ValueError:
        model.spot_words = None  # too few keypoints (a handful of small crops): identification by the embedding alone
    bundle = save_model(model.cpu(), out_dir, name, extra={"training_data": data})
    if calibration_rows:
        model, _ = load_model(out_dir, resolve_device(recipe.device))  # calibrate what was saved (float16 weights)
        calibration, note = fit_folder_calibration(model, calibration_folder, calibration_rows, progress=progress)
        update_calibration(out_dir, calibration, note)
    return bundle.directory


@dataclass(frozen=True)
class FolderRanking:
    paths: list[str]
    cosine: np.ndarray
    inliers: np.ndarray
    fused: np.ndarray  # each pair's own P(same animal) from its cosine and verified spots: symmetric
    ranked: np.ndarray  # row i: the scores image i's candidates are shown by (vouching included, as in review)


def rank_prepared(model: EmbeddingNet, calibration: FusionCalibration, folder: PreparedFolder, shortlist: int = SHORTLIST,
                  progress: Progress = _quiet, groups: Sequence[object] | None = None) -> FolderRanking:
    """Embedding cosine, the fused (embedding + verified pattern) score of every pair, and each image's candidates scored
    as review ranks them (:func:`pelage.reid.ranking.vouched_similarity`; ``groups``: images that may not vouch for
    each other, e.g. one sighting under the evaluation protocol)."""
    embeddings = embed_folder(model, folder, progress)
    features = local_features(folder, progress)
    fused, inliers = fused_similarity(embeddings, features, calibration, shortlist, lambda d, t: progress("verify", d, t))
    cosine = cosine_similarity(embeddings)
    ranked = vouched_similarity(fused, inliers, cosine, features, calibration, shortlist, groups)
    return FolderRanking(folder.paths, cosine, inliers, fused, ranked)


def sift_only_similarity(folder: PreparedFolder, progress: Progress = _quiet) -> np.ndarray:
    """Verified inliers for every pair: HotSpotter-style matching with no embedding at all."""
    features = local_features(folder, progress)
    inliers = verified_inliers(features, all_pairs(len(features)), lambda d, t: progress("verify", d, t))
    np.fill_diagonal(inliers, np.inf)
    return inliers


def evaluate_labelled(model: EmbeddingNet, calibration: FusionCalibration, rows: Sequence[LabelRow], root: Path,
                      cache: Path | None = None, threads: int | None = None, progress: Progress = _quiet) -> dict:
    """The protocol's figures for the embedding alone and for the full system, on labelled photos."""
    folder = prepare_folder(root, cache, [row.path for row in rows], threads, progress)
    kept = _rows_for(folder, rows)
    ranking = rank_prepared(model, calibration, folder, progress=progress, groups=[row.sighting for row in kept])
    embedding, full = evaluation_scores(kept, ranking.cosine), evaluation_scores(kept, ranking.ranked)
    return {"images": len(kept), "queries": embedding.queries, "identities": embedding.identities,
            "embedding": embedding.as_dict(), "full": full.as_dict(), "unreadable": [failure.path for failure in folder.failures]}
