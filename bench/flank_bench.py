"""Flank prediction: held-out nyala sightings, and leopards and snow leopards whose folder names give the side.

For each set, one JSON line: accuracy on the crops the predictor dares to guess, coverage (the share it
guesses rather than leaving "unknown"), and accuracy if it were forced to choose. Nyala crops come from the
crop cache that training uses (the import pipeline, photo by photo); the leopards and snow leopards are
imported into a temporary project with the real pipeline, as `pelage import` would, and their crops are read
from there. A photo in which the detector finds no animal gets the box a user would draw (`pelage add-box`):
the whole photo for the leopards (already cropped), the annotated box for the snow leopards. With ``--fit``
the head is fitted again first: weights on the train identities (L2 strength by identity-grouped 5-fold
cross-validation), confidence scale and threshold on the calibration identities. Nothing is chosen on the
validation identities, the leopards or the snow leopards.

    python bench/flank_bench.py [--fit] [--threads 2] [--cache .cache/nyala]
"""

from __future__ import annotations

import argparse
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from sqlalchemy import select

from _common import REPO_ROOT, print_json, shared_dataset
from pelage.ingest import DetectorConfig, ImportOptions, add_user_box, build_pipeline, import_survey
from pelage.paths import resolve_user_paths
from pelage.reid.crops import load_crop, load_model_input
from pelage.reid.embed import Embedder
from pelage.reid.flank import FlankHead, choose_threshold, fit_temperature, fit_weights, flip_differences, head_path, load_head, save_head, score
from pelage.reid.metrics import LabelRow, load_labels
from pelage.reid.workflow import prepare_folder
from pelage.store import Detection, Image, open_project

L2_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
TARGET_ACCURACY = 0.95  # the threshold keeps guesses that were right at least this often on the calibration identities…
TARGET_COVERAGE = 0.95  # …and is as high as still guesses this share of them (a less sure guess: unlike the nyala it knows)
FOLDS = 5


def nyala_differences(embedder: Embedder, root: Path, cache: Path, threads: int) -> tuple[list[LabelRow], np.ndarray]:
    """d(x) = e(x) − e(flip(x)) of every nyala photo with a crop, remembered beside the crop cache."""
    rows = load_labels(root / "labels.csv")
    saved = cache / f"flank-differences-{embedder.model_id}.npz"
    known: dict[str, np.ndarray] = {}
    if saved.is_file():
        with np.load(saved, allow_pickle=False) as data:
            known = dict(zip((str(path) for path in data["paths"]), data["differences"], strict=True))
    folder = prepare_folder(root, cache, [row.path for row in rows], threads=threads)
    missing = [record for record in folder.records if record.path not in known]
    for start in range(0, len(missing), 64):  # saved as it goes: a long run that is stopped keeps its work
        batch = missing[start:start + 64]
        differences = flip_differences(embedder.embed, [load_crop(cache, r) for r in batch], halves=embedder.halves)
        known.update(zip((record.path for record in batch), differences, strict=True))
        np.savez(saved, paths=np.array(list(known), dtype=str), differences=np.stack(list(known.values())))
        print(f"nyala: {len(known)} of {len(folder.records)} crops embedded both ways", flush=True)
    by_path = {row.path: row for row in rows}
    return [by_path[path] for path in folder.paths], np.stack([known[path] for path in folder.paths])


def _log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return float(-np.mean(np.where(y, np.log(p), np.log(1 - p))))


def choose_l2(differences: np.ndarray, is_left: np.ndarray, identities: np.ndarray) -> tuple[float, dict]:
    """The L2 strength with the lowest held-out log-loss, folds made of whole identities (a sighting never straddles)."""
    names = np.array(sorted(set(identities.tolist())))
    fold_of = {name: i % FOLDS for i, name in enumerate(np.random.default_rng(0).permutation(names))}
    fold = np.array([fold_of[name] for name in identities])
    losses = {}
    for l2 in L2_GRID:
        predicted = np.zeros(len(is_left))
        for k in range(FOLDS):
            weights = fit_weights(differences[fold != k], is_left[fold != k], l2)
            predicted[fold == k] = 1 / (1 + np.exp(-(differences[fold == k] @ weights)))
        losses[l2] = _log_loss(predicted, is_left)
    best = min(losses, key=losses.get)
    return best, {str(l2): round(loss, 4) for l2, loss in losses.items()}


def fit_head(model_id: str, rows: list[LabelRow], differences: np.ndarray, split: dict) -> FlankHead:
    is_left = np.array([row.view == "left" for row in rows])
    part = np.array([_part(row, split) for row in rows])
    identities = np.array([row.identity for row in rows])
    train, calibration = part == "train", part == "calibration"
    l2, cv_losses = choose_l2(differences[train], is_left[train], identities[train])
    weights = fit_weights(differences[train], is_left[train], l2)
    scale = fit_temperature(differences[calibration] @ weights, is_left[calibration])
    weights = weights * scale
    p_calibration = 1 / (1 + np.exp(-(differences[calibration] @ weights)))
    threshold = choose_threshold(p_calibration, is_left[calibration], TARGET_ACCURACY, TARGET_COVERAGE)
    return FlankHead(model_id, weights, threshold, {
        "model": "nyala-lite0",
        "fit": {"data": "../shared/data/nyala, identity splits of nyala-lite0/config.json",
                "weights": f"train identities: {int(train.sum())} photos; L2 {l2} chosen by identity-grouped {FOLDS}-fold "
                           "cross-validation on them",
                "cv_log_loss": cv_losses,
                "confidence_scale": f"{scale:.4f}, fitted on calibration identities: {int(calibration.sum())} photos",
                "threshold": f"highest confidence (0.01 steps) that still guesses {TARGET_COVERAGE:.0%} of the calibration "
                             f"identities' photos, right at least {TARGET_ACCURACY:.0%} of the time",
                "validation": "never used to choose anything"},
    })


