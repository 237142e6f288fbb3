"""Candidates for a project's animals: embeddings kept in the store, a FAISS index beside it, verified top-5.

Embeddings are written to the store in small transactions as they are computed, so an interrupted run
keeps what it finished and a later run only embeds new animals. The index file is a cache of the
store, rebuilt or brought up to date from it, and named by model id: vectors of two models never mix.
Candidates are the index's nearest neighbours, re-scored by pattern verification into a calibrated
probability, the number the review screen shows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from sqlalchemy import select

from pelage.reid.calibration import saved_calibration
from pelage.reid.crops import load_model_input
from pelage.reid.feature_store import load_or_extract
from pelage.reid.flank_project import FlankSummary, flank_predictor, predict_project_flanks, unguessed_animals
from pelage.reid.index import CandidateIndex
from pelage.reid.nearest import appearance_rows, best_in_other_photos, nearest_path
from pelage.reid.ranking import SHORTLIST, TOP_K
from pelage.reid.scenery import detection_places
from pelage.reid.scoring import PatternScorer
from pelage.reid.spot_words import words_in_model_id
from pelage.store import Project, transaction
from pelage.store.schema import Detection, Embedding

if TYPE_CHECKING:  # torch loads only where a model runs: review and the CLI read vectors without it
    from pelage.reid.embed import Embedder

INDEX_FOLDER = "index"

CropRow = tuple[int, str, "str | None", "str | None"]  # detection id and its cached crop, mask and edge files
EmbeddedBatch = tuple[list[int], np.ndarray, list[tuple[int, str]]]  # ids embedded, their vectors, (id, why) of failures


class RemoteEmbedding(Protocol):
    """Somewhere else that embeds batches of crops (:class:`pelage.cluster.EmbeddingWorkers`)."""

    slots: int  # batches to keep in flight

    def submit(self, artefacts: Path, rows: Sequence[CropRow]) -> Future[EmbeddedBatch]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ScoredCandidate:
    id: int  # detection (animal) id
    score: float  # calibrated probability that it is the same animal as the anchor
    cosine: float
    inliers: int
    scenery: bool = False  # one camera's scenery seen twice (pelage.reid.scenery): its spot matches are not counted
    via: int | None = None  # the candidate that vouched for it, where that raised the score notably (scoring.NOTABLE_LIFT)
    direct: float | None = None  # the pair's own P(same) where ``via`` gave the score


@dataclass
class EmbeddingSummary:
    model_id: str
    embedded: int = 0  # this run
    already: int = 0  # from earlier runs
    failed: list[tuple[int, str]] = field(default_factory=list)
    indexed: int = 0
    cancelled: bool = False
    flanks: FlankSummary = field(default_factory=FlankSummary)


def index_path(project: Project, model_id: str) -> Path:
    return project.root / INDEX_FOLDER / f"{model_id}.faiss"


def _animals(session, ids: Collection[int] | None = None) -> list[Detection]:
    statement = select(Detection).where(Detection.label == "animal", Detection.crop_path.is_not(None)).order_by(Detection.id)
    if ids is not None:
        statement = statement.where(Detection.id.in_(list(ids)))
    return list(session.scalars(statement))


def _chunks(items: list, size: int) -> Iterable[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def stored_vectors(project: Project, model_id: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids, N×D float32) of every animal embedded with ``model_id``."""
    with project.sessions() as session:
        rows = session.execute(select(Embedding.detection_id, Embedding.vector, Embedding.dim)
                               .where(Embedding.model_id == model_id).order_by(Embedding.detection_id)).all()
    if not rows:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    ids = np.array([row[0] for row in rows], np.int64)
    return ids, np.stack([np.frombuffer(row[1], dtype="<f4", count=row[2]) for row in rows]).astype(np.float32)


def embed_batch(artefacts: Path, embedder: Embedder, rows: Sequence[CropRow], pattern_features: bool = True) -> EmbeddedBatch:
    """Load and embed one batch of crops (here, or on a cluster's worker): a crop that cannot be read is a failure, not an error.

    With ``pattern_features`` each embedded crop's spot features are also stored beside it
    (:mod:`pelage.reid.feature_store`), where the crop was read: on a cluster that spreads the extraction (tens of
    milliseconds a crop) over the workers instead of queueing it on the recording side, and a task run twice
    rewrites the same file."""
    ids, crops, failed = [], [], []
    for detection_id, crop, mask, edge in rows:
        try:
            crops.append(load_model_input(artefacts, crop, mask, edge))
            ids.append(detection_id)
        except (OSError, ValueError) as exc:
            failed.append((detection_id, str(exc)))
    vectors = embedder.embed(crops) if crops else np.zeros((0, 0), np.float32)
    if pattern_features:
        embedded = set(ids)
        for detection_id, crop, mask, _edge in rows:
            if detection_id in embedded:
                try:
                    load_or_extract(artefacts, crop, mask)
                except (OSError, ValueError):
                    pass  # review extracts (and stores) them when it first needs them
    return ids, vectors, failed


