"""A project's own score calibration, refitted from its reviewers' decisions (see :mod:`pelage.reid.calibration`).

``pelage calibrate PROJECT`` (and the Training tab) gathers every confirmed match and rejection in force, scores
each pair as review does (embedding cosine, verified spots), cross-validates a refit against the model's own
calibration, and keeps the refit in the project (:func:`pelage.reid.calibration.save_calibration`). From then on
review and ``pelage candidates`` show that project's P(same animal).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select

from pelage.reid.calibration import CalibrationCheck, cross_validate, enough, refit, save_calibration
from pelage.reid.candidates import stored_vectors
from pelage.reid.nearest import unit_rows
from pelage.reid.rerank import FusionCalibration
from pelage.reid.scenery import detection_places
from pelage.reid.scoring import PatternScorer
from pelage.review.graph import DecisionGraph
from pelage.store import Project
from pelage.store.schema import DecisionKind, Detection


@dataclass(frozen=True)
class DecidedPairs:
    """The pairs a project's reviewers decided (match or not), with the evidence review scored them on."""

    pairs: list[tuple[int, int]]
    cosine: np.ndarray
    inliers: np.ndarray
    same: np.ndarray


@dataclass(frozen=True)
class ProjectCalibration:
    model_id: str
    prior: FusionCalibration  # the model's own calibration
    fitted: FusionCalibration | None  # None: too few decisions yet
    check: CalibrationCheck | None
    matches: int
    rejections: int
    path: Path | None  # where it was saved, when it was


def decided_pairs(project: Project, model_id: str, calibration: FusionCalibration) -> DecidedPairs:
    """Every match and rejection in force between two animals embedded by ``model_id``, scored as review scores them."""
    with project.sessions() as session:
        graph = DecisionGraph.load(session)
        crops = {row.id: (row.crop_path, row.mask_path) for row in session.execute(
            select(Detection.id, Detection.crop_path, Detection.mask_path).where(Detection.label == "animal"))}
        places = detection_places(session)
    ids, vectors = stored_vectors(project, model_id)
    row = {int(animal): i for i, animal in enumerate(ids.tolist())}
    unit = unit_rows(vectors) if len(ids) else vectors
    decided = [d for d in graph.decisions() if d.kind in (DecisionKind.MATCH, DecisionKind.NONMATCH) and d.a_id in row and d.b_id in row]
    scorer = PatternScorer(project.artefacts, crops, calibration, places=places)
    try:
        scorer.prefetch((d.a_id, d.b_id) for d in decided)  # verified on one thread per core, as review does
        inliers = np.array([scorer.inliers(d.a_id, d.b_id) or 0 for d in decided], np.float64)
    finally:
        scorer.close()
    cosine = np.array([float(unit[row[d.a_id]] @ unit[row[d.b_id]]) for d in decided], np.float64)
    same = np.array([d.kind == DecisionKind.MATCH for d in decided], bool)
    return DecidedPairs([(d.a_id, d.b_id) for d in decided], cosine, inliers, same)


def calibrate_project(project: Project, model_id: str, prior: FusionCalibration, save: bool = True) -> ProjectCalibration:
    """Cross-validate and refit the project's calibration from its decisions; saved (with ``save``) when there are enough."""
    found = decided_pairs(project, model_id, prior)
    matches, rejections = int(found.same.sum()), int((~found.same).sum())
    if not enough(found.same):
        return ProjectCalibration(model_id, prior, None, None, matches, rejections, None)
    check = cross_validate(found.cosine, found.inliers, found.same, prior)
    fitted = refit(found.cosine, found.inliers, found.same, prior)
    path = save_calibration(project.root, model_id, fitted, check) if save else None
    return ProjectCalibration(model_id, prior, fitted, check, matches, rejections, path)
