"""The export formats by name, and writing one into a new folder safely.

An export is written into a scratch folder beside the target and renamed into place when complete, so a
failed export leaves nothing half-written, and an existing folder is only replaced when asked (``force``).
Each export folder also holds ``pelage-export.json``: the options used (flank mode, occasions, independence,
species) and what was left out and why — the same bytes for the same project and options.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pelage.export.camtrapdp import write_camtrapdp
from pelage.export.camtrapr import write_camtrapr
from pelage.export.dataset import ExportError, ExportOptions, ProjectData, load_project_data
from pelage.export.files import write_text
from pelage.export.individuals import write_individuals
from pelage.export.mark import write_mark
from pelage.export.occasion_matrix import write_occasions
from pelage.export.secr import write_secr
from pelage.store import Project

MANIFEST = "pelage-export.json"


@dataclass(frozen=True)
class ExportFormat:
    name: str
    description: str
    write: Callable[[ProjectData, ExportOptions, Path], dict]  # writes its files into the folder; returns a summary


FORMATS: dict[str, ExportFormat] = {f.name: f for f in (
    ExportFormat("individuals", "one row per photographed animal: individual, flank, image, station, camera, time", write_individuals),
    ExportFormat("occasions", "individual × occasion 0/1 matrix, occasion dates and station effort", write_occasions),
    ExportFormat("secr", "captures and traps files for secr::read.capthist (proximity detectors)", write_secr),
    ExportFormat("camtrapr", "camtrapR recordTable with Individual column, and CTtable", write_camtrapr),
    ExportFormat("mark", "Program MARK encounter histories (.inp)", write_mark),
    ExportFormat("camtrapdp", "Camtrap DP 1.0 data package with individualID", write_camtrapdp),
)}


def write_export(data: ProjectData, format_name: str, out_dir: Path, options: ExportOptions, *, force: bool = False) -> dict:
    """Write one format of ``data`` into ``out_dir`` (created; replaced only with ``force``); returns the manifest."""
    try:
        export_format = FORMATS[format_name]
    except KeyError:
        raise ExportError(f"unknown export format {format_name!r}; choose one of {', '.join(FORMATS)}") from None
    out_dir = Path(out_dir).expanduser().absolute()
    if out_dir.exists() and not force:
        raise ExportError(f"{out_dir} already exists; choose a new folder or pass --force to replace it")
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir} is a file, not a folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        summary = export_format.write(data, options, scratch)
        manifest = {"format": format_name, "project": data.name, "flanks": data.flank_mode.value, "options": options.as_json(), **summary}
        write_text(scratch / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        scratch.rename(out_dir)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return manifest


def export_project(project: Project, format_name: str, out_dir: Path, options: ExportOptions, *, force: bool = False) -> dict:
    """Snapshot ``project`` and write it as ``format_name`` into ``out_dir``."""
    if format_name not in FORMATS:
        raise ExportError(f"unknown export format {format_name!r}; choose one of {', '.join(FORMATS)}")
    with project.sessions() as session:
        data = load_project_data(session, project.root.name, options.flanks)
    return write_export(data, format_name, out_dir, options, force=force)
