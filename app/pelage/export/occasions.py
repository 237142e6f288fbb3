"""Sampling occasions, camera effort per occasion, and the independent captures that capture histories count.

Semantics (the same for every format):

* Occasion k (0-based; 1-based in the files) covers the days [start + k·L, start + (k+1)·L), where L is the
  occasion length in days and start the earliest setup date (or the user's start). The last occasion ends
  on the latest retrieval day and may be shorter than L.
* A station is *used* on an occasion when its camera worked on at least one day of it (setup and
  retrieval days count as working days; outage days do not); its effort is the number of such days.
* A photo counts only when it has a station and a time, falls on or after the start, and its station was
  working that day; the rest are left out and reported, never silently dropped.
* Independence: photos of one entity at one station are taken in time order and a photo less than N
  minutes after the previous *counted* photo is dropped (a photo exactly N minutes later counts), so a
  burst or a long visit counts once. Two cameras at a station are one detector, so a visit seen by both
  counts once too.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from pelage.export.dataset import AnimalPhoto, ExportError, ExportOptions, ProjectData, safe_id
from pelage.export.stations import StationInfo, years_after

MAX_OCCASIONS = 2000  # more columns than any capture-recapture model is fitted to: a sign of wrong dates


@dataclass(frozen=True)
class OccasionPlan:
    start: date
    end: date  # the last day of the last occasion, inclusive
    length: int  # days per occasion

    @property
    def count(self) -> int:
        return -(-((self.end - self.start).days + 1) // self.length)

    def occasion_of(self, day: date) -> int | None:
        if day < self.start or day > self.end:
            return None
        return (day - self.start).days // self.length

    def first_day(self, occasion: int) -> date:
        return self.start + timedelta(days=occasion * self.length)

    def last_day(self, occasion: int) -> date:
        return min(self.first_day(occasion + 1) - timedelta(days=1), self.end)

    def days(self, occasion: int) -> list[date]:
        first = self.first_day(occasion)
        return [first + timedelta(days=n) for n in range((self.last_day(occasion) - first).days + 1)]


def require_dates(stations: tuple[StationInfo, ...] | list[StationInfo]) -> None:
    lacking = [s.name for s in stations if not s.has_dates]
    if lacking:
        raise ExportError(f"station(s) {', '.join(lacking)} have no setup/retrieval dates, so their effort is unknown; "
                          "import a station table with `pelage stations PROJECT --import stations.csv` (or edit them in the app)")
    if not stations:
        raise ExportError("the project has no stations; capture histories need the station table")


def plan_occasions(stations, occasion_days: int = 1, start: date | None = None, max_span_years: int = 5) -> OccasionPlan:
    """The occasions from ``start`` (default: the earliest setup) to the latest retrieval.

    A span over ``max_span_years`` or more than :data:`MAX_OCCASIONS` occasions is refused: both come from a
    mistyped year far more often than from a real survey, and would write hundreds of thousands of columns.
    """
    require_dates(stations)
    earliest = min(stations, key=lambda s: (s.setup, s.name))
    latest = max(stations, key=lambda s: (s.retrieval, s.name))
    first, last = start or earliest.setup, latest.retrieval
    if first > last:
        raise ExportError(f"the start {first} is after the last retrieval ({last}); nothing would be sampled")
    since = f"--start {first}" if start else f"station {earliest.name} is set up on {first}"
    if last > years_after(first, max_span_years):
        raise ExportError(f"the occasions would span more than {max_span_years} years ({since}, station {latest.name} retrieved on "
                          f"{last}); fix the mistyped dates in the station table, or pass --max-span-years if the survey is that long")
    plan = OccasionPlan(first, last, occasion_days)
    if plan.count > MAX_OCCASIONS:
        raise ExportError(f"{first}..{last} makes {plan.count} occasions of {occasion_days} day(s), more than {MAX_OCCASIONS}; "
                          "pass a larger --occasion-days")
    return plan


def effort(station: StationInfo, plan: OccasionPlan) -> list[int]:
    """Working days of ``station`` in each occasion."""
    return [sum(station.operational(day) for day in plan.days(k)) for k in range(plan.count)]


@dataclass(frozen=True)
class Capture:
    photo: AnimalPhoto
    occasion: int  # 0-based
    session: str


@dataclass(frozen=True)
class CaptureHistory:
    plan: OccasionPlan
    sessions: tuple[str, ...]
    captures: tuple[Capture, ...]  # independent captures, by entity, then time
    left_out: dict[str, tuple[int, ...]]  # reason -> animal ids (sorted)

    def entities(self) -> list[str]:
        seen: dict[str, tuple] = {}
        for capture in self.captures:
            seen.setdefault(capture.photo.entity, capture.photo.entity_key)
        return sorted(seen, key=lambda entity: (seen[entity], entity))


def independent(photos: list[AnimalPhoto], minutes: float) -> tuple[list[AnimalPhoto], list[AnimalPhoto]]:
    """Split photos into (counted, dropped) by the independence interval, per entity and station."""
    groups: dict[tuple[str, str], list[AnimalPhoto]] = defaultdict(list)
    for photo in photos:
        groups[(photo.entity, photo.station)].append(photo)
    gap = timedelta(minutes=minutes)
    counted, dropped = [], []
    for group in groups.values():
        last = None
        for photo in sorted(group, key=lambda p: (p.time, p.animal_id)):
            if last is not None and photo.time - last < gap:
                dropped.append(photo)
            else:
                counted.append(photo)
                last = photo.time
    return counted, dropped


def session_names(data: ProjectData, options: ExportOptions) -> dict[str, str]:
    """Survey name -> secr session label (one session for the project unless asked per survey)."""
    if options.session_per_survey:
        labels = {survey: safe_id(survey) for survey in data.surveys}
        if len(set(labels.values())) < len(labels):
            raise ExportError(f"survey names {sorted(labels)} are not distinct once made safe for secr; rename a survey")
        return labels
    return {survey: safe_id(data.name) for survey in data.surveys}


def build_captures(data: ProjectData, options: ExportOptions) -> CaptureHistory:
    plan = plan_occasions(data.stations, options.occasion_days, options.start, options.max_span_years)
    stations = {s.name: s for s in data.stations}
    sessions = session_names(data, options)
    left_out: dict[str, list[int]] = {reason: list(ids) for reason, ids in data.left_out.items()}
    usable = []
    for photo in data.photos:
        if photo.entity is None:
            continue  # already reported by the flank mode
        reason = None
        if photo.station is None:
            reason = "no station"
        elif photo.time is None:
            reason = "no capture time"
        elif photo.time.date() < plan.start:
            reason = "before the first occasion"
        elif not stations[photo.station].operational(photo.time.date()):
            reason = "station not working that day"
        if reason:
            left_out.setdefault(reason, []).append(photo.animal_id)
        else:
            usable.append(photo)
    counted, dropped = independent(usable, options.independence_minutes)
    if dropped:
        left_out["not independent"] = [p.animal_id for p in dropped]
    captures = sorted(
        (Capture(p, plan.occasion_of(p.time.date()), sessions[p.survey]) for p in counted),
        key=lambda c: (c.photo.entity_key, c.photo.entity, c.photo.time, c.photo.station, c.photo.animal_id),
    )
    return CaptureHistory(plan, tuple(sorted(set(sessions.values()))), tuple(captures),
                          {reason: tuple(sorted(ids)) for reason, ids in sorted(left_out.items())})
