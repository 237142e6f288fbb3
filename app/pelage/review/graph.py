"""The graph of review decisions: confirmed matches are edges, individuals are connected components.

The decision table is append-only (an undo appends a retraction), so the graph is always derived from it:
whatever was committed before a crash is the state after it. For each unordered pair the newest
un-retracted decision counts. "Not a match" blocks the pair and, by implication, every pair between the two
components it separates; "not comparable" only keeps that one pair from being proposed again. A rejection
between two members of one component is a conflict the user must resolve (by splitting or retracting).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

import networkx as nx
from sqlalchemy import select
from sqlalchemy.orm import Session

from pelage.store.schema import Decision, DecisionKind, Detection

PAIR_KINDS = (DecisionKind.MATCH, DecisionKind.NONMATCH, DecisionKind.NOT_COMPARABLE)


class DecisionError(ValueError):
    """A decision that cannot be recorded (unknown animal, an animal paired with itself…)."""


@dataclass(frozen=True)
class ActiveDecision:
    id: int
    a_id: int
    b_id: int
    kind: DecisionKind
    created_at: datetime


@dataclass(frozen=True)
class Conflict:
    """A 'not a match' between two animals that confirmed matches put in one individual."""

    a_id: int
    b_id: int
    decision_id: int
    component: frozenset[int]


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def cancelled_ids(rows) -> set[int]:
    """Ids of rows undone by a retraction that is itself in force (a redo is a retraction of a retraction).

    Retractions always point backwards, so one pass from the newest row settles every chain."""
    retractors: dict[int, list[int]] = {}
    for row in rows:
        if row.kind == DecisionKind.RETRACT:
            retractors.setdefault(row.retracts_id, []).append(row.id)
    cancelled: set[int] = set()
    for row in sorted(rows, key=lambda r: r.id, reverse=True):
        if any(retractor not in cancelled for retractor in retractors.get(row.id, ())):
            cancelled.add(row.id)
    return cancelled


def _log(session: Session):
    return session.execute(select(Decision.id, Decision.a_id, Decision.b_id, Decision.kind, Decision.retracts_id,
                                  Decision.created_at).order_by(Decision.id)).all()


def active_decisions(session: Session) -> list[ActiveDecision]:
    """Pair decisions in force, the newest per unordered pair, oldest first."""
    rows = _log(session)
    cancelled = cancelled_ids(rows)
    newest: dict[tuple[int, int], ActiveDecision] = {}
    for row in rows:
        if row.kind == DecisionKind.RETRACT or row.id in cancelled:
            continue
        newest[_pair(row.a_id, row.b_id)] = ActiveDecision(row.id, row.a_id, row.b_id, DecisionKind(row.kind), row.created_at)
    return sorted(newest.values(), key=lambda decision: decision.id)


class DecisionGraph:
    """Matches as a networkx graph, plus the rejected and not-comparable pairs, for fast membership questions."""

    def __init__(self) -> None:
        self.matches = nx.Graph()
        self._decided: dict[tuple[int, int], ActiveDecision] = {}
        # The decided pairs each animal is in: what excluded_for, blocked and decisions_of read, so their cost follows
        # the animals involved instead of every decision of the season.
        self._pairs_of: dict[int, set[tuple[int, int]]] = {}
        self._component_of: dict[int, frozenset[int]] | None = None

    @classmethod
    def from_decisions(cls, decisions: Iterable[ActiveDecision]) -> DecisionGraph:
        graph = cls()
        for decision in decisions:
            graph.add(decision)
        return graph

    @classmethod
    def load(cls, session: Session) -> DecisionGraph:
        return cls.from_decisions(active_decisions(session))

    def add(self, decision: ActiveDecision) -> None:
        """Apply one decision, replacing any earlier decision on the same pair."""
        self.remove_pair(decision.a_id, decision.b_id)
        pair = _pair(decision.a_id, decision.b_id)
        self._decided[pair] = decision
        for animal in pair:
            self._pairs_of.setdefault(animal, set()).add(pair)
        if decision.kind == DecisionKind.MATCH:
            self.matches.add_edge(decision.a_id, decision.b_id, decision_id=decision.id)
        self._component_of = None

    def remove_pair(self, a: int, b: int) -> ActiveDecision | None:
        """Forget the decision on a pair (a retraction); returns what it was."""
        pair = _pair(a, b)
        old = self._decided.pop(pair, None)
        for animal in pair if old is not None else ():
            self._pairs_of[animal].discard(pair)
            if not self._pairs_of[animal]:
                del self._pairs_of[animal]
        if old is not None and old.kind == DecisionKind.MATCH:
            self.matches.remove_edge(a, b)
            for node in (a, b):
                if not self.matches.degree(node):
                    self.matches.remove_node(node)
        self._component_of = None
        return old

    def decisions(self) -> list[ActiveDecision]:
        return sorted(self._decided.values(), key=lambda decision: decision.id)

    def decisions_of(self, animals: Iterable[int]) -> list[ActiveDecision]:
        """The decisions in force on pairs with any of these animals, oldest first."""
        pairs = set().union(*(self._pairs_of.get(animal, ()) for animal in animals))
        return sorted((self._decided[pair] for pair in pairs), key=lambda decision: decision.id)

    def decision(self, a: int, b: int) -> ActiveDecision | None:
        return self._decided.get(_pair(a, b))

    def _components(self) -> dict[int, frozenset[int]]:
        if self._component_of is None:
            self._component_of = {}
            for members in nx.connected_components(self.matches):
                frozen = frozenset(members)
                for node in frozen:
                    self._component_of[node] = frozen
        return self._component_of

    def component(self, animal_id: int) -> frozenset[int]:
        return self._components().get(animal_id, frozenset((animal_id,)))

    def components(self) -> list[frozenset[int]]:
        """Components of two or more animals, ordered by their smallest member."""
        unique = {min(members): members for members in self._components().values()}
        return [unique[key] for key in sorted(unique)]

    def decided(self, a: int, b: int) -> bool:
        return _pair(a, b) in self._decided

    def blocked(self, a: int, b: int) -> bool:
        """Whether a 'not a match' separates the components of ``a`` and ``b``."""
        left, right = self.component(a), self.component(b)
        return any(decision.kind == DecisionKind.NONMATCH
                   and ((decision.a_id in left and decision.b_id in right) or (decision.a_id in right and decision.b_id in left))
                   for decision in self.decisions_of(left))

    def excluded_for(self, anchor: int) -> set[int]:
        """Animals never to propose for ``anchor``: its own individual, individuals rejected against it, and
        animals it already has any decision with."""
        own = self.component(anchor)
        excluded = set(own)
        for decision in self.decisions_of(own):
            a_in, b_in = decision.a_id in own, decision.b_id in own
            if a_in == b_in:
                continue
            other = decision.b_id if a_in else decision.a_id
            if decision.kind == DecisionKind.NONMATCH:
                excluded |= self.component(other)
            elif (decision.a_id == anchor) or (decision.b_id == anchor):
                excluded.add(other)  # not comparable with the anchor itself: that one pair only
        return excluded

    def conflicts(self) -> list[Conflict]:
        components = self._components()
        found = []
        for decision in self.decisions():
            if decision.kind != DecisionKind.NONMATCH:
                continue
            component = components.get(decision.a_id)
            if component is not None and decision.b_id in component:
                found.append(Conflict(decision.a_id, decision.b_id, decision.id, component))
        return found


def _check_animals(session: Session, *ids: int) -> None:
    found = set(session.scalars(select(Detection.id).where(Detection.id.in_(ids), Detection.label == "animal")))
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise DecisionError(f"no detected animal with id {', '.join(missing)} in this project (see `pelage animals PROJECT`)")


def record_decision(session: Session, a_id: int, b_id: int, kind: DecisionKind | str, author: str | None = None) -> Decision:
    """Append a decision on a pair of animals; it supersedes any earlier decision on the same pair.

    The caller commits (one transaction per decision, so a crash loses at most the decision in flight).
    """
    kind = DecisionKind(kind)
    if kind == DecisionKind.RETRACT:
        raise DecisionError("retractions are made by undo, not recorded directly")
    a_id, b_id = int(a_id), int(b_id)
    if a_id == b_id:
        raise DecisionError(f"animal {a_id} cannot be compared with itself")
    _check_animals(session, a_id, b_id)
    decision = Decision(a_id=a_id, b_id=b_id, kind=kind, author=author)
    session.add(decision)
    session.flush()
    return decision


def retract(session: Session, decision_id: int, author: str | None = None) -> Decision:
    """Append a retraction of one row (used by undo, redo and splitting an individual)."""
    target = session.get(Decision, decision_id)
    if target is None:
        raise DecisionError(f"there is no decision {decision_id} to retract")
    retraction = Decision(a_id=target.a_id, b_id=target.b_id, kind=DecisionKind.RETRACT, retracts_id=target.id, author=author)
    session.add(retraction)
    session.flush()
    return retraction


def undo_last(session: Session, author: str | None = None, among: Collection[int] | None = None) -> Decision | None:
    """Retract the newest pair decision in force; returns it, or None when there is nothing to undo (or, with ``among``,
    when the newest is not one of those decision ids: one key's answers are undone together, and no further)."""
    active = active_decisions(session)
    if not active or (among is not None and active[-1].id not in among):
        return None
    target = session.get(Decision, active[-1].id)
    retract(session, target.id, author)
    return target


def redo_last(session: Session, author: str | None = None, among: Collection[int] | None = None) -> Decision | None:
    """Re-apply the decision taken back by the newest undo not yet redone, if nothing was decided since (and, with
    ``among``, if it is one of those decision ids).

    A redo retracts the undo's retraction, so undo/redo is a stack kept entirely in the table and survives
    a restart. Returns the decision put back in force, or None."""
    rows = _log(session)
    cancelled = cancelled_ids(rows)
    kinds = {row.id: row.kind for row in rows}
    for row in reversed(rows):
        if row.kind != DecisionKind.RETRACT:
            return None  # a decision was made after the undos: the redo trail is gone
        if kinds.get(row.retracts_id) == DecisionKind.RETRACT or row.id in cancelled:
            continue  # a redo, or an undo already redone
        if among is not None and row.retracts_id not in among:
            return None
        retract(session, row.id, author)
        return session.get(Decision, row.retracts_id)
    return None
