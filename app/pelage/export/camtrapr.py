"""``camtrapr``: camtrapR's record table with individuals and its camera-trap station table (CTtable).

``recordTable.csv`` has one row per independent capture (``Station, Species, DateTimeOriginal, Date, Time,
delta.time.secs/mins/hours/days, Directory, FileName, Individual``, then ``Camera`` and ``Flank``); the
delta times are to the previous record of the same individual at the same station (0 for the first).
``CTtable.csv`` is ``Station, utm_y, utm_x, Setup_date, Retrieval_date, ProblemN_from, ProblemN_to`` for
``cameraOperation(..., hasProblems = TRUE, dateFormat = "ymd")``.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from pelage.export.dataset import ExportError, ExportOptions, ProjectData
from pelage.export.files import csv_text, fixed, write_text
from pelage.export.occasions import build_captures, require_dates
from pelage.export.stations import format_number

RECORD_HEADER = ("Station", "Species", "DateTimeOriginal", "Date", "Time", "delta.time.secs", "delta.time.mins", "delta.time.hours",
                 "delta.time.days", "Directory", "FileName", "Individual", "Camera", "Flank")


def _record_rows(data: ProjectData, options: ExportOptions) -> tuple[list[tuple], dict]:
    history = build_captures(data, options)
    photos = sorted((c.photo for c in history.captures), key=lambda p: (p.station, p.entity_key, p.entity, p.time, p.animal_id))
    rows, previous = [], {}
    for p in photos:
        before = previous.get((p.station, p.entity))
        seconds = int((p.time - before).total_seconds()) if before else 0
        previous[(p.station, p.entity)] = p.time
        folder, name = posixpath.split(p.image)
        directory = posixpath.join(p.survey_root.replace("\\", "/"), folder) if folder else p.survey_root.replace("\\", "/")
        rows.append((p.station, options.species, p.time.strftime("%Y-%m-%d %H:%M:%S"), p.time.strftime("%Y-%m-%d"),
                     p.time.strftime("%H:%M:%S"), seconds, fixed(seconds / 60), fixed(seconds / 3600), fixed(seconds / 86400),
                     directory, name, p.entity, p.camera or "", p.flank or "unknown"))
    return rows, {reason: list(ids) for reason, ids in history.left_out.items()}


def write_camtrapr(data: ProjectData, options: ExportOptions, out: Path) -> dict:
    require_dates(data.stations)
    missing = [s.name for s in data.stations if s.x is None or s.y is None]
    if missing:
        raise ExportError(f"station(s) {', '.join(missing)} have no x/y coordinates; the CTtable needs them")
    rows, left_out = _record_rows(data, options)
    problems = max((len(s.outages) for s in data.stations), default=0)
    header = ["Station", "utm_y", "utm_x", "Setup_date", "Retrieval_date"]
    for n in range(1, problems + 1):
        header += [f"Problem{n}_from", f"Problem{n}_to"]
    stations = []
    for s in data.stations:
        row = [s.name, format_number(s.y), format_number(s.x), s.setup.isoformat(), s.retrieval.isoformat()]
        for n in range(problems):
            row += [d.isoformat() for d in s.outages[n]] if n < len(s.outages) else ["", ""]
        stations.append(row)
    files = [write_text(out / "recordTable.csv", csv_text(RECORD_HEADER, rows)), write_text(out / "CTtable.csv", csv_text(header, stations))]
    return {"files": files, "records": len(rows), "stations": len(stations), "left_out": left_out}
