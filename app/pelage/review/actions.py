"""What a reviewer does to a project, each in its own transaction: committed before the function returns.

One transaction per action means a killed app loses at most the click in flight, and the CLI and the GUI
change a project through the same functions (the GUI's :class:`~pelage.review.session.ReviewSession`
calls these, then updates its in-memory graph).
"""

from __future__ import annotations

from collections.abc import Collection

import networkx as nx
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from pelage.review.graph import ActiveDecision, DecisionError, DecisionGraph, cancelled_ids, record_decision, redo_last, retract, undo_last
from pelage.store import Project, transaction
from pelage.store.schema import Decision, DecisionKind, Detection, Flank, FlankSource


def _active(decision: Decision) -> ActiveDecision:
    return ActiveDecision(decision.id, decision.a_id, decision.b_id, DecisionKind(decision.kind), decision.created_at)


def parse_flank(flank: Flank | str | None) -> Flank | None:
    """``left``/``right`` as a :class:`Flank`; ``unknown``, ``none``, ``""`` and None as None (not known)."""
    if flank is None or isinstance(flank, Flank):
        return flank
    text = str(flank).strip().lower()
    if text in ("", "unknown", "none"):
        return None
    try:
        return Flank(text)
    except ValueError:
        raise ValueError(f"{flank!r} is not a flank: use left, right or unknown") from None


def decide(project: Project, anchor_id: int, candidate_id: int, kind: DecisionKind | str, author: str | None = None) -> ActiveDecision:
    """Record the reviewer's answer on a pair (the anchor first); it supersedes any earlier answer on the pair."""
    with transaction(project.sessions) as session:
        return _active(record_decision(session, anchor_id, candidate_id, kind, author))


def undo(project: Project, author: str | None = None, among: Collection[int] | None = None) -> ActiveDecision | None:
    """Retract the newest decision still in force; returns it (None when there is nothing to undo, or with ``among``
    when the newest is not one of those decision ids)."""
    with transaction(project.sessions) as session:
        target = undo_last(session, author, among)
        return _active(target) if target is not None else None


def redo(project: Project, author: str | None = None, among: Collection[int] | None = None) -> ActiveDecision | None:
    """Re-apply what the newest undo retracted; None when there is nothing to redo (or, with ``among``, when it was
    not one of those decision ids)."""
    with transaction(project.sessions) as session:
        again = redo_last(session, author, among)
        return _active(again) if again is not None else None


def retract_decision(project: Project, decision_id: int, author: str | None = None) -> None:
    """Withdraw one decision (resolving a conflict by dropping the rejection, say)."""
    with transaction(project.sessions) as session:
        retract(session, decision_id, author)


def merge(project: Project, a_id: int, b_id: int, author: str | None = None) -> list[int]:
    """Make the individuals of ``a_id`` and ``b_id`` one, by a confirmed match between the two animals.

    The reviewer overrides earlier rejections between the two individuals, so those are retracted (otherwise
    they would become conflicts at once). Returns the ids of the retracted decisions.
    """
    with transaction(project.sessions) as session:
        graph = DecisionGraph.load(session)
        left, right = graph.component(a_id), graph.component(b_id)
        if b_id in left:
            return []
        retracted = [decision.id for decision in graph.decisions() if decision.kind == DecisionKind.NONMATCH
                     and ((decision.a_id in left and decision.b_id in right) or (decision.a_id in right and decision.b_id in left))]
        for decision_id in retracted:
            retract(session, decision_id, author)
        record_decision(session, a_id, b_id, DecisionKind.MATCH, author)
        return retracted


def split(project: Project, a_id: int, b_id: int, reject: bool = True, author: str | None = None) -> list[tuple[int, int]]:
    """Separate two animals that confirmed matches joined: retract the fewest match edges that connect them.

    That is the direct edge when it is the only link, else a minimum edge cut of their individual. With
    ``reject`` the pair is also marked "not a match", so it is never proposed again. Returns the cut edges.
    """
    with transaction(project.sessions) as session:
        graph = DecisionGraph.load(session)
        component = graph.component(a_id)
        if a_id == b_id or b_id not in component:
            raise DecisionError(f"animals {a_id} and {b_id} are not two members of one individual: nothing to split")
        cut = sorted(tuple(sorted(edge)) for edge in nx.minimum_edge_cut(graph.matches.subgraph(component), a_id, b_id))
        for u, v in cut:
            retract(session, graph.matches.edges[u, v]["decision_id"], author)
        if reject:
            record_decision(session, a_id, b_id, DecisionKind.NONMATCH, author)
        return cut


def set_flank(project: Project, animal_id: int, flank: Flank | str | None) -> Flank | None:
    """Record which flank an animal shows (None: not known); proposals with same-flank filtering follow it.
    The reviewer's word is final: identification never predicts over it, "not known" included."""
    flank = parse_flank(flank)
    with transaction(project.sessions) as session:
        animal = _animal(session, animal_id)
        animal.flank, animal.flank_source, animal.flank_confidence = flank, FlankSource.USER, None
    return flank


def _animal(session: Session, animal_id: int) -> Detection:
    detection = session.scalar(select(Detection).where(Detection.id == int(animal_id), Detection.label == "animal"))
    if detection is None:
        raise DecisionError(f"no detected animal with id {animal_id} in this project (see `pelage animals PROJECT`)")
    return detection


def mark_unusable(project: Project, animal_id: int, reason: str) -> str:
    """Set a detection aside (a rock, the wrong animal, only a tail): it leaves the review queue and every export
    lists it as left out with ``reason``. Its decisions are kept, so :func:`restore` brings it back as it was."""
    reason = " ".join(str(reason).split())
    if not reason:
        raise DecisionError("say why the detection is not usable (e.g. 'only a tail'): the exports list it with that reason")
    with transaction(project.sessions) as session:
        _animal(session, animal_id).unusable_reason = reason
    return reason


def restore(project: Project, animal_id: int) -> str | None:
    """Bring a detection set aside back into review and the exports; returns the reason it had (None: it was usable)."""
    with transaction(project.sessions) as session:
        detection = _animal(session, animal_id)
        reason, detection.unusable_reason = detection.unusable_reason, None
    return reason


def pair_decision(session: Session, a_id: int, b_id: int) -> ActiveDecision | None:
    """The decision in force on one pair (the newest not retracted), read from the store: what
    :func:`~pelage.review.graph.active_decisions` gives for this pair, without reading every decision."""
    rows = session.execute(select(Decision.id, Decision.a_id, Decision.b_id, Decision.kind, Decision.retracts_id, Decision.created_at)
                           .where(or_(and_(Decision.a_id == a_id, Decision.b_id == b_id), and_(Decision.a_id == b_id, Decision.b_id == a_id)))
                           .order_by(Decision.id)).all()
    cancelled = cancelled_ids(rows)  # a pair's retractions (and redos, retractions of those) name the same pair
    active = [row for row in rows if row.kind != DecisionKind.RETRACT and row.id not in cancelled]
    if not active:
        return None
    row = active[-1]
    return ActiveDecision(row.id, row.a_id, row.b_id, DecisionKind(row.kind), row.created_at)


def newest_anchor(project: Project) -> int | None:
    """The anchor of the newest decision row (a retraction names its target's pair): where the reviewer stopped."""
    with project.sessions() as session:
        return session.scalar(select(Decision.a_id).order_by(Decision.id.desc()).limit(1))
