"""The review session on a real project store with synthetic embeddings: it never asks twice, it resumes from
the store, and its order is most-likely-first. Checked against an oracle computed here from the raw decision
rows, independently of :mod:`pelage.review.graph`."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from pelage.review.graph import DecisionError
from pelage.review.queue import NO_CANDIDATE
from pelage.review.session import ReviewSession
from pelage.store import open_project
from pelage.store.schema import Decision, DecisionKind, Detection, Embedding, Flank
from tests.review_synthetic import MODEL_ID, build_synthetic_project

ANIMALS = 36
K = 3


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("review") / "template"
    synthetic = build_synthetic_project(root, ANIMALS, dim=16, per_individual=4, noise=0.9, seed=3, flanked=0.4, two_per_photo=0.2)
    synthetic.project.close()
    return root, synthetic


@pytest.fixture
def fresh(template, tmp_path_factory):
    """A copy of the template project per test (or per hypothesis example), so decisions never leak."""
    def make():
        root = Path(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp())) / "project"
        shutil.copytree(template[0], root)
        return open_project(root)

    return make


class Oracle:
    """What the store says, recomputed from scratch: active decisions, components, blocks, flanks, photos, vectors."""

    def __init__(self, project) -> None:
        with project.sessions() as session:
            rows = session.execute(select(Decision.id, Decision.a_id, Decision.b_id, Decision.kind, Decision.retracts_id)
                                   .order_by(Decision.id)).all()
            detections = session.execute(select(Detection.id, Detection.image_id, Detection.flank)).all()
            vectors = session.execute(select(Embedding.detection_id, Embedding.vector).where(Embedding.model_id == MODEL_ID)).all()
        retractions: dict[int, list[int]] = {}
        for row in rows:
            if row.kind == DecisionKind.RETRACT:
                retractions.setdefault(row.retracts_id, []).append(row.id)

        def in_force(row_id: int) -> bool:  # undo retracts a decision, redo retracts the undo's retraction
            return not any(in_force(retraction) for retraction in retractions.get(row_id, ()))

        newest = {}
        for row in rows:
            if row.kind != DecisionKind.RETRACT and in_force(row.id):
                newest[frozenset((row.a_id, row.b_id))] = row
        self.active = list(newest.values())
        self.matches = nx.Graph((row.a_id, row.b_id) for row in self.active if row.kind == DecisionKind.MATCH)
        self.image = {row.id: row.image_id for row in detections}
        self.flank = {row.id: row.flank for row in detections}
        self.ids = sorted(v[0] for v in vectors)
        matrix = np.stack([np.frombuffer(v[1], "<f4") for v in sorted(vectors)])
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        self.cosine = matrix @ matrix.T
        self.row = {animal: i for i, animal in enumerate(self.ids)}

    def component(self, animal: int) -> set[int]:
        return set(nx.node_connected_component(self.matches, animal)) if animal in self.matches else {animal}

    def allowed(self, anchor: int, candidate: int, same_flank: bool = True) -> bool:
        if candidate == anchor or self.image[candidate] == self.image[anchor]:
            return False
        own, theirs = self.component(anchor), self.component(candidate)
        if candidate in own:
            return False
        for row in self.active:
            if row.kind == DecisionKind.NONMATCH and ({row.a_id, row.b_id} & own) and ({row.a_id, row.b_id} & theirs) \
                    and ((row.a_id in own and row.b_id in theirs) or (row.b_id in own and row.a_id in theirs)):
                return False
            if {row.a_id, row.b_id} == {anchor, candidate}:
                return False
        return not (same_flank and self.flank[anchor] and self.flank[candidate] and self.flank[anchor] != self.flank[candidate])

    def best(self, anchor: int, k: int) -> list[int]:
        """The k allowed candidates with the highest cosine (no crops here: the score is monotone in cosine),
        one per confirmed individual: its most similar photo stands for it."""
        allowed = sorted((c for c in self.ids if self.allowed(anchor, c)), key=lambda c: -self.cosine[self.row[anchor], self.row[c]])
        best, individuals = [], set()
        for candidate in allowed:
            individual = frozenset(self.component(candidate))
            if individual not in individuals:
                individuals.add(individual)
                best.append(candidate)
        return best[:k]

    def priority(self, anchor: int) -> float:
        best = self.best(anchor, 1)
        return float(self.cosine[self.row[anchor], self.row[best[0]]]) if best else NO_CANDIDATE

    def finished(self, anchor: int, k: int) -> bool:
        mine = [row for row in self.active if row.a_id == anchor]
        return len(mine) >= k or any(row.kind == DecisionKind.MATCH for row in mine)


def check_proposal(project, proposal, k: int) -> None:
    """The property the issue asks for, and that nothing allowed was left out."""
    oracle = Oracle(project)
    anchor = proposal.anchor.id
    ids = [c.id for c in proposal.candidates]
    assert len(ids) == len(set(ids)) <= k
    for candidate in ids:
        assert candidate not in oracle.component(anchor), "proposed a member of the anchor's own individual"
        assert oracle.allowed(anchor, candidate), f"proposed {candidate} for {anchor}: decided, blocked, same photo or other flank"
    assert ids == oracle.best(anchor, k)
    assert [c.photos for c in proposal.candidates] == [len(oracle.component(c)) for c in ids]
    assert [c.score for c in proposal.candidates] == sorted((c.score for c in proposal.candidates), reverse=True)
    assert all(0.0 < c.score < 1.0 and not c.verified and c.inliers == 0 for c in proposal.candidates)


def check_order(project, proposal, sticky: int | None, k: int) -> None:
    """Unless it stays on the anchor under review, the session serves the unfinished anchor whose best allowed
    candidate is most similar; None only when no unfinished anchor has a candidate left."""
    if proposal is not None and proposal.anchor.id == sticky:
        return
    oracle = Oracle(project)
    open_anchors = [oracle.priority(a) for a in oracle.ids if not oracle.finished(a, k)]
    open_anchors = [p for p in open_anchors if p != NO_CANDIDATE]
    if proposal is None:
        assert not open_anchors
    else:
        assert oracle.priority(proposal.anchor.id) == pytest.approx(max(open_anchors), abs=1e-5)


def check_resume(project, k: int) -> None:
    """A new session (same store, nothing in memory) serves the anchor the rule says: the newest decision's anchor
    while it is unfinished, else the highest best-candidate cosine (smallest id on ties)."""
    oracle = Oracle(project)
    with project.sessions() as session:
        newest = session.scalar(select(Decision.a_id).order_by(Decision.id.desc()).limit(1))
    with ReviewSession(project, MODEL_ID, k=k) as session:
        proposal = session.next_proposal()
    if newest is not None and not oracle.finished(newest, k) and oracle.best(newest, k):
        assert proposal is not None and proposal.anchor.id == newest
        return
    open_anchors = [(oracle.priority(a), -a) for a in oracle.ids if not oracle.finished(a, k) and oracle.priority(a) != NO_CANDIDATE]
    if not open_anchors:
        assert proposal is None
        return
    assert proposal is not None
    best_priority = max(open_anchors)[0]
    assert oracle.priority(proposal.anchor.id) == pytest.approx(best_priority, abs=1e-5)
    assert not oracle.finished(proposal.anchor.id, k)


animal_index = st.integers(0, ANIMALS - 1)
kinds = st.sampled_from(["match", "nonmatch", "notcomparable"])
steps = st.lists(st.one_of(
    st.tuples(st.just("answer"), st.integers(0, K - 1), kinds),
    st.tuples(st.just("answer"), st.integers(0, K - 1), kinds),
    st.tuples(st.just("pair"), animal_index, animal_index, kinds),
    st.tuples(st.just("undo")), st.tuples(st.just("redo")), st.tuples(st.just("skip")),
    st.tuples(st.just("anchor"), animal_index),
    st.tuples(st.just("flank"), animal_index, st.sampled_from([None, "left", "right"])),
    st.tuples(st.just("merge"), animal_index, animal_index),
    st.tuples(st.just("split"), animal_index, animal_index),
), min_size=1, max_size=25)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_never_asks_twice_after_any_sequence_of_decisions(fresh, template, steps):
    ids = template[1].animal_ids
    project = fresh()
    try:
        with ReviewSession(project, MODEL_ID, k=K) as session:
            proposal = session.next_proposal()
            skipped = False
            for step in steps:
                action = step[0]
                skipped |= action == "skip"
                if action == "answer" and proposal is not None and proposal.candidates:
                    candidate = proposal.candidates[step[1] % len(proposal.candidates)]
                    session.decide(proposal.anchor.id, candidate.id, step[2])
                elif action == "pair" and step[1] != step[2]:
                    session.decide(ids[step[1]], ids[step[2]], step[3])
                elif action == "undo":
                    session.undo()
                elif action == "redo":
                    session.redo()
                elif action == "skip" and proposal is not None:
                    session.skip(proposal.anchor.id)
                elif action == "flank":
                    session.set_flank(ids[step[1]], step[2])
                elif action == "merge" and step[1] != step[2]:
                    session.merge(ids[step[1]], ids[step[2]])
                elif action == "split":
                    try:
                        session.split(ids[step[1]], ids[step[2]])
                    except DecisionError:
                        assert ids[step[2]] not in session.graph.component(ids[step[1]]) or step[1] == step[2]
                if action == "anchor":
                    proposal = session.next_proposal(ids[step[1]])
                else:
                    sticky = session.current_anchor
                    proposal = session.next_proposal()
                    if not skipped:  # skips reorder this session only
                        check_order(project, proposal, sticky, K)
                if proposal is not None:
                    check_proposal(project, proposal, K)
                    if action != "anchor":
                        assert not session.finished(proposal.anchor.id)
                oracle = Oracle(project)
                rejected_inside = {(row.a_id, row.b_id) for row in oracle.active
                                   if row.kind == DecisionKind.NONMATCH and row.b_id in oracle.component(row.a_id)}
                assert {(c.a_id, c.b_id) for c in session.conflicts()} == rejected_inside
        check_resume(project, K)
    finally:
        project.close()


def test_review_runs_to_the_end_and_groups_every_individual(fresh, template):
    """A perfect reviewer answering every proposal: the queue empties, no pair is asked twice, and the
    individuals found are exactly the true ones wherever the embedding put a true match in the top k."""
    synthetic = template[1]
    project = fresh()
    asked: set[frozenset[int]] = set()
    with ReviewSession(project, MODEL_ID, k=K, same_flank=False) as session:
        for _ in range(10 * ANIMALS * K):
            proposal = session.next_proposal()
            if proposal is None:
                break
            candidate = proposal.candidates[0]
            pair = frozenset((proposal.anchor.id, candidate.id))
            assert pair not in asked, "asked twice"
            asked.add(pair)
            same = synthetic.identity[proposal.anchor.id] == synthetic.identity[candidate.id]
            session.decide(proposal.anchor.id, candidate.id, "match" if same else "nonmatch")
        else:
            pytest.fail("the review never ended")
        assert session.progress().finished <= session.progress().total == ANIMALS
        assert not session.conflicts()
        for individual in session.graph.components():
            assert len({synthetic.identity[i] for i in individual}) == 1  # a perfect reviewer never merges two animals
    project.close()


def test_decisions_are_in_the_store_when_decide_returns(fresh, template, database_url, tmp_path):
    """Each decision is committed at once: another connection sees it, and a new session resumes on it."""
    if database_url is None:
        project = fresh()
    else:
        project = build_synthetic_project(tmp_path / "pg", 24, dim=16, seed=5, database_url=database_url).project
    with ReviewSession(project, MODEL_ID, k=K) as session:
        proposal = session.next_proposal()
        first = proposal.candidates[0].id
        session.decide(proposal.anchor.id, first, "nonmatch")
        with open_project(project.root) as other, other.sessions() as db:  # a second connection, like a second process
            stored = db.execute(select(Decision.a_id, Decision.b_id, Decision.kind)).all()
        assert stored == [(proposal.anchor.id, first, DecisionKind.NONMATCH)]
    with ReviewSession(project, MODEL_ID, k=K) as resumed:
        again = resumed.next_proposal()
        assert again.anchor.id == proposal.anchor.id and first not in [c.id for c in again.candidates]
        undone = resumed.undo()
        assert (undone.a_id, undone.b_id) == (proposal.anchor.id, first)
        assert first in [c.id for c in resumed.next_proposal().candidates]
    project.close()


def test_not_comparable_only_blocks_the_pair(fresh, template):
    ids = template[1].animal_ids
    project = fresh()
    with ReviewSession(project, MODEL_ID, k=K, same_flank=False) as session:
        a, b, c = ids[0], ids[5], ids[9]
        session.decide(a, b, "notcomparable")
        assert not session.graph.blocked(a, b)
        session.decide(b, c, "match")  # c joins b's individual; a was not compared with c, so c may be proposed for a
        assert b in session.excluded(a) and c not in session.excluded(a)
        session.decide(a, c, "nonmatch")  # a rejection blocks the whole individual: b too, though b was only not comparable
        assert {b, c} <= session.excluded(a) and session.graph.blocked(a, b)
    project.close()


def test_flank_filter_and_clear_errors(fresh, template):
    ids = template[1].animal_ids
    project = fresh()
    with ReviewSession(project, MODEL_ID, k=ANIMALS) as session:
        anchor = ids[0]
        session.set_flank(anchor, "left")
        for other in ids[1:]:
            session.set_flank(other, "right" if other % 2 else None)
        shown = {c.id for c in session.next_proposal(anchor).candidates}
        assert shown and all(session.flank(i) is None for i in shown)
        assert session.flank(anchor) == Flank.LEFT
        with ReviewSession(project, MODEL_ID, k=ANIMALS, same_flank=False) as any_flank:
            assert {c.id for c in any_flank.next_proposal(anchor).candidates} > shown
        with pytest.raises(ValueError, match="not a flank"):
            session.set_flank(anchor, "front")
        with pytest.raises(ValueError, match="not a detected animal"):
            session.next_proposal(10**6)
        with pytest.raises(DecisionError, match="itself"):
            session.decide(anchor, anchor, "match")
        with pytest.raises(DecisionError, match="no detected animal"):
            session.decide(anchor, 10**6, "match")
    project.close()


def test_merge_split_and_conflict_resolution(fresh, template):
    ids = template[1].animal_ids
    project = fresh()
    with ReviewSession(project, MODEL_ID, k=K, same_flank=False) as session:
        a, b, c, d = ids[1], ids[2], ids[3], ids[4]
        session.decide(a, b, "match")
        session.decide(c, d, "match")
        session.decide(a, c, "nonmatch")
        assert session.graph.blocked(b, d)
        retracted = session.merge(b, d)  # the reviewer overrides the rejection between the two individuals
        assert len(retracted) == 1 and session.graph.component(a) == {a, b, c, d} and not session.conflicts()

        cut = session.split(a, d)  # the cheapest cut: the edge b–d that the merge added
        assert cut == [tuple(sorted((b, d)))]
        assert session.graph.component(a) == {a, b} and session.graph.component(c) == {c, d} and session.graph.blocked(a, d)

        session.decide(b, c, "match")  # joins {a, b} and {c, d} although a–d is rejected: a conflict
        (conflict,) = session.conflicts()
        assert {conflict.a_id, conflict.b_id} == {a, d}
        session.resolve_conflict(conflict, same=False)
        assert not session.conflicts() and d not in session.graph.component(a)
        assert session.graph.component(a) | session.graph.component(d) == {a, b, c, d}  # one edge of the path a–b–c–d went
    project.close()


def test_undo_requeues_the_anchors_it_unblocks(fresh):
    """Undoing a rejection makes the rejected animal a candidate again, for the other side too: the queue must
    see that the other side's best candidate is back, though it had already marked it down."""
    project = fresh()
    oracle = Oracle(project)
    with ReviewSession(project, MODEL_ID, k=1, same_flank=False) as session:
        first = session.next_proposal()
        x, y = first.anchor.id, first.candidates[0].id
        assert oracle.priority(x) == pytest.approx(max(oracle.priority(a) for a in oracle.ids), abs=1e-5)
        session.decide(x, y, "nonmatch")  # x is finished (k = 1); y's best candidate, x, is now blocked
        second = session.next_proposal()
        assert second.anchor.id != x and (second.anchor.id != y or x not in [c.id for c in second.candidates])
        session.undo()
        session.skip(x)  # x is open again; set it aside to see which anchor comes next
        third = session.next_proposal()
        rest = [a for a in oracle.ids if a != x]
        assert oracle.priority(third.anchor.id) == pytest.approx(max(oracle.priority(a) for a in rest), abs=1e-5)
        assert third.anchor.id == y or oracle.priority(third.anchor.id) >= oracle.priority(y) - 1e-5
    project.close()


