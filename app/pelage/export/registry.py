"""The export formats by name, and writing one into a folder safely.

An export is written into a scratch folder beside the target and swapped into place when complete (see
:mod:`pelage.export.target`), so a failed or killed export leaves nothing half-written, and an existing
folder is only replaced when asked (``force``) and when it holds nothing but an earlier Pelage export.
Each export folder also holds ``pelage-export.json``: the options used (flank mode, occasions, independence,
species) and what was left out and why — the same bytes for the same project and options.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from pelage.export.camtrapdp import write_camtrapdp
from pelage.export.camtrapr import write_camtrapr
from pelage.export.dataset import ExportError, ExportOptions, ProjectData, load_project_data
from pelage.export.files import write_text
from pelage.export.individuals import write_individuals
from pelage.export.mark import write_mark
from pelage.export.occasion_matrix import write_occasions
from pelage.export.secr import write_secr
from pelage.export.target import (
    MANIFEST,
    Protected,
    check_export_target,
    discard_scratch,
    new_scratch,
    recover_interrupted,
    swap_into_place,
)
from pelage.store import Project
from pelage.store.schema import Survey


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


def format_named(name: str) -> ExportFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ExportError(f"unknown export format {name!r}; choose one of {', '.join(FORMATS)}") from None


def write_export(data: ProjectData, format_name: str, out_dir: Path, options: ExportOptions, *, force: bool = False,
                 protected: Sequence[Protected] = ()) -> dict:
    """Write one format of ``data`` into ``out_dir`` (created; with ``force``, an earlier export there is replaced);
    returns the manifest. ``protected`` folders (the project, the surveys) are never written into or replaced."""
    export_format = format_named(format_name)
    target = check_export_target(out_dir, protected, force=force)
    if recover_interrupted(target):  # a killed run's backup is back in place: judge the target again
        target = check_export_target(out_dir, protected, force=force)
    try:
        scratch = new_scratch(target)
    except OSError as exc:
        raise ExportError(f"cannot write beside {target} ({exc.strerror}); choose a folder you may write to for --out") from None
    try:
        summary = export_format.write(data, options, scratch)
        manifest = {"format": format_name, "project": data.name, "flanks": data.flank_mode.value, "options": options.as_json(), **summary}
        account_for_everything(manifest, data)
        write_text(scratch / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        swap_into_place(scratch, target)
    except OSError as exc:  # a full disk, a file held open by a spreadsheet, a folder made read-only meanwhile
        discard_scratch(scratch)
        raise ExportError(f"could not write the export to {target} ({exc.strerror}: {exc.filename}); nothing was replaced. "
                          "Close any program using those files, free some space, or choose another folder for --out") from None
    except BaseException:
        discard_scratch(scratch)
        raise
    return manifest


def account_for_everything(manifest: dict, data: ProjectData) -> None:
    """Add to the manifest's ``left_out`` the animals the reviewer set aside, and list under ``photos_left_out``
    the photos with no animal to export (empty, unreadable, duplicates), each with its reason: every imported
    photo is then a row of the export or an entry here, whatever the format."""
    left_out = {**manifest.get("left_out", {}), **{reason: list(ids) for reason, ids in data.unusable.items()}}
    manifest["left_out"] = dict(sorted(left_out.items()))
    if data.photos_left_out:
        manifest["photos_left_out"] = {reason: list(names) for reason, names in data.photos_left_out.items()}


def protected_folders(project: Project) -> list[Protected]:
    """The folders no export may touch: the project's own and every survey's photo folder."""
    with project.sessions() as session:
        surveys = session.execute(select(Survey.name, Survey.root).order_by(Survey.name)).all()
    return [Protected("the project folder", project.root),
            *(Protected(f"the photo folder of survey {name!r}", Path(root)) for name, root in surveys)]


def export_project(project: Project, format_name: str, out_dir: Path, options: ExportOptions, *, force: bool = False) -> dict:
    """Snapshot ``project`` and write it as ``format_name`` into ``out_dir``."""
    format_named(format_name)  # refused before the project is read
    with project.sessions() as session:
        data = load_project_data(session, project.root.name, options.flanks)
    return write_export(data, format_name, out_dir, options, force=force, protected=protected_folders(project))
