"""A project's confirmed individuals as labelled training samples, and the held-out split by individual.

The unit the network learns and the figures score is individual + flank (a left and a right flank show
different patterns; an unknown flank is its own view). Photos of one camera taken within a minute of
each other are one sighting: near-duplicates of a burst must not count as a successful re-identification.
The held-out individuals are chosen by a hash of their id, so the choice is stable as the survey grows,
and an individual whose photos an ancestor model trained on is never held out: a fine-tune of a
fine-tune is still scored on animals no model in its family has seen.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import select

from pelage.review.individuals import Individual, list_individuals
from pelage.store import Project
from pelage.store.schema import Detection, Image, TimeSource

BURST_GAP = timedelta(seconds=60)
UNKNOWN_VIEW = "unknown"
MIN_HELD_OUT = 2  # one individual set aside always ranks itself first: figures on it would mean nothing
MIN_TRAIN = 2  # individuals a job always keeps to learn from


@dataclass(frozen=True)
class Sample:
    """One confirmed photo of an individual: the animal's cached crop files and its labels."""

    detection_id: int
    individual: str  # the individual's id (its smallest member), as text
    view: str  # "left", "right" or "unknown"
    sighting: str
    crop: str  # relative to the project's artefact folder
    mask: str
    edge: str


@dataclass(frozen=True)
class Split:
    train: list[Sample]
    held_out: list[Sample]

    def summary(self) -> dict:
        def describe(samples: list[Sample]) -> dict:
            return {"images": len(samples), "individuals": len({s.individual for s in samples}),
                    "detections": sorted(s.detection_id for s in samples)}

        return {"train": describe(self.train), "held_out": describe(self.held_out)}


def _sightings(images: dict[int, Image]) -> dict[int, str]:
    """Sighting key per image id: a camera's photos less than :data:`BURST_GAP` apart share one.

    Only real capture times group photos: a file time says when a card was copied, not when a photo was taken.
    """
    key = {image_id: f"image:{image_id}" for image_id in images}
    timed = sorted((image.camera_id, image.captured_at, image_id) for image_id, image in images.items()
                   if image.camera_id is not None and image.captured_at is not None and image.time_source != TimeSource.FILE_TIME)
    previous = None
    for camera, when, image_id in timed:
        if previous is not None and previous[0] == camera and when - previous[1] < BURST_GAP:
            key[image_id] = key[previous[2]]
        previous = (camera, when, image_id)
    return key


def samples_for(project: Project, individuals: Sequence[Individual]) -> list[Sample]:
    """Every member of ``individuals`` that has a cached crop, in individual then animal order."""
    member_of = {member: individual.id for individual in individuals for member in individual.members}
    if not member_of:
        return []
    with project.sessions() as session:
        detections = list(session.scalars(select(Detection).where(Detection.id.in_(list(member_of)), Detection.crop_path.is_not(None))))
        images = {image.id: image for image in session.scalars(select(Image).where(Image.id.in_({d.image_id for d in detections})))}
        sighting = _sightings(images)
        samples = [Sample(d.id, str(member_of[d.id]), d.flank.value if d.flank else UNKNOWN_VIEW, sighting[d.image_id],
                          d.crop_path, d.mask_path, d.edge_path) for d in detections]
    return sorted(samples, key=lambda s: (int(s.individual), s.detection_id))


def confirmed_samples(project: Project, min_images: int = 2) -> list[Sample]:
    """Photos of every confirmed individual with at least ``min_images`` photos."""
    with project.sessions() as session:
        individuals = list_individuals(session, min_members=min_images)
    return samples_for(project, individuals)


def _hash_rank(individual: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{individual}".encode()).hexdigest()


def scorable(samples: Sequence[Sample]) -> set[str]:
    """Individuals with a photo that has a positive: same view, another sighting."""
    groups: dict[tuple[str, str], set[str]] = {}
    for s in samples:
        groups.setdefault((s.individual, s.view), set()).add(s.sighting)
    return {individual for (individual, _), sightings in groups.items() if len(sightings) >= 2}


def split_by_individual(samples: Sequence[Sample], holdout_fraction: float = 0.2, seed: int = 0,
                        never_hold_out: Collection[int] = (), held_out: Collection[str] | None = None,
                        min_held_out: int = MIN_HELD_OUT) -> Split:
    """Training and held-out samples with no individual on both sides.

    ``never_hold_out``: animal ids an ancestor model trained on; their individuals always train.
    ``held_out``: individuals to hold out instead of drawing them (a benchmark that knows which animals
    no model has seen). Only individuals that can be scored are drawn, at least ``min_held_out`` of them
    (one individual alone always ranks itself first: figures on it would mean nothing), and at least two
    individuals are always left to train on.
    """
    if not 0.0 <= holdout_fraction < 1.0:
        raise ValueError(f"the held-out share must lie in [0, 1), not {holdout_fraction}")
    individuals = sorted({s.individual for s in samples}, key=int)
    if held_out is None:
        seen = set(never_hold_out)
        touched = {s.individual for s in samples if s.detection_id in seen}
        eligible = sorted(scorable(samples) - touched, key=lambda individual: _hash_rank(individual, seed))
        wanted = max(min_held_out, math.ceil(holdout_fraction * len(individuals))) if holdout_fraction > 0 else 0
        wanted = min(wanted, len(eligible), len(individuals) - MIN_TRAIN)
        held = set(eligible[:wanted]) if wanted >= min_held_out else set()
    else:
        held = {str(individual) for individual in held_out}
    return Split([s for s in samples if s.individual not in held], [s for s in samples if s.individual in held])


def load_crops(artefacts: Path, samples: Sequence[Sample]) -> list[np.ndarray]:
    """H×W×4 model inputs, exactly as inference builds them."""
    from pelage.reid.crops import load_model_input

    return [load_model_input(artefacts, s.crop, s.mask, s.edge) for s in samples]


def entity_labels(samples: Sequence[Sample]) -> tuple[list[str], list[str]]:
    """(entity, sighting) per sample for :func:`pelage.reid.metrics.evaluate_similarity`."""
    from pelage.reid.metrics import entity_keys

    return entity_keys([s.individual for s in samples], [s.view for s in samples]), [s.sighting for s in samples]