def test_individuals_panel(fresh, template):
    """Counts, first/last seen and stations per individual, renaming, and the gallery in time order."""
    ids = template[1].animal_ids
    project = fresh()
    with ReviewSession(project, MODEL_ID, k=K, same_flank=False) as session:
        a, b, c = ids[0], ids[7], ids[20]
        assert session.individuals() == []
        session.decide(a, b, "match")
        session.decide(c, b, "match")
        (individual,) = session.individuals()
        records = [session.record(i) for i in (a, b, c)]
        assert (individual.id, individual.members, individual.count) == (a, (a, b, c), 3)
        assert individual.first_seen == min(r.time for r in records) and individual.last_seen == max(r.time for r in records)
        assert individual.stations == tuple(sorted({r.station for r in records}))
        assert individual.name == f"ID-{a}"
        session.rename(c, "Scar")
        assert session.individuals()[0].name == "Scar"
        assert [r.id for r in session.gallery(b)] == sorted((a, b, c), key=lambda i: session.record(i).time)
        assert len(session.individuals(min_members=1)) == ANIMALS - 2
        with pytest.raises(DecisionError, match="empty"):
            session.rename(a, "  ")
    project.close()


def test_a_detection_set_aside_leaves_review_and_comes_back_when_restored(fresh):
    project = fresh()
    with ReviewSession(project, MODEL_ID, k=K) as session:
        first = session.next_proposal()
        aside = first.candidates[0].id
        assert session.mark_unusable(aside, " a  rock ") == "a rock"
        for _ in range(ANIMALS):  # it is never an anchor nor a candidate again
            proposal = session.next_proposal()
            if proposal is None:
                break
            assert aside not in {proposal.anchor.id, *(c.id for c in proposal.candidates)}
            session.skip(proposal.anchor.id)
        with pytest.raises(ValueError, match="not a detected animal"):
            session.next_proposal(aside)
    with ReviewSession(project, MODEL_ID, k=K) as session:  # a new session reads it from the store
        with pytest.raises(ValueError, match="not a detected animal"):
            session.next_proposal(aside)
        assert session.restore(aside) == "a rock"
        assert session.next_proposal(aside).anchor.id == aside
    project.close()


