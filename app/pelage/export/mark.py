"""``mark``: a Program MARK encounter-history (.inp) file, one line per entity: ``/* name */ 0101 1;``.

Closed-population models read it as it is (1 = captured on that occasion); the occasions follow
:mod:`pelage.export.occasions` and a comment at the top says how entities and occasions were made."""

from __future__ import annotations

from pathlib import Path

from pelage.export.dataset import ExportOptions, ProjectData
from pelage.export.files import write_text
from pelage.export.occasions import build_captures


def write_mark(data: ProjectData, options: ExportOptions, out: Path) -> dict:
    history = build_captures(data, options)
    plan = history.plan
    seen = {(c.photo.entity, c.occasion) for c in history.captures}
    lines = [f"/* Pelage capture histories: {plan.count} occasions of {plan.length} day(s) from {plan.start.isoformat()} "
             f"to {plan.end.isoformat()}; flanks {data.flank_mode.value}; independence {options.independence_minutes:g} min */"]
    entities = history.entities()
    for entity in entities:
        code = "".join("1" if (entity, k) in seen else "0" for k in range(plan.count))
        lines.append(f"/* {entity} */ {code} 1;")
    name = write_text(out / "captures.inp", "\n".join(lines) + "\n")
    return {"files": [name], "entities": len(entities), "occasions": plan.count, "captures": len(history.captures),
            "left_out": {reason: list(ids) for reason, ids in history.left_out.items()}}
