"""Station metadata: the table biologists keep of where each camera stood and when it worked.

A station table is a CSV with at least ``station,x,y,setup,retrieval`` (projected metres, ISO dates) and
optionally ``crs``, ``lat``, ``lon`` and pairs ``problem1_from,problem1_to,…`` (camtrapR's outage columns,
inclusive days the camera did not work). Camera operation per day is derived from it: a station works on
every day from setup to retrieval, both included, except its outage days. Station names must be those the
import parsed from the image paths, so a typo is refused instead of silently creating an empty detector.
"""

from __future__ import annotations

import csv
import difflib
import io
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from pelage.export.files import Number, csv_text, plain_cell
from pelage.store.schema import Station, StationOutage

REQUIRED_COLUMNS = ("station", "x", "y", "setup", "retrieval")
MAX_DEPLOYMENT_YEARS = 5  # no camera runs longer unattended: a longer setup..retrieval is a mistyped date
OPTIONAL_COLUMNS = ("crs", "lat", "lon")
_PROBLEM = re.compile(r"^problem(\d+)_(from|to)$")


class StationTableError(ValueError):
    """A station table that cannot be used; the message names the line and the fix."""


@dataclass(frozen=True)
class StationInfo:
    """One station's metadata, as the exports and the station dialog see it."""

    name: str
    x: float | None = None
    y: float | None = None
    setup: date | None = None
    retrieval: date | None = None
    crs: str | None = None
    lat: float | None = None
    lon: float | None = None
    outages: tuple[tuple[date, date], ...] = field(default_factory=tuple)  # inclusive day ranges, sorted

    @property
    def has_dates(self) -> bool:
        return self.setup is not None and self.retrieval is not None

    def operational(self, day: date) -> bool:
        """Whether the camera worked on ``day``: inside setup..retrieval and outside every outage."""
        if not self.has_dates or not (self.setup <= day <= self.retrieval):
            return False
        return not any(start <= day <= end for start, end in self.outages)

    def operational_days(self) -> list[date]:
        if not self.has_dates:
            return []
        days = (self.retrieval - self.setup).days + 1
        return [day for day in (self.setup + timedelta(n) for n in range(days)) if self.operational(day)]

    def problems(self) -> str:
        """Outages as editable text: ``2024-03-05..2024-03-07; 2024-03-20..2024-03-20``."""
        return "; ".join(f"{start.isoformat()}..{end.isoformat()}" for start, end in self.outages)


# ---------------------------------------------------------------- parsing and validation


def years_after(day: date, years: int) -> date:
    """The same calendar day ``years`` later (29 February becomes the 28th); ``date.max`` past year 9999."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date.max if day.year + years > date.max.year else day.replace(year=day.year + years, day=28)


def parse_date(text: str, what: str, where: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise StationTableError(f"{where}: {what} {text!r} is not a date; write it as YYYY-MM-DD (e.g. 2024-03-01)") from None


def parse_float(text: str, what: str, where: str, required: bool) -> float | None:
    text = (text or "").strip()
    if not text:
        if required:
            raise StationTableError(f"{where}: {what} is empty; give projected coordinates in metres (e.g. UTM)")
        return None
    try:
        value = float(text)
    except ValueError:
        raise StationTableError(f"{where}: {what} {text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise StationTableError(f"{where}: {what} {text!r} is not a finite number")
    return value


def parse_outages(text: str, where: str = "outages") -> tuple[tuple[date, date], ...]:
    """``2024-03-05..2024-03-07; 2024-03-20`` → inclusive ranges (a single day stands for itself)."""
    ranges = []
    for part in re.split(r"[;,\n]", text or ""):
        part = part.strip()
        if not part:
            continue
        first, sep, last = part.partition("..")
        start = parse_date(first, "outage start", where)
        end = parse_date(last, "outage end", where) if sep else start
        ranges.append((start, end))
    return tuple(sorted(ranges))


def validate_station(info: StationInfo, where: str) -> StationInfo:
    """Check one station's dates and outages; returns it with outages sorted. Raises StationTableError."""
    if not info.name.strip():
        raise StationTableError(f"{where}: the station name is empty")
    if (info.setup is None) != (info.retrieval is None):
        raise StationTableError(f"{where}: station {info.name!r} needs both a setup and a retrieval date")
    if info.has_dates and info.retrieval < info.setup:
        raise StationTableError(f"{where}: station {info.name!r} is retrieved ({info.retrieval}) before it is set up ({info.setup}); "
                                "fix one of the two dates")
    if info.has_dates and info.retrieval > years_after(info.setup, MAX_DEPLOYMENT_YEARS):
        raise StationTableError(f"{where}: station {info.name!r} runs from {info.setup} to {info.retrieval}, more than "
                                f"{MAX_DEPLOYMENT_YEARS} years; fix the mistyped setup or retrieval date")
    for lat_or_lon, limit, label in ((info.lat, 90, "lat"), (info.lon, 180, "lon")):
        if lat_or_lon is not None and not -limit <= lat_or_lon <= limit:
            raise StationTableError(f"{where}: {label} {lat_or_lon} is outside ±{limit}; lat/lon are WGS84 decimal degrees")
    if (info.lat is None) != (info.lon is None):
        raise StationTableError(f"{where}: station {info.name!r} needs both lat and lon, or neither")
    outages = tuple(sorted(info.outages))
    for start, end in outages:
        if end < start:
            raise StationTableError(f"{where}: station {info.name!r} has an outage ending ({end}) before it starts ({start})")
        if not info.has_dates or start < info.setup or end > info.retrieval:
            raise StationTableError(f"{where}: station {info.name!r} has an outage {start}..{end} outside its setup..retrieval "
                                    f"({info.setup}..{info.retrieval})")
    for (_, end), (start, _) in itertools.pairwise(outages):
        if start <= end:
            raise StationTableError(f"{where}: station {info.name!r} has overlapping outages; merge them into one")
    return StationInfo(info.name.strip(), info.x, info.y, info.setup, info.retrieval, info.crs, info.lat, info.lon, outages)


