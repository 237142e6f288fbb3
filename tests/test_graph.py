"""The decision graph on a real project store (SQLite and PostgreSQL): components, blocking, undo/redo."""

from __future__ import annotations

import pytest

from pelage.review.graph import DecisionError, DecisionGraph, active_decisions, record_decision, redo_last, retract, undo_last
from pelage.review.individuals import individual_of, list_individuals, rename_individual
from pelage.store import Camera, DecisionKind, Detection, Image, ImageStatus, Station, Survey, open_project, transaction

MATCH, NONMATCH, NOTCOMPARABLE = DecisionKind.MATCH, DecisionKind.NONMATCH, DecisionKind.NOT_COMPARABLE


@pytest.fixture
def project(tmp_path, database_url):
    """A project with six animals (ids 1-6), one photo each, and one person detection (id 7)."""
    with open_project(tmp_path / "project", create=True, database_url=database_url) as project:
        with transaction(project.sessions) as session:
            survey = Survey(name="s", root=str(tmp_path))
            camera = Camera(station=Station(name="A"), name="1")
            for i in range(7):
                image = Image(survey=survey, path=f"{i}.jpg", size_bytes=1, status=ImageStatus.DONE, camera=camera)
                session.add(Detection(id=i + 1, image=image, x0=0, y0=0, x1=1, y1=1, score=1, detector="t",
                                      label="animal" if i < 6 else "person"))
        yield project


def decide(project, a, b, kind):
    with transaction(project.sessions) as session:
        return record_decision(session, a, b, kind).id


def graph(project) -> DecisionGraph:
    with project.sessions() as session:
        return DecisionGraph.load(session)


def test_matches_make_individuals_and_a_rejection_blocks_whole_components(project):
    decide(project, 1, 2, MATCH)
    decide(project, 2, 3, MATCH)
    decide(project, 4, 5, MATCH)
    decide(project, 3, 4, NONMATCH)
    g = graph(project)
    assert g.component(1) == {1, 2, 3} and g.component(5) == {4, 5} and g.component(6) == {6}
    assert g.blocked(1, 5) and g.blocked(5, 2) and not g.blocked(1, 6)
    assert g.excluded_for(1) == {1, 2, 3, 4, 5}
    assert g.excluded_for(6) == {6}
    assert g.conflicts() == []


def test_not_comparable_hides_only_that_pair(project):
    decide(project, 1, 2, MATCH)
    decide(project, 1, 3, NOTCOMPARABLE)
    g = graph(project)
    assert 3 in g.excluded_for(1)
    assert 3 not in g.excluded_for(2)  # the individual is not blocked from 3, only the one photo pair
    assert not g.blocked(2, 3)


def test_a_rejection_inside_a_component_is_a_conflict(project):
    decide(project, 1, 2, MATCH)
    decide(project, 2, 3, MATCH)
    conflict_id = decide(project, 1, 3, NONMATCH)
    (conflict,) = graph(project).conflicts()
    assert (conflict.a_id, conflict.b_id, conflict.decision_id, conflict.component) == (1, 3, conflict_id, {1, 2, 3})


def test_a_newer_decision_on_a_pair_replaces_the_older_and_undo_restores_it(project):
    decide(project, 1, 2, MATCH)
    decide(project, 2, 1, NONMATCH)
    assert graph(project).component(1) == {1}
    with transaction(project.sessions) as session:
        assert undo_last(session).kind == NONMATCH
    assert graph(project).component(1) == {1, 2}


def test_undo_and_redo_are_a_stack_kept_in_the_table(project):
    decide(project, 1, 2, MATCH)
    decide(project, 3, 4, MATCH)
    with transaction(project.sessions) as session:
        assert (undo_last(session).a_id, undo_last(session).a_id) == (3, 1)
    assert graph(project).components() == []
    with transaction(project.sessions) as session:
        assert redo_last(session).a_id == 1
    assert graph(project).components() == [{1, 2}]
    with transaction(project.sessions) as session:  # reopened: the trail is in the table, not in memory
        assert redo_last(session).a_id == 3
        assert redo_last(session) is None
    assert graph(project).components() == [{1, 2}, {3, 4}]
    with transaction(project.sessions) as session:
        assert undo_last(session).a_id == 3
    decide(project, 5, 6, MATCH)
    with transaction(project.sessions) as session:
        assert redo_last(session) is None  # a new decision ends the redo trail
        assert undo_last(session).a_id == 5
        assert undo_last(session).a_id == 1
        assert undo_last(session) is None
    with project.sessions() as session:
        assert active_decisions(session) == []


def test_undo_and_redo_among_given_decisions_stop_at_the_first_outside_them(project):
    earlier = decide(project, 1, 2, NONMATCH)
    batch = {decide(project, 1, 3, NONMATCH), decide(project, 1, 4, NONMATCH)}  # one key's answers
    with transaction(project.sessions) as session:
        assert {undo_last(session, among=batch).id, undo_last(session, among=batch).id} == batch
        assert undo_last(session, among=batch) is None  # the earlier answer is not one of them: kept
    assert [d.id for d in graph(project).decisions()] == [earlier]
    with transaction(project.sessions) as session:
        assert redo_last(session, among={earlier}) is None  # the newest undo took back another decision
        assert {redo_last(session, among=batch).id, redo_last(session, among=batch).id} == batch
        assert redo_last(session, among=batch) is None
    assert {d.id for d in graph(project).decisions()} == batch | {earlier}


def test_splitting_by_retracting_an_edge(project):
    decide(project, 1, 2, MATCH)
    wrong = decide(project, 2, 3, MATCH)
    with transaction(project.sessions) as session:
        retract(session, wrong)
    assert graph(project).component(1) == {1, 2} and graph(project).component(3) == {3}


def test_bad_decisions_are_refused_with_a_reason(project):
    with transaction(project.sessions) as session:
        with pytest.raises(DecisionError, match="itself"):
            record_decision(session, 1, 1, MATCH)
        with pytest.raises(DecisionError, match="99"):
            record_decision(session, 1, 99, MATCH)
        with pytest.raises(DecisionError, match="7"):
            record_decision(session, 1, 7, MATCH)  # a person, not an animal


def test_individuals_are_named_by_the_newest_name_of_any_member(project):
    decide(project, 1, 2, MATCH)
    decide(project, 4, 5, MATCH)
    with transaction(project.sessions) as session:
        rename_individual(session, 2, "Sita")
        rename_individual(session, 4, "Raja")
    with project.sessions() as session:
        assert [(i.id, i.name, i.members) for i in list_individuals(session)] == [(1, "Sita", (1, 2)), (4, "Raja", (4, 5))]
    decide(project, 2, 5, MATCH)  # merge: the newest name wins
    with project.sessions() as session:
        (merged,) = list_individuals(session)
        assert (merged.name, merged.members) == ("Raja", (1, 2, 4, 5))
        everyone = individual_of(session)
        assert sorted(everyone) == [1, 2, 3, 4, 5, 6]
        assert everyone[3].members == (3,) and everyone[3].name == "ID-3"
