"""A small real project for the training tests and benchmark: nyala photos imported through the real pipeline,
with the user's confirmed matches recorded as review decisions (one chain of matches per individual + flank)."""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import select

from pelage.store import Project, open_project, transaction
from pelage.store.schema import Detection, Flank, Image


def nyala_rows(root: Path) -> list[dict]:
    with (root / "labels.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def pick_entities(rows: Sequence[dict], count: int, per_entity: int, view: str | None = None,
                  identities: Sequence[str] | None = None, keep: int | None = None) -> dict[tuple[str, str], list[dict]]:
    """``count`` identity+view units with at least ``per_entity`` photos from different sightings; the first
    ``keep`` (default ``per_entity``) of each."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        if (view is None or row["view"] == view) and (identities is None or row["identity"] in identities):
            if all(other["sighting"] != row["sighting"] for other in groups[(row["identity"], row["view"])]):
                groups[(row["identity"], row["view"])].append(row)
    chosen = [key for key in sorted(groups) if len(groups[key]) >= per_entity][:count]
    return {key: groups[key][:keep or per_entity] for key in chosen}


def link_survey(data_root: Path, rows: Sequence[dict], survey: Path) -> None:
    """A survey folder of symbolic links to the shared photos (nothing is copied)."""
    for row in rows:
        target = survey / row["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            os.symlink(data_root / row["path"], target)


def build_project(project_dir: Path, data_root: Path, entities: dict[tuple[str, str], list[dict]], pipeline_factory: Callable,
                  confirm: bool = True) -> tuple[Project, dict[int, tuple[str, str]]]:
    """Import the photos, set each animal's flank from the labels and confirm matches within each identity+view.

    Returns the project and, per primary animal id, its true (identity, view).
    """
    from pelage.ingest import import_survey
    from pelage.review.graph import record_decision

    rows = [row for photos in entities.values() for row in photos]
    survey = project_dir.parent / f"{project_dir.name}-survey"
    link_survey(data_root, rows, survey)
    project = open_project(project_dir, create=True)
    import_survey(project, survey, pipeline_factory)
    truth: dict[int, tuple[str, str]] = {}
    with transaction(project.sessions) as session:
        by_path = {image.path: image for image in session.scalars(select(Image))}
        members: dict[tuple[str, str], list[int]] = defaultdict(list)
        for key, photos in entities.items():
            for row in photos:
                image = by_path.get(row["path"])
                animals = [d for d in (image.detections if image else []) if d.label == "animal" and d.crop_path]
                if not animals:
                    continue
                primary = max(animals, key=lambda d: (d.score, (d.x1 - d.x0) * (d.y1 - d.y0)))
                primary.flank = Flank(key[1]) if key[1] in ("left", "right") else None
                truth[primary.id] = key
                members[key].append(primary.id)
        if confirm:
            for ids in members.values():
                for a, b in zip(ids, ids[1:], strict=False):
                    record_decision(session, a, b, "match")
    return project, truth


def animal_ids(project: Project) -> list[int]:
    with project.sessions() as session:
        return list(session.scalars(select(Detection.id).where(Detection.label == "animal").order_by(Detection.id)))


SMALL_PROJECT_ENTITIES = 4  # individuals (left flanks) …
SMALL_PROJECT_PHOTOS = 2  # … with this many photos from different sightings each


def small_project(base: Path, data_root: Path, pipeline_factory: Callable[[Path], Callable], destination: Path) -> dict[int, tuple[str, str]]:
    """Copy of a session-wide template project (built once under ``base``) at ``destination``; returns the truth per animal.

    Importing costs about a second per photo here, so every test module copies one import instead of repeating it.
    """
    import json
    import shutil

    template = base / "training-template"
    done = base / "training-template.json"
    if not done.is_file():
        entities = pick_entities(nyala_rows(data_root), SMALL_PROJECT_ENTITIES, SMALL_PROJECT_PHOTOS, view="left")
        project, truth = build_project(template, data_root, entities, pipeline_factory(template / "artefacts"))
        project.close()
        done.write_text(json.dumps({str(k): list(v) for k, v in truth.items()}), encoding="utf-8")
    shutil.copytree(template, destination)
    return {int(k): tuple(v) for k, v in json.loads(done.read_text(encoding="utf-8")).items()}


def few_individuals_project(base: Path, data_root: Path, pipeline_factory: Callable[[Path], Callable], destination: Path,
                            keep: int = 2) -> None:
    """:func:`small_project` with the last matches undone until only ``keep`` confirmed individuals remain: too few
    to set any aside for checking a training job."""
    from pelage.review.actions import undo

    small_project(base, data_root, pipeline_factory, destination)
    with open_project(destination) as project:
        for _ in range(SMALL_PROJECT_ENTITIES - keep):  # each individual is one match (two photos)
            undo(project)