def test_a_confirmed_individual_takes_one_slot_its_best_photo_standing_for_it(fresh):
    """Three photos confirmed as one animal are one question, not three: its most similar photo is shown,
    and says how many photos it stands for; the other two never fill slots beside it."""
    project = fresh()
    with ReviewSession(project, MODEL_ID, k=K, same_flank=False) as session:
        anchor = session.next_proposal().anchor.id
        before = session.next_proposal(anchor).candidates
        top, others = before[0].id, [c.id for c in before[1:]]
        for other in others:
            session.decide(top, other, "match")  # the candidates of one proposal become one individual
        after = session.next_proposal(anchor).candidates
        assert after[0].id == top and after[0].photos == len(others) + 1 == len(session.gallery(top))
        assert not set(others) & {c.id for c in after}
        assert all(c.photos == len(session.gallery(c.id)) for c in after)
        assert len({frozenset(session.graph.component(c.id)) for c in after}) == len(after)
    project.close()


def test_events_say_what_changed_after_it_is_committed(fresh, template):
    """Each change tells the listeners once, with the animals it touched; a failing listener does not undo a
    saved decision; an unsubscribed listener hears nothing more."""
    from pelage.review.events import ReviewEventKind

    ids = template[1].animal_ids
    project = fresh()
    heard = []
    with ReviewSession(project, MODEL_ID, k=K, same_flank=False) as session:
        def listener(event):
            with open_project(project.root) as other, other.sessions() as db:  # committed when the listener hears it
                heard.append((event.kind, event.animals, db.scalar(select(Decision.id).order_by(Decision.id.desc()).limit(1))))

        unsubscribe = session.events.subscribe(listener)
        session.events.subscribe(lambda event: 1 / 0)  # a broken listener: logged, not raised
        a, b, c = ids[0], ids[7], ids[20]
        decision = session.decide(a, b, "match")
        session.undo()
        session.redo()
        session.set_flank(c, "left")
        session.rename(a, "Kali")
        session.merge(a, c)
        session.mark_unusable(c, "only a tail")
        session.restore(c)
        session.refresh()
        unsubscribe()
        session.decide(a, ids[9], "nonmatch")
    kinds = [kind for kind, _, _ in heard]
    assert kinds == [ReviewEventKind.DECIDED, ReviewEventKind.UNDONE, ReviewEventKind.REDONE, ReviewEventKind.FLANK_CHANGED,
                     ReviewEventKind.RENAMED, ReviewEventKind.INDIVIDUALS_CHANGED, ReviewEventKind.SET_ASIDE, ReviewEventKind.RESTORED,
                     ReviewEventKind.RELOADED]
    assert heard[0][1] == (a, b) and heard[0][2] == decision.id
    assert heard[1][2] > decision.id  # the retraction was in the store when "undone" was heard
    assert [animals for _, animals, _ in heard[3:5]] == [(c,), (a,)]
    project.close()


