"""What an export will hold, before it is written: the individuals × occasions matrix and what is left out.

The window shows this beside the export's options. The left-out list is the real one: the format is written
into a throwaway folder and its manifest read back, so the preview can never disagree with the export.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from pelage.export.dataset import ExportError, ExportOptions, load_project_data
from pelage.export.occasions import build_captures
from pelage.export.registry import account_for_everything, format_named
from pelage.store import Project


@dataclass(frozen=True)
class LeftOut:
    reason: str
    items: tuple[str, ...]  # "#12" for an animal, "SURVEY/PATH" for a photo


@dataclass(frozen=True)
class ExportPreview:
    occasions: tuple[str, ...]  # column headings: each occasion's first day
    rows: tuple[tuple[str, tuple[int, ...]], ...]  # (entity, captures per occasion)
    left_out: tuple[LeftOut, ...]
    matrix_problem: str | None = None  # why there is no matrix (no station dates, say)

    @property
    def left_out_count(self) -> int:
        return sum(len(entry.items) for entry in self.left_out)


def _matrix(data, options: ExportOptions) -> tuple[tuple[str, ...], tuple[tuple[str, tuple[int, ...]], ...]]:
    history = build_captures(data, options)
    counts: dict[str, list[int]] = {entity: [0] * history.plan.count for entity in history.entities()}
    for capture in history.captures:
        counts[capture.photo.entity][capture.occasion] += 1
    headings = tuple(history.plan.first_day(k).isoformat() for k in range(history.plan.count))
    return headings, tuple((entity, tuple(row)) for entity, row in counts.items())


def preview_export(project: Project, format_name: str, options: ExportOptions) -> ExportPreview:
    """The matrix capture histories get under ``options`` and what ``format_name`` leaves out, and why."""
    export_format = format_named(format_name)
    with project.sessions() as session:
        data = load_project_data(session, project.root.name, options.flanks)
    try:
        headings, rows = _matrix(data, options)
        problem = None
    except ExportError as exc:
        headings, rows, problem = (), (), str(exc)
    with tempfile.TemporaryDirectory(prefix="pelage-preview-") as scratch:
        try:
            manifest = {"left_out": export_format.write(data, options, Path(scratch)).get("left_out", {})}
        except ExportError as exc:
            problem = problem or str(exc)
            manifest = {"left_out": dict(data.left_out)}
    account_for_everything(manifest, data)
    left_out = [LeftOut(reason, tuple(f"#{i}" for i in ids)) for reason, ids in manifest["left_out"].items()]
    left_out += [LeftOut(reason, tuple(names)) for reason, names in manifest.get("photos_left_out", {}).items()]
    return ExportPreview(headings, rows, tuple(left_out), problem)