def _part(row: LabelRow, split: dict) -> str:
    for name in ("train", "calibration", "validation"):
        if row.identity in split[name]:
            return name
    return "none"


def side_from_folder(name: str) -> str | None:
    lowered = name.lower()
    if lowered.endswith("_left") or lowered.startswith("left_"):
        return "left"
    if lowered.endswith("_right") or lowered.startswith("right_"):
        return "right"
    return None


def voc_box(image: Path) -> tuple[float, float, float, float] | None:
    xml = image.parent / "annotation" / f"{image.stem}.xml"
    if not xml.is_file():
        return None
    box = ET.parse(xml).find("object/bndbox")
    return tuple(float(box.find(tag).text) for tag in ("xmin", "ymin", "xmax", "ymax"))


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union else 0.0


def imported_crops(root: Path, threads: int) -> tuple[list[np.ndarray], np.ndarray, dict]:
    """Import ``root`` into a scratch project; per photo, the labelled animal's model input and its side."""
    crops, sides, drawn = [], [], 0
    with tempfile.TemporaryDirectory() as scratch, open_project(Path(scratch) / "project", create=True) as project:
        user_paths = resolve_user_paths()
        import_survey(project, root, lambda: build_pipeline(user_paths, project.artefacts, DetectorConfig(), threads=threads),
                      ImportOptions())
        boxes = build_pipeline(user_paths, project.artefacts, DetectorConfig(name="saliency"), threads=threads)
        with project.sessions() as session:
            images = [(image.id, image.path, image.width, image.height) for image in session.scalars(select(Image).order_by(Image.path))]
        for image_id, relative, width, height in images:
            side = side_from_folder(relative.split("/")[0])
            if side is None:
                continue
            annotated = voc_box(root / relative)
            with project.sessions() as session:
                found = [(d.id, d.box, d.score) for d in session.scalars(select(Detection).where(Detection.image_id == image_id,
                                                                                                 Detection.label == "animal"))]
            if annotated is not None:
                found = [item for item in found if _iou(item[1], annotated) >= 0.3]
            if found:
                detection_id = max(found, key=lambda item: (_iou(item[1], annotated) if annotated else item[2]))[0]
            else:  # what a user does in "Photos without an animal": draw the box
                detection_id = add_user_box(project, boxes, image_id, annotated or (0.0, 0.0, float(width), float(height)))
                drawn += 1
            with project.sessions() as session:
                detection = session.get(Detection, detection_id)
                crops.append(load_model_input(project.artefacts, detection.crop_path, detection.mask_path, detection.edge_path))
            sides.append(side == "left")
    return crops, np.array(sides, bool), {"photos": len(sides), "boxes_drawn": drawn}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="fit the head again and write it to models/ before measuring")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / ".cache" / "nyala", help="crop cache for the nyala photos")
    args = parser.parse_args()
    embedder = Embedder(None, device="cpu", threads=args.threads)
    split = {name: set(embedder.bundle.extra["training_data"][name]["identities"]) for name in ("train", "calibration", "validation")}
    head = None
    if (root := shared_dataset("nyala")) is not None:
        rows, differences = nyala_differences(embedder, root, args.cache, args.threads)
        if args.fit:
            head = fit_head(embedder.model_id, rows, differences, split)
            save_head(head, head_path())
            print(f"wrote {head_path()}: threshold {head.threshold}", flush=True)
        head = head or load_head()
        part = np.array([_part(row, split) for row in rows])
        is_left = np.array([row.view == "left" for row in rows])
        p_left = head.p_left(differences)
        for name in ("calibration", "validation"):
            chosen = part == name
            print_json("flank", {"set": f"nyala {name} identities", "identities": len(split[name]),
                                 **score(p_left[chosen], is_left[chosen], head.threshold).as_dict()})
    head = head or load_head()
    if head.model_id != embedder.model_id:
        raise SystemExit(f"the flank head reads {head.model_id}, not {embedder.model_id}")
    for name in ("leopards", "snow-leopards"):
        if (root := shared_dataset(name)) is None:
            continue
        crops, is_left, facts = imported_crops(root, args.threads)
        p_left = head.p_left(flip_differences(embedder.embed, crops, halves=embedder.halves))
        print_json("flank", {"set": name, **facts, "left": int(is_left.sum()), **score(p_left, is_left, head.threshold).as_dict()})


if __name__ == "__main__":
    main()
