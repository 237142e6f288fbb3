"""Scenery seen twice: how a season's pairs score with and without the scenery check (pelage.reid.scenery).

A synthetic season (``pelage demo-survey --images N``: a third of the frames empty, each camera with its fixed view) is
imported and identified as a user does, then every pair of detections from one camera whose crops overlap in the
photo (the only pairs the check can touch) is scored as review scores it (``PatternScorer``: stored pattern features,
calibrated fusion), once without the detections' places and once with them. The ground truth says which detections
lie in empty frames (false detections on scenery) and which pairs are one individual. One JSON line: per kind of pair,
how many score 50 % or more and how many the check takes for scenery.

    python bench/scenery_bench.py [--images 300] [--workdir DIR] [--seed 7]
    python bench/scenery_bench.py --project PROJECT --survey SURVEY   # a season already imported and identified
"""

from __future__ import annotations

import argparse
import csv
import itertools
import subprocess
import sys
import tempfile
from pathlib import Path

from sqlalchemy import select

from _common import print_json
from pelage.reid.candidates import stored_vectors
from pelage.reid.nearest import unit_rows
from pelage.reid.scenery import MIN_OVERLAP, detection_places, overlap
from pelage.reid.scoring import PatternScorer
from pelage.review.model import resolve_review_model
from pelage.store import open_project
from pelage.store.schema import Detection, Image

PELAGE = [sys.executable, "-m", "pelage"]
LIKELY = 0.5


def prepare_season(images: int, workdir: Path, seed: int) -> tuple[Path, Path]:
    survey, project = workdir / "season", workdir / "project"
    subprocess.run([*PELAGE, "demo-survey", str(survey), "--images", str(images), "--seed", str(seed)], check=True, capture_output=True)
    subprocess.run([*PELAGE, "import", str(survey), "--project", str(project)], check=True, capture_output=True)
    subprocess.run([*PELAGE, "identify", str(project)], check=True, capture_output=True)
    return project, survey


def pair_kind(a: str | None, b: str | None) -> str:
    if a is None and b is None:
        return "scenery: both in empty frames"
    return "one individual" if a == b else "different individuals, or one in an empty frame"


def count_pairs(project_dir: Path, survey: Path) -> dict:
    truth = {row["path"]: row["individual"] or None for row in csv.DictReader((survey / "ground-truth.csv").open(encoding="utf-8"))}
    with open_project(project_dir) as project:
        model = resolve_review_model(project)
        with project.sessions() as session:
            rows = session.execute(select(Detection.id, Image.path, Detection.crop_path, Detection.mask_path)
                                   .join(Image, Image.id == Detection.image_id).where(Detection.label == "animal")).all()
            places = detection_places(session)
        ids, vectors = stored_vectors(project, model.model_id)
        vectors, row_of = unit_rows(vectors), {int(animal): row for row, animal in enumerate(ids)}
        individual = {row.id: truth.get(row.path) for row in rows}
        crops = {row.id: (row.crop_path, row.mask_path) for row in rows}
        animals = [row.id for row in rows if row.id in row_of]
        pairs = [(a, b) for a, b in itertools.combinations(animals, 2)
                 if places[a].camera == places[b].camera and overlap(places[a], places[b]) >= MIN_OVERLAP]
        results = {}
        for label, known in (("without places", None), ("with the scenery check", places)):
            scorer = PatternScorer(project.artefacts, crops, model.calibration, places=known)
            counts: dict[str, dict[str, int]] = {}
            try:
                for a, b in pairs:
                    (_, score, _, _, _, scenery), = scorer.score(a, [(b, float(vectors[row_of[a]] @ vectors[row_of[b]]))])
                    tally = counts.setdefault(pair_kind(individual[a], individual[b]), {"pairs": 0, "likely": 0, "scenery": 0})
                    tally["pairs"] += 1
                    tally["likely"] += score >= LIKELY
                    tally["scenery"] += scenery
            finally:
                scorer.close()
            results[label] = counts
            for kind, tally in sorted(counts.items()):
                print(f"{label:<24} {kind:<52} {tally['pairs']:>5} pairs, {tally['likely']:>4} at {LIKELY:.0%} or more, "
                      f"{tally['scenery']:>4} taken for scenery")
    return {"animals": len(animals), "in_empty_frames": sum(individual[a] is None for a in animals), "pairs": len(pairs), **results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None, help="where the season and its project go (default: a temporary folder)")
    parser.add_argument("--project", type=Path, default=None, help="an imported and identified season project (with --survey)")
    parser.add_argument("--survey", type=Path, default=None, help="its survey folder, holding ground-truth.csv")
    args = parser.parse_args()
    if (args.project is None) != (args.survey is None):
        parser.error("--project and --survey go together")
    if args.project is not None:
        print_json("scenery", count_pairs(args.project, args.survey))
        return
    with tempfile.TemporaryDirectory(dir=args.workdir) as workdir:
        project, survey = prepare_season(args.images, Path(workdir), args.seed)
        print_json("scenery", {"images": args.images, "seed": args.seed, **count_pairs(project, survey)})


if __name__ == "__main__":
    main()
