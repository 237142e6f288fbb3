"""Before a job starts: can its result be checked, roughly how long will it take, and what to call its outcome.

A new model is only worth adopting if it ranks better on animals it never trained on, so a fine-tune
sets some confirmed individuals aside (see :func:`~pelage.training.dataset.split_by_individual`). With too
few of them nothing can be set aside, and a job would end with figures that measure nothing; the app and
the command line ask here first and refuse, unless the user explicitly chose to train without checking.
Nothing here imports torch: the window asks before any worker starts.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from pelage.training import events as ev
from pelage.training.dataset import MIN_HELD_OUT, MIN_TRAIN, Sample, scorable, split_by_individual

BETTER, NOT_BETTER, NOT_CHECKED = "better", "NOT better", "not checked"


@dataclass(frozen=True)
class Readiness:
    """What a job would train on and check against, in counts the user can act on."""

    kind: str
    individuals: int  # confirmed individuals with enough photos to train on
    photos: int  # their photos
    checkable: int  # individuals that could be set aside: seen on two visits, same side, new to the model's family
    held_out: int  # individuals the job would set aside for checking
    unchecked: bool  # the user chose to train without checking

    @property
    def checked(self) -> bool:
        return self.held_out >= MIN_HELD_OUT

    @property
    def can_start(self) -> bool:
        if self.kind == ev.UNSUPERVISED:
            return self.checked
        return self.individuals - self.held_out >= MIN_TRAIN and (self.checked or self.unchecked)

    @property
    def can_start_unchecked(self) -> bool:
        """Whether "train without checking" is possible at all: a fine-tune with enough individuals to learn from."""
        return self.kind == ev.FINETUNE and self.individuals >= MIN_TRAIN

    def explain(self) -> str:
        """Why the job cannot start (or cannot be checked), in plain words; empty when it can start and be checked."""
        have = f"{_count(self.individuals, 'confirmed individual')} with two photos or more"
        if self.kind == ev.FINETUNE and self.individuals < MIN_TRAIN:
            return (f"Training needs at least {MIN_TRAIN} confirmed individuals with two photos or more each; this project has "
                    f"{self.individuals}. Confirm more matches in Review first.")
        if self.checked:
            return ""
        if self.kind == ev.UNSUPERVISED:
            return (f"This project has {have}, {self.checkable} of them seen on two different visits; adapting to unconfirmed photos is "
                    f"only kept when it ranks those better, so it needs at least {MIN_HELD_OUT}. Confirm more matches in Review first.")
        return (f"This project has {have}. To check that training helps, Pelage sets at least {MIN_HELD_OUT} individuals aside, tests "
                f"the new model on them and trains on at least {MIN_TRAIN} others ({MIN_HELD_OUT + MIN_TRAIN} in all); an individual can "
                f"be set aside only if it was seen on two different visits with the same side showing ({self.checkable} of them were). "
                "Without animals set aside nobody can tell whether the new model is better. Confirm more matches in Review first.")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def readiness_of(samples: Sequence[Sample], spec: ev.TrainingSpec, trained_on: Collection[int] = ()) -> Readiness:
    """The readiness of ``spec`` on ``samples`` (the confirmed photos), split exactly as the job would split them."""
    individuals = {s.individual for s in samples}
    trained = set(trained_on)
    touched = {s.individual for s in samples if s.detection_id in trained}
    checkable = len(scorable(samples) - touched)
    if spec.kind == ev.UNSUPERVISED:
        held = checkable
    elif spec.unchecked:
        held = 0
    else:
        split = split_by_individual(samples, spec.holdout_fraction, spec.seed, never_hold_out=trained_on, held_out=spec.held_out)
        held = len({s.individual for s in split.held_out})
    return Readiness(spec.kind, len(individuals), len(samples), checkable, held, spec.unchecked)


@dataclass(frozen=True)
class ConfirmedPhotos:
    """What readiness is computed from, read once from the project: the window's form changes only the split."""

    samples: tuple[Sample, ...]
    trained_on: frozenset[int]  # detections the start model's family trained on (never held out)

    def readiness(self, spec: ev.TrainingSpec) -> Readiness:
        return readiness_of(self.samples, spec, self.trained_on)


def read_confirmed(spec: ev.TrainingSpec) -> ConfirmedPhotos:
    """The confirmed photos of the project ``spec`` names, and those its start model's family trained on."""
    from pelage.store import open_project
    from pelage.training.dataset import confirmed_samples
    from pelage.training.registry import active_entry, lineage

    with open_project(spec.project_root) as project:
        with project.sessions() as session:
            parent = spec.parent or active_entry(session).id
            trained_on = frozenset(int(i) for entry in lineage(session, parent)
                                   for i in ((entry.data or {}).get("train", {}) or {}).get("detections", []))
        samples = tuple(confirmed_samples(project, spec.min_images))
    return ConfirmedPhotos(samples, trained_on)


def project_readiness(spec: ev.TrainingSpec) -> Readiness:
    """:func:`readiness_of` the project ``spec`` names, with the photos its start model's family trained on left out."""
    return read_confirmed(spec).readiness(spec)


def verdict(metrics: dict) -> str:
    """"better" or "NOT better" on the set-aside individuals, or "not checked" when nothing was measured."""
    if not (metrics.get("before") or {}).get("queries") or not (metrics.get("after") or {}).get("queries"):
        return NOT_CHECKED
    return BETTER if metrics.get("improved") else NOT_BETTER


# --- how long ------------------------------------------------------------------------------------------

SPEED_KEY = "speed"  # in job.json's extra: {"images_per_s": …, "device": …}, the last measured training speed


def measured_speed(project_root: Path | str, device: str | None = None) -> float | None:
    """Training images per second of this machine, from the newest job of this project on the same device setting."""
    for record in reversed(ev.list_jobs(project_root)):
        speed = record.extra.get(SPEED_KEY)
        if isinstance(speed, dict) and speed.get("device") == device and isinstance(speed.get("images_per_s"), int | float):
            if speed["images_per_s"] > 0:
                return float(speed["images_per_s"])
    return None


def estimate_seconds(readiness: Readiness, spec: ev.TrainingSpec, images_per_s: float) -> float:
    """Rough length of a fine-tune: each pass shows every class (individual and side, mirrored too) ``images_per_class``
    times; checking embeds the set-aside photos once per pass and twice more (the before and after figures)."""
    trained = max(readiness.individuals - readiness.held_out, 1)
    classes = 2 * trained  # a mirrored flank is a class of its own
    per_epoch = max(1, classes // spec.classes_per_batch) * spec.classes_per_batch * spec.images_per_class
    held_photos = round(readiness.photos * readiness.held_out / max(readiness.individuals, 1))
    shown = spec.epochs * per_epoch + readiness.photos + (spec.epochs + 2) * held_photos / 3  # embedding is about 3× quicker
    return shown / images_per_s


def describe_duration(seconds: float) -> str:
    if seconds < 60:
        return "under a minute"
    if seconds < 90 * 60:
        minutes = max(1, round(seconds / 60))
        return f"about {minutes} minute{'' if minutes == 1 else 's'}"
    return f"about {math.ceil(seconds / 1800) / 2:g} hours"