def test_answers_and_resume_at_the_anchor_on_screen(fresh, template, tmp_path):
    """What was decided about an animal, oldest first; a new session resumes at the anchor that was on screen
    (saved in the project folder) while it is open, and by the store's rule otherwise."""
    from pelage.review.position import POSITION_FILE, load_position, save_position

    project = fresh()
    with ReviewSession(project, MODEL_ID, k=K) as session:
        first = session.next_proposal()
        anchor, shown = first.anchor.id, [c.id for c in first.candidates]
        session.decide(shown[1], anchor, "notcomparable")  # asked the other way round: still about the anchor
        session.decide(anchor, shown[0], "nonmatch")
        assert [(d.a_id, d.b_id, d.kind) for d in session.answers(anchor)] == [
            (shown[1], anchor, DecisionKind.NOT_COMPARABLE), (anchor, shown[0], DecisionKind.NONMATCH)]
        session.skip(anchor)
        elsewhere = session.next_proposal().anchor.id
        assert elsewhere != anchor
    assert load_position(project.root) is None
    assert save_position(project.root, elsewhere)
    with ReviewSession(project, MODEL_ID, k=K) as session:
        assert session.next_proposal().anchor.id == anchor  # no position asked for: the newest decision's anchor
        assert session.resume(load_position(project.root))
        assert session.next_proposal().anchor.id == elsewhere
        assert not session.resume(10**6) and not session.resume(None)  # gone or never saved: the store's rule stays
        for candidate in [c.id for c in session.next_proposal(anchor).candidates]:
            session.decide(anchor, candidate, "nonmatch")
        assert session.finished(anchor) and not session.resume(anchor)  # a finished anchor is not resumed
    (project.root / POSITION_FILE).write_text("{not json", encoding="utf-8")
    assert load_position(project.root) is None
    (project.root / POSITION_FILE).write_text('{"anchor": true}', encoding="utf-8")
    assert load_position(project.root) is None
    project.close()