def _embedded_batches(project: Project, embedder: Embedder, todo: list[CropRow], batch_size: int,
                      remote: RemoteEmbedding | None) -> Iterator[Callable[[], EmbeddedBatch]]:
    """Each batch's result in order, as a call that computes it here or waits for the cluster's workers (which are
    kept a few batches ahead), so a cancel between batches starts nothing new here."""
    if remote is None:
        for chunk in _chunks(todo, batch_size):
            yield partial(embed_batch, project.artefacts, embedder, chunk)
        return
    in_flight: deque[Future[EmbeddedBatch]] = deque()
    for chunk in _chunks(todo, batch_size):
        in_flight.append(remote.submit(project.artefacts, chunk))
        if len(in_flight) >= remote.slots:
            yield in_flight.popleft().result
    while in_flight:
        yield in_flight.popleft().result


def embed_project(project: Project, embedder: Embedder, batch_size: int = 16, progress: Callable[[int, int], None] | None = None,
                  should_stop: Callable[[], bool] = lambda: False, remote: RemoteEmbedding | None = None,
                  predict_flanks: bool = True) -> EmbeddingSummary:
    """Embed every animal not yet embedded by this model, guess the flanks nobody set (:mod:`pelage.reid.flank_project`),
    then bring the index up to date.

    With ``remote`` (a Dask cluster) the batches are embedded by its workers and recorded here in the same order
    and transactions; its model must be ``embedder``'s (the vectors are stored under ``embedder.model_id``).
    """
    summary = EmbeddingSummary(embedder.model_id)
    with project.sessions() as session:
        done = set(session.scalars(select(Embedding.detection_id).where(Embedding.model_id == embedder.model_id)))
        todo = [(d.id, d.crop_path, d.mask_path, d.edge_path) for d in _animals(session) if d.id not in done]
    summary.already = len(done)
    guesses = len(unguessed_animals(project)) if predict_flanks else 0  # the flank pass's share of the work, counted in one total
    embedded: set[int] = set()
    batches = _embedded_batches(project, embedder, todo, batch_size, remote)
    try:
        for compute in batches:
            if should_stop():
                summary.cancelled = True
                break
            ids, vectors, failed = compute()
            summary.failed.extend(failed)
            _store_vectors(project, embedder.model_id, ids, vectors)
            summary.embedded += len(ids)
            embedded.update(int(i) for i in ids)
            if progress is not None:
                progress(summary.embedded + len(summary.failed), len(todo) + guesses)
    finally:
        batches.close()
        if remote is not None:
            remote.close()
    if predict_flanks and not summary.cancelled:
        summary.flanks = _guess_flanks(project, embedder, batch_size, progress, should_stop, offset=len(todo))
        summary.cancelled = summary.flanks.cancelled
    # An animal embedded again (its box was redrawn) may still have its old vector in the index: replace it.
    ids, vectors = stored_vectors(project, embedder.model_id)
    summary.indexed = sync_index(project, embedder.model_id, ids, vectors, refreshed=embedded).size
    if not summary.cancelled:
        update_nearest(project, embedder.model_id, ids, vectors)
    return summary


def update_nearest(project: Project, model_id: str, ids: np.ndarray, vectors: np.ndarray) -> int:
    """Bring the review queue's stored bounds (:mod:`pelage.reid.nearest`) up to date for new and changed vectors, here
    rather than when a reviewer opens the project; returns how many animals were computed afresh."""
    with project.sessions() as session:
        image_of = dict(session.execute(select(Detection.id, Detection.image_id).where(Detection.label == "animal")).all())
    known = np.array([int(i) in image_of for i in ids], bool)
    return best_in_other_photos(nearest_path(index_path(project, model_id)), ids[known],
                                appearance_rows(vectors[known], words_in_model_id(model_id)) if known.any() else vectors[known],
                                image_of)[1]


