"""The individuals panel's rows: each individual with its photos, when and where it was seen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from pelage.review.graph import DecisionGraph
from pelage.review.individuals import list_individuals
from pelage.store.queries import AnimalRecord, list_animals


@dataclass(frozen=True)
class IndividualSummary:
    id: int  # smallest member id
    name: str
    members: tuple[int, ...]
    first_seen: datetime | None
    last_seen: datetime | None
    stations: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.members)

    def as_json(self) -> dict:
        return {"id": self.id, "name": self.name, "members": list(self.members), "count": self.count,
                "first_seen": self.first_seen.isoformat() if self.first_seen else None,
                "last_seen": self.last_seen.isoformat() if self.last_seen else None, "stations": list(self.stations)}


def summarise_individuals(session: Session, min_members: int = 2, records: Mapping[int, AnimalRecord] | None = None,
                          graph: DecisionGraph | None = None) -> list[IndividualSummary]:
    """Individuals with at least ``min_members`` photos; ``records`` and ``graph`` save re-reading them."""
    if records is None:
        records = {record.id: record for record in list_animals(session)}
    summaries = []
    for individual in list_individuals(session, min_members=min_members, graph=graph):
        seen = [records[i] for i in individual.members if i in records]
        times = sorted(record.time for record in seen if record.time is not None)
        summaries.append(IndividualSummary(individual.id, individual.name, tuple(individual.members), times[0] if times else None,
                                           times[-1] if times else None, tuple(sorted({r.station for r in seen if r.station}))))
    return summaries
