"""Individuals: the connected components of confirmed matches, with the names users give them.

An individual has no row of its own (merging and splitting would have to rewrite it); it is identified by
its smallest member's id, and named by the newest name attached to any of its members, so a merge keeps
the most recent name and a split leaves the name with the part that still holds the named member.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from pelage.review.graph import DecisionError, DecisionGraph
from pelage.store.schema import Detection, IndividualName


@dataclass(frozen=True)
class Individual:
    id: int  # the smallest member's animal id
    name: str
    members: tuple[int, ...]  # animal (detection) ids, ascending


def default_name(individual_id: int) -> str:
    return f"ID-{individual_id}"


def _newest_name(members: frozenset[int], named: dict[int, tuple[int, str]]) -> str | None:
    found = [named[m] for m in members if m in named]
    return max(found)[1] if found else None


def list_individuals(session: Session, min_members: int = 2, graph: DecisionGraph | None = None) -> list[Individual]:
    """Every individual with at least ``min_members`` photos, by id; ``min_members=1`` includes every animal."""
    graph = graph or DecisionGraph.load(session)
    named: dict[int, tuple[int, str]] = {}
    for row_id, detection_id, name in session.execute(select(IndividualName.id, IndividualName.detection_id, IndividualName.name)):
        if detection_id not in named or named[detection_id][0] < row_id:
            named[detection_id] = (row_id, name)
    components = [members for members in graph.components() if len(members) >= min_members]
    if min_members <= 1:
        in_component = set().union(*components) if components else set()
        animals = session.scalars(select(Detection.id).where(Detection.label == "animal"))
        components += [frozenset((animal,)) for animal in animals if animal not in in_component]
    individuals = []
    for members in components:
        first = min(members)
        individuals.append(Individual(first, _newest_name(members, named) or default_name(first), tuple(sorted(members))))
    return sorted(individuals, key=lambda individual: individual.id)


def individual_of(session: Session, graph: DecisionGraph | None = None) -> dict[int, Individual]:
    """Each animal's individual, singletons included."""
    return {member: individual for individual in list_individuals(session, min_members=1, graph=graph) for member in individual.members}


def rename_individual(session: Session, member_id: int, name: str) -> None:
    """Name the individual that ``member_id`` belongs to (the caller commits)."""
    name = name.strip()
    if not name:
        raise DecisionError("a name cannot be empty")
    if session.scalar(select(Detection.id).where(Detection.id == member_id, Detection.label == "animal")) is None:
        raise DecisionError(f"no detected animal with id {member_id} in this project")
    session.add(IndividualName(detection_id=int(member_id), name=name))
    session.flush()
