"""``individuals``: one row per photographed animal — who it is, which flank, where and when (what spotID's
CSV gives), plus the exported entity, so every other export can be traced back to photos."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pelage.export.dataset import ExportOptions, ProjectData
from pelage.export.files import clock, csv_text, fixed, write_text

HEADER = ("entity", "individual", "individual_id", "animal_id", "flank", "survey", "image", "station", "camera", "time",
          "x0", "y0", "x1", "y1")


def write_individuals(data: ProjectData, options: ExportOptions, out: Path) -> dict:
    photos = sorted(data.photos, key=lambda p: (p.individual_id, p.time or datetime.min, p.animal_id))
    rows = [(p.entity, p.individual, p.individual_id, p.animal_id, p.flank or "unknown", p.survey, p.image, p.station, p.camera,
             clock(p.time), *(fixed(v) for v in p.box)) for p in photos]
    return {"files": [write_text(out / "individuals.csv", csv_text(HEADER, rows))],
            "rows": len(rows), "individuals": len({p.individual_id for p in photos}),
            "left_out": {reason: list(ids) for reason, ids in data.left_out.items()}}
