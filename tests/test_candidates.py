"""A project's animals embedded into the store, indexed incrementally, and proposed as verified candidates."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from pelage.ingest import build_pipeline, import_survey
from pelage.reid.candidates import embed_project, index_path, propose_candidates, update_index
from pelage.reid.embed import Embedder
from pelage.store import open_project
from pelage.store.schema import Detection, Embedding


@pytest.fixture(scope="module")
def embedder():
    return Embedder(device="cpu", threads=2)


@pytest.fixture
def imported_project(tmp_path, user_home, demo_survey):
    project = open_project(tmp_path / "project", create=True)
    import_survey(project, demo_survey, lambda: build_pipeline(user_home, project.artefacts, threads=2))
    yield project
    project.close()


def count(project, statement) -> int:
    with project.sessions() as session:
        return session.scalar(statement)


def test_embedding_is_incremental_and_the_index_follows_the_store(imported_project, embedder):
    project = imported_project
    animals = count(project, select(func.count()).select_from(Detection).where(Detection.label == "animal"))
    assert animals > 0
    events = []
    first = embed_project(project, embedder, progress=lambda done, total: events.append((done, total)))
    assert (first.embedded, first.already, first.failed, first.indexed) == (animals, 0, [], animals)
    assert events[-1] == (2 * animals, 2 * animals)  # each animal embedded, then its flank guessed
    assert [done for done, _ in events] == sorted(done for done, _ in events) and len({total for _, total in events}) == 1
    assert count(project, select(func.count()).select_from(Embedding).where(Embedding.model_id == embedder.model_id)) == animals
    assert index_path(project, embedder.model_id).is_file()

    again = embed_project(project, embedder)
    assert (again.embedded, again.already, again.indexed) == (0, animals, animals)

    index_path(project, embedder.model_id).unlink()  # the index is a cache: the store rebuilds it
    assert update_index(project, embedder.model_id).size == animals


def test_cancelling_keeps_what_was_embedded(imported_project, embedder):
    calls = iter([False, True])
    partial = embed_project(imported_project, embedder, batch_size=2, should_stop=lambda: next(calls, True))
    assert partial.cancelled and partial.embedded == 2
    rest = embed_project(imported_project, embedder, batch_size=2)
    assert rest.already == 2 and rest.embedded + 2 == rest.indexed


def test_candidates_are_other_photos_best_first(imported_project, embedder):
    project = imported_project
    embed_project(project, embedder)
    with project.sessions() as session:
        detections = list(session.scalars(select(Detection).where(Detection.label == "animal").order_by(Detection.id)))
        image_of = {d.id: d.image_id for d in detections}
    anchor = detections[0].id
    found = propose_candidates(project, embedder, anchor)
    assert 0 < len(found) <= 5
    assert all(image_of[c.id] != image_of[anchor] for c in found)
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)
    assert all(0.0 < c.score < 1.0 and -1.0 <= c.cosine <= 1.0 and c.inliers >= 0 for c in found)

    excluded = {c.id for c in found[:2]}
    assert excluded.isdisjoint(c.id for c in propose_candidates(project, embedder, anchor, exclude=excluded))
    allowed = {c.id for c in found[2:]}
    assert {c.id for c in propose_candidates(project, embedder, anchor, allowed=allowed)} <= allowed

    with pytest.raises(ValueError, match="no embedding"):
        propose_candidates(project, embedder, 10**9)