def _sniff_delimiter(header: str) -> str:
    counts = {delimiter: header.count(delimiter) for delimiter in (",", ";", "\t")}
    return max(counts, key=counts.get) if any(counts.values()) else ","


def parse_station_table(text: str, source: str = "station table") -> list[StationInfo]:
    """Read a station table from CSV text (comma, semicolon or tab separated; an Excel BOM is fine)."""
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise StationTableError(f"{source} is empty; it needs a header line with {', '.join(REQUIRED_COLUMNS)}")
    # Any line ending is one (old spreadsheets end lines with a bare CR), as when the file is read from disk.
    reader = csv.DictReader(io.StringIO(text, newline=None), delimiter=_sniff_delimiter(lines[0]))
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise StationTableError(f"{source}, line {reader.line_num}: not readable as CSV ({exc}); save the table again as CSV") from None
    columns = {name.strip().lower(): name for name in reader.fieldnames or [] if name is not None}
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise StationTableError(f"{source} lacks the column(s) {', '.join(missing)}; it has {', '.join(columns) or 'none'}")
    problems: dict[int, dict[str, str]] = {}
    for column in columns:
        match = _PROBLEM.match(column)
        if match:
            problems.setdefault(int(match.group(1)), {})[match.group(2)] = columns[column]
    for number, pair in sorted(problems.items()):
        if set(pair) != {"from", "to"}:
            raise StationTableError(f"{source}: problem{number}_from and problem{number}_to must come as a pair")

    stations: list[StationInfo] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        def cell(column: str, row: dict = row) -> str:
            original = columns.get(column)
            return plain_cell((row.get(original) or "").strip()) if original else ""

        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue  # blank line
        where = f"{source}, line {line}"
        name = cell("station")
        if name in seen:
            raise StationTableError(f"{where}: station {name!r} is listed twice (first on line {seen[name]})")
        seen[name] = line
        outages = []
        for number, pair in sorted(problems.items()):
            start, end = (row.get(pair["from"]) or "").strip(), (row.get(pair["to"]) or "").strip()
            if bool(start) != bool(end):
                raise StationTableError(f"{where}: problem{number}_from and problem{number}_to must both be filled or both empty")
            if start:
                outages.append((parse_date(start, f"problem{number}_from", where), parse_date(end, f"problem{number}_to", where)))
        info = StationInfo(
            name=name,
            x=parse_float(cell("x"), "x", where, required=True),
            y=parse_float(cell("y"), "y", where, required=True),
            setup=parse_date(cell("setup"), "setup", where),
            retrieval=parse_date(cell("retrieval"), "retrieval", where),
            crs=cell("crs") or None,
            lat=parse_float(cell("lat"), "lat", where, required=False),
            lon=parse_float(cell("lon"), "lon", where, required=False),
            outages=tuple(outages),
        )
        stations.append(validate_station(info, where))
    if not stations:
        raise StationTableError(f"{source} has a header but no station rows")
    return stations


