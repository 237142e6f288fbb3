"""``secr``: the two text files ``secr::read.capthist`` reads, for proximity detectors.

* ``captures.txt``: ``Session ID Occasion Detector``, one row per entity, occasion and detector where it was
  photographed (proximity detectors record presence, so repeat visits within an occasion are one row). A
  session with no capture gets secr's ``NONE`` row (occasion = the number of occasions, any detector).
* ``traps.txt``: ``Detector X Y`` in projected metres plus a 0/1 usage string, one character per occasion
  (1 = the camera worked on at least one day of the occasion).

Detector and animal ids keep only letters, digits, '.' and '-', since whitespace and underscores break the
reader; ``read-capthist.R`` shows the call.
"""

from __future__ import annotations

from pathlib import Path

from pelage.export.dataset import ExportError, ExportOptions, ProjectData, safe_id
from pelage.export.files import write_text
from pelage.export.occasions import build_captures, effort
from pelage.export.stations import format_number

R_SNIPPET = """library(secr)
# Proximity detectors; usage is the 0/1 string after the coordinates in traps.txt.
ch <- read.capthist("captures.txt", "traps.txt", detector = "proximity", fmt = "trapID", binary.usage = TRUE)
summary(ch)
"""


def detector_ids(data: ProjectData) -> dict[str, str]:
    ids = {s.name: safe_id(s.name) for s in data.stations}
    clashes = sorted({name for name, detector in ids.items() if list(ids.values()).count(detector) > 1})
    if clashes:
        raise ExportError(f"stations {', '.join(clashes)} become the same secr detector id once spaces and symbols are "
                          "replaced; rename one of them in the station table")
    return ids


def write_secr(data: ProjectData, options: ExportOptions, out: Path) -> dict:
    history = build_captures(data, options)
    plan = history.plan
    missing = [s.name for s in data.stations if s.x is None or s.y is None]
    if missing:
        raise ExportError(f"station(s) {', '.join(missing)} have no x/y coordinates; secr needs projected metres for every detector")
    detectors = detector_ids(data)
    first_detector = min(detectors.values())
    order = {entity: n for n, entity in enumerate(history.entities())}
    rows = sorted({(c.session, c.photo.entity, c.occasion + 1, detectors[c.photo.station]) for c in history.captures},
                  key=lambda r: (r[0], order[r[1]], r[2], r[3]))
    captured_sessions = {row[0] for row in rows}
    lines = ["# Session ID Occasion Detector"]
    for session in history.sessions:
        if session not in captured_sessions:
            lines.append(f"{session} NONE {plan.count} {first_detector}")
        lines += [" ".join(str(v) for v in row) for row in rows if row[0] == session]
    traps = ["# Detector X Y Usage"]
    for station in sorted(data.stations, key=lambda s: detectors[s.name]):
        usage = "".join("1" if days else "0" for days in effort(station, plan))
        traps.append(f"{detectors[station.name]} {format_number(station.x)} {format_number(station.y)} {usage}")
    files = [write_text(out / "captures.txt", "\n".join(lines) + "\n"), write_text(out / "traps.txt", "\n".join(traps) + "\n"),
             write_text(out / "read-capthist.R", R_SNIPPET)]
    renamed = {name: detector for name, detector in sorted(detectors.items()) if name != detector}
    return {"files": files, "sessions": list(history.sessions), "detectors": len(detectors), "occasions": plan.count,
            "capture_rows": len(rows), "renamed_detectors": renamed,
            "left_out": {reason: list(ids) for reason, ids in history.left_out.items()}}
