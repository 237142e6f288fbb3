"""Guessing the flank of a project's animals at identify time, never over a reviewer's word.

Runs after embedding: an animal whose flank nobody set and nothing guessed yet gets the bundled predictor's
guess (left, right, or not known when unsure) and its confidence. Vectors the head's model already stored
are reused: with a mirror-feature model (the bundled one) they already hold the mirrored crop's embedding, and
otherwise only the mirrored crops are embedded. Guesses are written in small transactions, and only
where no reviewer set the flank meanwhile (the window may be reviewing while identification runs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select, update

from pelage.reid.crops import load_model_input
from pelage.reid.errors import ModelFolderError
from pelage.reid.flank import FlankGuess, FlankPredictor, load_head, same_flank_allowed
from pelage.reid.folders import DEFAULT_MODEL
from pelage.store import Project, transaction
from pelage.store.schema import Detection, Embedding, Flank, FlankSource

if TYPE_CHECKING:
    from pelage.reid.embed import Embedder


@dataclass
class FlankSummary:
    guessed: int = 0  # left or right
    unsure: int = 0  # looked at, left as not known
    failed: list[tuple[int, str]] = field(default_factory=list)
    cancelled: bool = False


def flank_predictor(embedder: Embedder) -> FlankPredictor | None:
    """The bundled predictor, reading ``embedder``'s vectors when it runs the head's model and loading that model
    otherwise (a fine-tuned model's vectors do not fit the head); None when no head is bundled."""
    from pelage.reid.embed import Embedder

    try:
        head = load_head()
        if head.model_id == embedder.model_id:
            return FlankPredictor(head, embedder.embed, embedder.halves)
        own = Embedder(head.extra.get("model", DEFAULT_MODEL), device=str(embedder.device), batch_size=embedder.batch_size)
    except ModelFolderError:
        return None
    return FlankPredictor(head, own.embed, own.halves) if own.model_id == head.model_id else None


def same_flank_animals(project: Project, anchor_id: int) -> set[int] | None:
    """The animals review's "same flank only" may show beside the anchor (its side, or no known side); None when the
    anchor's own side is not known, since then nothing is left out."""
    with project.sessions() as session:
        anchor = session.get(Detection, anchor_id)
        if anchor is None or anchor.flank is None:
            return None
        rows = session.execute(select(Detection.id, Detection.flank).where(Detection.label == "animal")).all()
    shown = same_flank_allowed([anchor.flank], [side for _, side in rows])[0]  # Flank is a str enum: "left" == Flank.LEFT
    return {int(animal) for (animal, _), keep in zip(rows, shown, strict=True) if keep}


def unguessed_animals(project: Project) -> list[tuple[int, str, str | None, str | None]]:
    """Animals with a crop whose flank no reviewer set and no prediction looked at yet."""
    with project.sessions() as session:
        rows = session.execute(select(Detection.id, Detection.crop_path, Detection.mask_path, Detection.edge_path)
                               .where(Detection.label == "animal", Detection.crop_path.is_not(None), Detection.flank_source.is_(None))
                               .order_by(Detection.id)).all()
    return [tuple(row) for row in rows]


def _stored(project: Project, model_id: str, ids: list[int]) -> dict[int, np.ndarray]:
    with project.sessions() as session:
        rows = session.execute(select(Embedding.detection_id, Embedding.vector, Embedding.dim)
                               .where(Embedding.model_id == model_id, Embedding.detection_id.in_(ids))).all()
    return {row[0]: np.frombuffer(row[1], dtype="<f4", count=row[2]) for row in rows}


def store_guesses(project: Project, ids: list[int], guesses: list[FlankGuess]) -> None:
    with transaction(project.sessions) as session:
        for detection_id, found in zip(ids, guesses, strict=True):
            session.execute(update(Detection).where(Detection.id == detection_id, Detection.flank_source.is_(None))
                            .values(flank=Flank(found.flank) if found.flank else None, flank_source=FlankSource.PREDICTED,
                                    flank_confidence=found.confidence))


def predict_project_flanks(project: Project, predictor: FlankPredictor, batch_size: int = 16,
                           progress: Callable[[int, int], None] | None = None,
                           should_stop: Callable[[], bool] = lambda: False) -> FlankSummary:
    """Guess the flank of every animal that has none from a reviewer or an earlier guess."""
    summary = FlankSummary()
    todo = unguessed_animals(project)
    iterator = iter(todo)
    done = 0
    while chunk := list(islice(iterator, batch_size)):
        if should_stop():
            summary.cancelled = True
            break
        ids, crops = [], []
        for detection_id, crop, mask, edge in chunk:
            try:
                crops.append(load_model_input(project.artefacts, crop, mask, edge))
                ids.append(detection_id)
            except (OSError, ValueError) as exc:
                summary.failed.append((detection_id, str(exc)))
        stored = _stored(project, predictor.head.model_id, ids)
        vectors = np.stack([stored[i] for i in ids]) if ids and all(i in stored for i in ids) else None
        guesses = predictor.predict(crops, vectors)
        store_guesses(project, ids, guesses)
        summary.guessed += sum(found.flank is not None for found in guesses)
        summary.unsure += sum(found.flank is None for found in guesses)
        done += len(chunk)
        if progress is not None:
            progress(done, len(todo))
    return summary