def read_station_table(path: Path) -> list[StationInfo]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise StationTableError(f"{path} does not exist") from None
    except UnicodeDecodeError:
        raise StationTableError(f"{path} is not UTF-8 text; save it from your spreadsheet as 'CSV UTF-8'") from None
    return parse_station_table(text, source=str(path))


def station_table_text(stations: Iterable[StationInfo]) -> str:
    """The station table as CSV (the import format), so users can edit it in a spreadsheet and import it back."""
    stations = sorted(stations, key=lambda s: s.name)
    problems = max((len(s.outages) for s in stations), default=0)
    header = ["station", "x", "y", "setup", "retrieval", "crs", "lat", "lon"]
    for number in range(1, problems + 1):
        header += [f"problem{number}_from", f"problem{number}_to"]
    rows = []
    for s in stations:
        row = [s.name, _number(s.x), _number(s.y), _day(s.setup), _day(s.retrieval), s.crs or "", _number(s.lat), _number(s.lon)]
        for number in range(problems):
            row += [d.isoformat() for d in s.outages[number]] if number < len(s.outages) else ["", ""]
        rows.append(row)
    return csv_text(header, rows)


def _number(value: float | None) -> str:
    return "" if value is None else format_number(value)


def _day(value: date | None) -> str:
    return value.isoformat() if value else ""


def format_number(value: float, decimals: int = 6) -> Number:
    """A fixed, platform-independent text for a coordinate: up to ``decimals`` places, trailing zeros dropped."""
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return Number("0" if text in ("-0", "") else text)


# ---------------------------------------------------------------- the store


def _info(station: Station) -> StationInfo:
    return StationInfo(station.name, station.x, station.y, station.setup_date, station.retrieval_date, station.crs, station.lat,
                       station.lon, tuple((o.start_date, o.end_date) for o in sorted(station.outages, key=lambda o: o.start_date)))


def load_stations(session: Session) -> list[StationInfo]:
    """Every station of the project (those parsed at import and those added from a table), by name."""
    # Sorted here, not in SQL: PostgreSQL's locale collation would order "ST_03" and "ST01" differently from SQLite.
    return sorted((_info(station) for station in session.scalars(select(Station))), key=lambda s: s.name)


@dataclass(frozen=True)
class StationImport:
    updated: tuple[str, ...]  # stations whose metadata the table replaced
    added: tuple[str, ...]  # stations the table named that no image came from (with add_new)
    without_metadata: tuple[str, ...]  # project stations still lacking setup/retrieval dates


def save_stations(session: Session, stations: Iterable[StationInfo], *, add_new: bool = False) -> StationImport:
    """Replace the metadata (and outages) of each given station; the caller commits.

    Names must be stations the import created, unless ``add_new``: a station that took no photo is still
    a detector with zero captures, but a misspelt name would be one too, so adding is explicit.
    """
    stations = [validate_station(s, f"station {s.name!r}") for s in stations]
    existing = {station.name: station for station in session.scalars(select(Station))}
    unknown = [s.name for s in stations if s.name not in existing]
    if unknown and not add_new:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, sorted(existing), n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        known = ", ".join(sorted(existing)) or "none yet"
        raise StationTableError(f"the table names station(s) no image came from: {', '.join(hints)}. The project's stations are: "
                                f"{known}. Fix the names, or add stations that took no photos with --add-new.")
    updated, added = [], []
    for info in stations:
        station = existing.get(info.name)
        if station is None:
            station = Station(name=info.name)
            session.add(station)
            added.append(info.name)
        else:
            updated.append(info.name)
        station.x, station.y, station.crs, station.lat, station.lon = info.x, info.y, info.crs, info.lat, info.lon
        station.setup_date, station.retrieval_date = info.setup, info.retrieval
        station.outages = [StationOutage(start_date=start, end_date=end) for start, end in info.outages]
    session.flush()
    lacking = tuple(s.name for s in load_stations(session) if not s.has_dates)
    return StationImport(tuple(updated), tuple(added), lacking)


def import_station_table(session: Session, path: Path, *, add_new: bool = False) -> StationImport:
    return save_stations(session, read_station_table(path), add_new=add_new)