def _guess_flanks(project: Project, embedder: Embedder, batch_size: int, progress: Callable[[int, int], None] | None,
                  should_stop: Callable[[], bool], offset: int) -> FlankSummary:
    """The flank of every animal nobody set and nothing guessed yet; progress goes on from the embedding's count."""
    if not unguessed_animals(project):
        return FlankSummary()
    predictor = flank_predictor(embedder)
    if predictor is None:
        return FlankSummary()
    report = None if progress is None else (lambda done, total: progress(offset + done, offset + total))
    return predict_project_flanks(project, predictor, batch_size, report, should_stop)


def _store_vectors(project: Project, model_id: str, ids: list[int], vectors: np.ndarray) -> None:
    """One batch's vectors in one transaction (a kill keeps every batch finished before it)."""
    with transaction(project.sessions) as session:
        session.add_all(Embedding(detection_id=int(i), model_id=model_id, dim=int(v.shape[0]), vector=v.astype("<f4").tobytes())
                        for i, v in zip(ids, vectors, strict=True))


def update_index(project: Project, model_id: str, refreshed: Collection[int] = ()) -> CandidateIndex:
    """The project's index for ``model_id``, loaded and synchronised with the store, then saved."""
    return sync_index(project, model_id, *stored_vectors(project, model_id), refreshed=refreshed)


def sync_index(project: Project, model_id: str, ids: np.ndarray, vectors: np.ndarray, refreshed: Collection[int] = ()) -> CandidateIndex:
    """:func:`update_index` for vectors the caller already read with :func:`stored_vectors` (read once, used twice);
    ``refreshed`` ids have new vectors (a redrawn box) and replace the index's."""
    path = index_path(project, model_id)
    index = None
    if path.is_file():
        try:
            index = CandidateIndex.load(path, expect_model_id=model_id)
        except ValueError:
            index = None  # damaged or from another model: the store has everything to rebuild it
    if index is None or (len(ids) and index.dim != vectors.shape[1]):
        index = CandidateIndex(vectors.shape[1] if len(ids) else 1, model_id)
    present = set(index.ids())
    wanted = set(ids.tolist())
    stale = sorted((present - wanted) | (present & set(refreshed)))
    if stale:
        index.remove(np.array(stale, np.int64))
        present -= set(stale)
    new = np.array([i not in present for i in ids.tolist()], bool)
    if new.any():
        index.add(ids[new], vectors[new])
    path.parent.mkdir(parents=True, exist_ok=True)
    index.save(path)
    return index


def propose_candidates(project: Project, embedder: Embedder, anchor_id: int, k: int = TOP_K, shortlist: int = SHORTLIST,
                       exclude: Collection[int] = (), allowed: Collection[int] | None = None) -> list[ScoredCandidate]:
    """The ``k`` most likely other photos of the anchor's animal, best first: the index's shortlist, verified, fused and
    vouched for by :meth:`pelage.reid.scoring.PatternScorer.rank`, as the review ranks it.

    The anchor's own photo (every detection in it) and ``exclude`` (pairs already decided, say) are
    never proposed; ``allowed`` restricts candidates (same flank, say).
    """
    ids, vectors = stored_vectors(project, embedder.model_id)
    where = np.flatnonzero(ids == anchor_id)
    if not len(where):
        raise ValueError(f"animal {anchor_id} has no embedding from model {embedder.model_id}: run `pelage identify` first")
    index = update_index(project, embedder.model_id)
    with project.sessions() as session:
        anchor = session.get(Detection, anchor_id)
        same_photo = set(session.scalars(select(Detection.id).where(Detection.image_id == anchor.image_id)))
        hits = index.search(vectors[where], k=shortlist, exclude=same_photo | set(exclude), allowed=allowed)[0]
        if not hits:
            return []
        crops = {d.id: (d.crop_path, d.mask_path) for d in _animals(session, [hit.id for hit in hits] + [anchor_id])}
        places = detection_places(session, crops)
    calibration = saved_calibration(project.root, embedder.model_id) or embedder.bundle.calibration  # the project's refit first
    scorer = PatternScorer(project.artefacts, crops, calibration, places=places)
    try:
        rows = {int(i): row for row, i in enumerate(ids)}
        ranked = scorer.rank(anchor_id, ((hit.id, hit.score) for hit in hits), {hit.id: vectors[rows[hit.id]] for hit in hits},
                             shown=k)
    finally:
        scorer.close()
    return [ScoredCandidate(c.id, c.score, c.cosine, c.inliers, c.scenery, c.via, c.direct) for c in ranked[:k]]
