"""Where an export may be written, and how a previous export is replaced without ever losing either.

``--force`` replaces only what a Pelage export wrote: a folder holding ``pelage-export.json`` and exactly the
files that manifest lists. Never the project, a survey's photo folder, anything inside them or any folder
that holds them, and never a folder with someone else's files in it. Paths are judged after resolving
``..`` and symbolic links, so no spelling of a path gets around the rules.

A new export is written into a scratch folder beside the target and swapped in with two renames (old →
backup, scratch → target); only then is the backup deleted, file by file, never recursively. A process
killed between the two renames leaves the old export under the backup name, and the next export to that
target puts it back before doing anything else. Scratch and backup folders have fixed name patterns and are
only deleted when their contents prove Pelage wrote them.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pelage.export.dataset import ExportError
from pelage.store.project import SETTINGS_FILE as PROJECT_SETTINGS

MANIFEST = "pelage-export.json"
SCRATCH_MARKER = ".pelage-export-scratch"  # the first file in a scratch folder; removed just before the swap
SCRATCH, BACKUP = "tmp", "old"  # the kinds of folder an export leaves beside its target while it works
_SHOWN = 4  # names listed in a refusal


@dataclass(frozen=True)
class Protected:
    """A folder no export may touch, be written into, or contain (the project, a survey's photos)."""

    what: str  # e.g. "the project folder", "the photo folder of survey 'season1'"
    path: Path


# ---------------------------------------------------------------- what a folder holds


def manifest_names(folder: Path) -> set[str] | None:
    """The names ``folder``'s manifest says its export wrote (the manifest included), or None without a valid one."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(listed, list) or not all(isinstance(name, str) and name and "/" not in name for name in listed):
        return None
    return {MANIFEST, *listed}


def entries_besides(folder: Path, allowed: set[str]) -> list[str] | None:
    """The entries of ``folder`` that are not plain files named in ``allowed`` (folders end in '/'); None if unreadable."""
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return None
    return [entry.name + ("/" if entry.is_dir() and not entry.is_symlink() else "")
            for entry in entries if entry.name not in allowed or entry.is_symlink() or not entry.is_file()]


def export_files(folder: Path) -> list[str] | None:
    """The names in ``folder`` if it is exactly one Pelage export (its manifest and files it lists), else None."""
    allowed = manifest_names(folder)
    if allowed is None or entries_besides(folder, allowed) != []:
        return None
    return sorted(entry.name for entry in folder.iterdir())


def is_complete_export(folder: Path) -> bool:
    """Whether ``folder`` is exactly one Pelage export with every file its manifest lists."""
    names = export_files(folder)
    return names is not None and set(names) == manifest_names(folder)


def scratch_files(folder: Path) -> list[str] | None:
    """The names in ``folder`` if it is a scratch folder an export was writing (the marker, then plain files) or
    empty, else None."""
    try:
        names = sorted(entry.name for entry in folder.iterdir())
    except OSError:
        return None
    if names and SCRATCH_MARKER not in names:
        return None
    return names if entries_besides(folder, set(names)) == [] else None


def owned_files(folder: Path) -> list[str] | None:
    """What Pelage may delete in ``folder``: all of an export or a scratch folder (nothing if empty), else None."""
    names = scratch_files(folder)
    return names if names is not None else export_files(folder)


def _shown(names: list[str] | None) -> str:
    if names is None:
        return "entries it cannot list"
    return ", ".join(names[:_SHOWN]) + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


# ---------------------------------------------------------------- the decision


def resolve_target(out_dir: Path) -> Path:
    """``out_dir`` as an absolute path with ``~``, ``..`` and symbolic links resolved."""
    try:
        return Path(out_dir).expanduser().resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symbolic link loop, before Python 3.13
        raise ExportError(f"{out_dir} cannot be followed to a folder ({exc}); choose another folder for --out") from None


def _resolved(path: Path) -> Path:
    try:
        return path.expanduser().resolve()
    except (OSError, RuntimeError):
        return path.expanduser().absolute()


def _clashes(target: Path, protected: Sequence[Protected]) -> Iterator[tuple[Protected, Path]]:
    """The protected folders ``target`` is, is inside or holds, each with its resolved place."""
    for folder in protected:
        place = _resolved(folder.path)
        if target == place or target.is_relative_to(place) or place.is_relative_to(target):
            yield folder, place


def check_location(target: Path, protected: Sequence[Protected]) -> None:
    """Refuse a resolved ``target`` that is, is inside or holds a protected folder or any Pelage project."""
    for folder, place in _clashes(target, protected):
        if target == place:
            raise ExportError(f"{target} is {folder.what}; choose a new folder outside it for --out")
        if target.is_relative_to(place):
            raise ExportError(f"{target} is inside {folder.what} ({place}); choose a new folder outside it for --out")
        if place.is_relative_to(target):
            raise ExportError(f"{target} holds {folder.what} ({place}); choose a new folder for --out")
    project = next((folder for folder in (target, *target.parents) if (folder / PROJECT_SETTINGS).is_file()), None)
    if project is not None:
        raise ExportError(f"{target} is inside the Pelage project {project}; choose a new folder outside it for --out")


def check_contents(target: Path, *, force: bool) -> None:
    """Refuse a resolved ``target`` whose present contents an export may not replace (see the module docstring)."""
    if not target.exists():
        existing = next(folder for folder in target.parents if folder.exists())
        if not existing.is_dir():
            raise ExportError(f"{existing} is a file, so {target} cannot be created; choose another folder for --out")
        return
    if not target.is_dir():
        raise ExportError(f"{target} is a file, not a folder; choose a new folder for --out")
    if not any(target.iterdir()):
        return  # an empty folder holds nothing to lose
    allowed = manifest_names(target)
    if allowed is None:
        raise ExportError(f"{target} is not a Pelage export folder (it holds {_shown(entries_besides(target, set()))}); "
                          "choose a new folder for --out")
    foreign = entries_besides(target, allowed)
    if foreign != []:
        raise ExportError(f"{target} holds a Pelage export but also {_shown(foreign)}, which it did not write; move "
                          f"{'them' if foreign is None or len(foreign) > 1 else 'it'} out or choose a new folder for --out")
    if not force:
        raise ExportError(f"{target} already exists and holds a Pelage export; pass --force to replace it, or choose a new folder")


def check_table_file(path: Path, protected: Sequence[Protected]) -> Path:
    """Where a table file the user asked for (``pelage stations --write``) really goes, if it is not inside a
    protected folder and not a folder itself; raises ExportError otherwise."""
    target = resolve_target(path)
    for folder, place in _clashes(target, protected):
        raise ExportError(f"{target} is {'inside ' if target != place else ''}{folder.what}; write the table to a file "
                          "outside it, such as stations.csv in your documents")
    if target.is_dir():
        raise ExportError(f"{target} is a folder; give a file name such as stations.csv")
    return target


def check_export_target(out_dir: Path, protected: Sequence[Protected], *, force: bool) -> Path:
    """Where ``out_dir`` really is, if an export may be written there; raises ExportError and changes nothing otherwise."""
    target = resolve_target(out_dir)
    check_location(target, protected)
    check_contents(target, force=force)
    return target


# ---------------------------------------------------------------- writing and swapping


def sibling(target: Path, kind: str) -> Path:
    """A fresh scratch or backup name beside ``target`` (``kind`` is SCRATCH or BACKUP)."""
    return target.parent / f".pelage-export-{kind}-{target.name}-{secrets.token_hex(4)}"


def leftovers(target: Path, kind: str) -> list[Path]:
    """The scratch or backup folders earlier exports to ``target`` left (whoever wrote them: check before deleting)."""
    pattern = re.compile(rf"\.pelage-export-{kind}-{re.escape(target.name)}-[0-9a-f]{{8}}")
    try:
        return sorted(entry for entry in target.parent.iterdir() if pattern.fullmatch(entry.name) and not entry.is_symlink())
    except OSError:
        return []


def _delete(folder: Path, names: list[str] | None) -> None:
    """Delete the files ``names`` and then ``folder``; anything else that appeared keeps the folder (rmdir fails).
    The manifest and the marker go last, so a folder half-deleted by a kill still proves it is Pelage's."""
    if names is None:
        return
    with contextlib.suppress(OSError):
        for name in sorted(names, key=lambda name: name in (MANIFEST, SCRATCH_MARKER)):
            (folder / name).unlink(missing_ok=True)
        folder.rmdir()


def recover_interrupted(target: Path) -> bool:
    """Undo what a killed export to ``target`` left: put a backed-up export back if ``target`` is missing (a complete
    one if there is one, else whatever export was there, files missing and all), and delete the scratch and backup
    folders that are provably Pelage's. Returns whether ``target`` was restored."""
    restored = False
    if not target.exists() and not target.is_symlink():
        backups = leftovers(target, BACKUP)
        backup = next((folder for folder in backups if is_complete_export(folder)), None) or next(
            (folder for folder in backups if export_files(folder) is not None), None)
        if backup is not None:
            backup.rename(target)
            restored = True
    backups = leftovers(target, BACKUP) if target.exists() else []  # with the target gone, a backup is all there is: keep it
    for folder in leftovers(target, SCRATCH) + backups:
        _delete(folder, owned_files(folder))
    return restored


def new_scratch(target: Path) -> Path:
    """An empty scratch folder beside ``target``, marked as Pelage's before anything else goes in."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = sibling(target, SCRATCH)
    scratch.mkdir()
    (scratch / SCRATCH_MARKER).write_bytes(b"")
    return scratch


def discard_scratch(scratch: Path) -> None:
    _delete(scratch, owned_files(scratch))


def swap_into_place(scratch: Path, target: Path) -> None:
    """Make the finished export in ``scratch`` the folder ``target``; a previous export there is deleted last.

    At every instant ``target`` holds the old or the new export, except between the two renames, when the
    old one waits under its backup name for :func:`recover_interrupted`.
    """
    if target.exists() and any(target.iterdir()) and export_files(target) is None:  # something was added meanwhile
        raise ExportError(f"{target} changed while the export was written: it now holds "
                          f"{_shown(entries_besides(target, manifest_names(target) or set()))}, which Pelage did not write; "
                          "nothing was replaced. Move that out and export again, or choose a new folder for --out")
    (scratch / SCRATCH_MARKER).unlink()
    if not target.exists():
        scratch.rename(target)
        return
    backup = sibling(target, BACKUP)
    target.rename(backup)
    try:
        scratch.rename(target)
    except BaseException:
        backup.rename(target)
        raise
    _delete(backup, owned_files(backup))
