"""``occasions``: the entity × occasion 0/1 capture matrix, the occasions' dates, and each station's working
days per occasion (the effort behind the zeros)."""

from __future__ import annotations

from pathlib import Path

from pelage.export.dataset import ExportOptions, ProjectData
from pelage.export.files import csv_text, write_text
from pelage.export.occasions import build_captures, effort


def write_occasions(data: ProjectData, options: ExportOptions, out: Path) -> dict:
    history = build_captures(data, options)
    plan = history.plan
    seen = {(c.photo.entity, c.occasion) for c in history.captures}
    columns = [f"o{k + 1}" for k in range(plan.count)]
    matrix = [(entity, *(int((entity, k) in seen) for k in range(plan.count))) for entity in history.entities()]
    dates = [(f"o{k + 1}", plan.first_day(k).isoformat(), plan.last_day(k).isoformat()) for k in range(plan.count)]
    station_effort = [(s.name, *effort(s, plan)) for s in data.stations]
    files = [
        write_text(out / "capture-history.csv", csv_text(("entity", *columns), matrix)),
        write_text(out / "occasions.csv", csv_text(("occasion", "first_day", "last_day"), dates)),
        write_text(out / "effort.csv", csv_text(("station", *columns), station_effort)),
    ]
    return {"files": files, "entities": len(matrix), "occasions": plan.count, "captures": len(history.captures),
            "left_out": {reason: list(ids) for reason, ids in history.left_out.items()}}