def test_slots_never_move_while_an_anchor_is_under_review():
    from pelage.review.slots import keep_slots

    assert keep_slots([], set(), [5, 6, 7], 5) == [5, 6, 7]
    # 6 answered: the next proposal leaves it out and brings 8; 6 keeps slot 2, 7 slot 3, 8 takes slot 4.
    assert keep_slots([5, 6, 7], {6}, [5, 7, 8], 5) == [5, 6, 7, 8]
    assert keep_slots([1, 2, 3, 4, 5], {2, 4}, [1, 3, 5, 6, 7], 5) == [1, 2, 3, 4, 5]  # full: nothing new squeezes in
    assert keep_slots([1, 2, 3], {2}, [9, 1], 5) == [1, 2, 9]  # 3 left the proposal (a flank changed): its slot is reused
    assert keep_slots([1, 2, 3], set(), [2], 5) == [None, 2]  # nothing to fill slot 1 with: it stays empty, 2 does not move
    assert keep_slots([1, 2], {1}, [2], 5) == [1, 2]  # an undone answer (on 2) keeps its slot too


@pytest.mark.parametrize("approximate", [False, True], ids=["exact", "approximate index"])
def test_the_queue_orders_by_appearance_while_candidates_rank_with_the_spot_words(tmp_path, monkeypatch, approximate):
    """Two crops of one scenery share all their spot words; the queue must not put them before two alike coats."""
    from sqlalchemy import update

    from pelage.reid.index import CandidateIndex
    from pelage.reid.nearest import appearance_rows
    from pelage.store import transaction

    synthetic = build_synthetic_project(tmp_path / "p", 5, dim=8, per_individual=2, flanked=0.0, two_per_photo=0.0)
    model_id = "synthetic-vectors-words4.0123abcd"  # what a model with 4 spot words is called
    appearance = np.array([[1, 0, 0, 0], [0.6, 0.8, 0, 0], [0, 0, 1, 0], [0, 0, 0.9, np.sqrt(1 - 0.81)], [0, 0.1, 0.99, 0]], np.float32)
    appearance /= np.linalg.norm(appearance, axis=1, keepdims=True)
    # 0 and 1 share one scenery's words; 4, nearest to 2 by far, is set aside below.
    words = np.array([[1, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]], np.float32)
    vectors = np.concatenate([appearance, np.sqrt(0.5) * words], axis=1) / np.sqrt(1.5)
    with transaction(synthetic.project.sessions) as session:
        for animal, vector in zip(synthetic.animal_ids, vectors, strict=True):
            session.execute(update(Embedding).where(Embedding.detection_id == animal)
                            .values(model_id=model_id, dim=8, vector=vector.astype("<f4").tobytes()))
        session.execute(update(Detection).where(Detection.id == synthetic.animal_ids[4]).values(unusable_reason="a rock"))
    np.testing.assert_allclose(appearance_rows(vectors, 4), appearance, atol=1e-6)
    scenery, coats = set(synthetic.animal_ids[:2]), set(synthetic.animal_ids[2:4])
    if approximate:  # as past the index's exact limit: priorities from the index's search, which holds the set-aside animal
        monkeypatch.setattr(CandidateIndex, "is_exact", property(lambda self: False))
    with ReviewSession(synthetic.project, model=model_id, k=1) as session:
        proposal = session.next_proposal()
        # The coats look more alike (0.9 against 0.6), though the scenery pair is more similar with its words counted.
        assert proposal.anchor.id in coats and proposal.candidates[0].id in coats
        assert abs(proposal.candidates[0].cosine - 0.9 / 1.5) < 1e-4  # the shortlist's similarity counts the words
        first = session.next_proposal(min(scenery))
        assert first.candidates[0].id == max(scenery) and abs(first.candidates[0].cosine - (0.6 + 0.5) / 1.5) < 1e-4
    synthetic.project.close()
