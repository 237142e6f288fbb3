"""Where an export may go and how it replaces an earlier one: the decision (``check_export_target``) case by case,
every state a killed swap can leave on disk, and real ``pelage export --force`` processes killed at random.

The refusals through the real command (one line, exit 2, nothing changed) are rows of the bad-input table,
``tests/bad_inputs/export.py``."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from pelage.export import ExportError, ExportOptions, export_project
from pelage.export.registry import protected_folders
from pelage.export.target import (
    BACKUP,
    MANIFEST,
    SCRATCH,
    SCRATCH_MARKER,
    Protected,
    check_export_target,
    leftovers,
    recover_interrupted,
    sibling,
)
from pelage.store import open_project, transaction
from pelage.store.schema import Camera, Detection, Image, ImageStatus, Station, Survey
from tests.test_cli import pelage
from tests.test_export_formats import build_export_project

OLD = {"individuals.csv": b"entity\nAyo\n", MANIFEST: b'{"format": "individuals", "files": ["individuals.csv"]}\n'}
NEW = {"captures.txt": b"# new\n", "traps.txt": b"# traps\n", MANIFEST: b'{"format": "secr", "files": ["captures.txt", "traps.txt"]}\n'}


def write_folder(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.fixture
def places(tmp_path) -> dict[str, Path]:
    """A project folder (the real marker file) and a survey folder with a photo, as the check sees them."""
    project = write_folder(tmp_path / "project", {"pelage-project.json": b'{"format": 1}\n'})
    survey = write_folder(tmp_path / "survey" / "ST01", {"IMG_0001.JPG": b"\xff\xd8photo"}).parent
    return {"project": project, "survey": survey}


def protected(places: dict[str, Path]) -> list[Protected]:
    return [Protected("the project folder", places["project"]), Protected("the photo folder of survey 'season1'", places["survey"])]


# ---------------------------------------------------------------- the decision


@pytest.mark.parametrize("out, message", [
    ("project", "is the project folder"),
    ("project/..", "holds the project folder"),
    ("project/exports/secr", "is inside the project folder"),
    ("survey", "is the photo folder of survey 'season1'"),
    ("survey/ST01/../secr", "is inside the photo folder of survey 'season1'"),
    ("link-to-project", "is the project folder"),
    ("link-to-survey/secr", "is inside the photo folder of survey"),
    ("user-folder", "is not a Pelage export folder (it holds notes.txt, sub/); choose a new folder for --out"),
    ("export-plus-notes", "holds a Pelage export but also notes.txt, which it did not write; move it out"),
    ("bad-manifest", "is not a Pelage export folder (it holds individuals.csv, pelage-export.json)"),
    ("export", "already exists and holds a Pelage export; pass --force"),
    ("a-file", "is a file, not a folder"),
    ("a-file/secr", "is a file, so"),
    ("elsewhere/pelage-project-copy/secr", "is inside the Pelage project"),
    ("loop", "cannot be followed to a folder"),
])
def test_refusals_name_the_problem_and_change_nothing(tmp_path, places, out, message):
    (tmp_path / "link-to-project").symlink_to(places["project"])
    (tmp_path / "link-to-survey").symlink_to(places["survey"])
    write_folder(tmp_path / "user-folder", {"notes.txt": b"mine"})
    (tmp_path / "user-folder" / "sub").mkdir()
    write_folder(tmp_path / "export-plus-notes", {**OLD, "notes.txt": b"mine"})
    write_folder(tmp_path / "bad-manifest", {**OLD, MANIFEST: b"{not json"})
    write_folder(tmp_path / "export", OLD)
    (tmp_path / "a-file").write_text("x")
    write_folder(tmp_path / "elsewhere" / "pelage-project-copy", {"pelage-project.json": b"{}"})
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    before = sorted(tmp_path.rglob("*"))

    force = out != "export"
    with pytest.raises(ExportError, match=rf"^{tmp_path}.*{re.escape(message)}"):
        check_export_target(tmp_path / out, protected(places), force=force)
    assert sorted(tmp_path.rglob("*")) == before


def test_allowed_targets_are_returned_resolved(tmp_path, places):
    write_folder(tmp_path / "export", OLD)
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "export")
    rules = protected(places)
    assert check_export_target(tmp_path / "new" / "secr", rules, force=False) == tmp_path / "new" / "secr"
    assert check_export_target(tmp_path / "empty", rules, force=False) == tmp_path / "empty"  # nothing in it to lose
    assert check_export_target(tmp_path / "export", rules, force=True) == tmp_path / "export"
    assert check_export_target(tmp_path / "project" / ".." / "link", rules, force=True) == tmp_path / "export"
    assert check_export_target(tmp_path / "survey-2024-exports", rules, force=False) == tmp_path / "survey-2024-exports"


def test_export_project_protects_the_project_and_every_survey(tmp_path):
    root = build_export_project(tmp_path / "project")
    with open_project(root) as project:
        assert [(p.what, p.path) for p in protected_folders(project)] == [
            ("the project folder", root), ("the photo folder of survey 'season1'", Path("/data/season1")),
            ("the photo folder of survey 'season2'", Path("/data/season2"))]


# ---------------------------------------------------------------- replacing, and every state a kill can leave


def test_force_replaces_an_earlier_export_and_leaves_nothing_beside_it(tmp_path):
    root = build_export_project(tmp_path / "project")
    out = tmp_path / "exports" / "leopards"
    first = pelage("export", str(root), "--format", "camtrapr", "--out", str(out), "--occasion-days", "2")
    assert first.returncode == 0 and sorted(contents(out)) == ["CTtable.csv", MANIFEST, "recordTable.csv"]
    pelage("export", str(root), "--format", "secr", "--out", str(out), "--force", "--occasion-days", "2")
    assert sorted(contents(out)) == ["captures.txt", MANIFEST, "read-capthist.R", "traps.txt"]
    assert json.loads((out / MANIFEST).read_text())["format"] == "secr"
    assert sorted(p.name for p in out.parent.iterdir()) == ["leopards"]


def _scratch(target: Path, files: dict[str, bytes], *, marker: bool = True) -> Path:
    return write_folder(sibling(target, SCRATCH), {**({SCRATCH_MARKER: b""} if marker else {}), **files})


def _states(target: Path) -> dict[str, Callable[[], object]]:
    """Each state a kill can leave, in the order an export passes through them (``OLD`` was at ``target``)."""
    half = {"captures.txt": NEW["captures.txt"]}
    return {
        "scratch made, marker not yet written": lambda: sibling(target, SCRATCH).mkdir(),
        "scratch marked": lambda: _scratch(target, {}),
        "scratch half written": lambda: _scratch(target, half),
        "scratch complete": lambda: _scratch(target, NEW),
        "marker removed": lambda: _scratch(target, NEW, marker=False),
        "old export moved to its backup name": lambda: (target.rename(sibling(target, BACKUP)), _scratch(target, NEW, marker=False)),
        "new export in place, backup not yet deleted": lambda: (target.rename(sibling(target, BACKUP)), write_folder(target, NEW)),
        "backup half deleted": lambda: (write_folder(sibling(target, BACKUP), {MANIFEST: OLD[MANIFEST]}), _replace(target, NEW)),
    }


def _replace(folder: Path, files: dict[str, bytes]) -> None:
    for name in list(contents(folder)):
        (folder / name).unlink()
    write_folder(folder, files)


@pytest.mark.parametrize("state", list(_states(Path("x"))))
def test_a_kill_in_any_state_leaves_the_old_or_new_export_and_the_next_run_tidies_up(tmp_path, state):
    target = write_folder(tmp_path / "secr", OLD)
    write_folder(tmp_path / ".pelage-export-tmp-secr-2-0123abcd", {"x": b"another target's scratch"})  # not this target's
    _states(target)[state]()

    at_target = contents(target) if target.exists() else None
    assert at_target in (OLD, NEW) or (at_target is None and [contents(b) for b in leftovers(target, BACKUP)] == [OLD])

    recover_interrupted(target)  # what the next export to this target does first
    assert contents(target) in (OLD, NEW) and contents(target) == (at_target or OLD)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".pelage-export-tmp-secr-2-0123abcd", "secr"]


def test_leftovers_that_are_not_provably_pelages_stay(tmp_path):
    target = write_folder(tmp_path / "secr", OLD)
    strangers = [write_folder(sibling(target, SCRATCH), {"notes.txt": b"mine"}),  # no marker
                 write_folder(sibling(target, BACKUP), {**OLD, "notes.txt": b"mine"}),  # an export plus a stranger
                 write_folder(sibling(target, SCRATCH), {SCRATCH_MARKER: b""}) / "sub"]  # a marker, but a folder inside
    strangers[2].mkdir()
    recover_interrupted(target)
    assert all(folder.exists() for folder in strangers) and contents(target) == OLD


def test_a_missing_target_is_restored_from_a_complete_backup_first_and_a_backup_is_never_all_that_is_lost(tmp_path):
    target = tmp_path / "secr"
    partial = {MANIFEST: NEW[MANIFEST], "captures.txt": NEW["captures.txt"]}  # an export that had lost a file before the kill
    write_folder(sibling(target, BACKUP), partial)
    write_folder(sibling(target, BACKUP), OLD)
    assert recover_interrupted(target) and contents(target) == OLD and leftovers(target, BACKUP) == []
    target.rename(sibling(target, "x"))
    write_folder(sibling(target, BACKUP), partial)
    assert recover_interrupted(target) and contents(target) == partial and leftovers(target, BACKUP) == []
    stranger = write_folder(sibling(target, BACKUP), {"notes.txt": b"mine"})
    target.rename(sibling(target, "y"))
    assert not recover_interrupted(target) and contents(stranger) == {"notes.txt": b"mine"}


def test_a_file_added_to_the_old_export_while_writing_stops_the_swap(tmp_path):
    from pelage.export.target import swap_into_place

    target = write_folder(tmp_path / "secr", OLD)
    scratch = _scratch(target, NEW)
    (target / "my-notes.docx").write_bytes(b"written while the export ran")
    with pytest.raises(ExportError, match="changed while the export was written: it now holds my-notes.docx"):
        swap_into_place(scratch, target)
    assert contents(target) == {**OLD, "my-notes.docx": b"written while the export ran"} and leftovers(target, BACKUP) == []


def test_the_next_export_restores_a_backup_before_judging_the_target(tmp_path):
    root = build_export_project(tmp_path / "project")
    out = tmp_path / "ind"
    with open_project(root) as project:
        export_project(project, "individuals", out, ExportOptions())
        reference = contents(out)
        out.rename(sibling(out, BACKUP))  # killed between the two renames of a --force export
        with pytest.raises(ExportError, match="already exists and holds a Pelage export; pass --force"):
            export_project(project, "individuals", out, ExportOptions())
        assert contents(out) == reference and leftovers(out, BACKUP) == []
        export_project(project, "mark", out, ExportOptions(), force=True)
    assert sorted(contents(out)) == ["captures.inp", MANIFEST]


# ---------------------------------------------------------------- real processes, killed at random


def build_big_project(root: Path, animals: int = 6000) -> Path:
    """Two stations over two weeks and ``animals`` photos of as many individuals: a camtrapR export that takes a
    noticeable moment to write."""
    with open_project(root, create=True) as project, transaction(project.sessions) as session:
        survey = Survey(name="big", root=str(root.parent / "photos"))
        cameras = [Camera(station=Station(name=f"ST{n:02d}", x=500000.0 + n, y=8000000.0, setup_date=date(2024, 3, 1),
                                          retrieval_date=date(2024, 3, 14)), name="CamA") for n in range(1, 3)]
        session.add_all([survey, *cameras])
        session.flush()
        start = datetime(2024, 3, 1, 6, 0)
        images = [Image(survey=survey, path=f"IMG_{n:05d}.JPG", size_bytes=1000, width=2000, height=1500, camera=cameras[n % 2],
                        captured_at=start + timedelta(minutes=3 * n), status=ImageStatus.DONE, imported_at=start) for n in range(animals)]
        session.add_all(images)
        session.flush()
        session.add_all([Detection(image_id=image.id, x0=1.0, y0=2.0, x1=300.0, y1=400.0, score=0.9, label="animal", detector="test")
                         for image in images])
    return root


def test_killed_exports_leave_the_old_or_the_new_export(tmp_path):
    root = build_big_project(tmp_path / "project")
    args = [sys.executable, "-m", "pelage", "export", str(root), "--format", "camtrapr", "--force", "--independence-minutes", "0"]
    references = {}
    for species in ("Panthera pardus", "Panthera onca"):  # the two complete exports the target may hold
        out = tmp_path / "references" / species.replace(" ", "-")
        subprocess.run([*args, "--out", str(out), "--species", species], check=True, capture_output=True)
        references[species] = contents(out)
    target = tmp_path / "exports" / "camtrapr"
    subprocess.run([*args, "--out", str(target), "--species", "Panthera pardus"], check=True, capture_output=True)

    rng = random.Random(12)
    for run in range(8):
        species = ("Panthera onca", "Panthera pardus")[run % 2]
        process = subprocess.Popen([*args, "--out", str(target), "--species", species], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        started = time.monotonic()
        while process.poll() is None and not leftovers(target, SCRATCH) and time.monotonic() - started < 60:
            time.sleep(0.001)  # kill once the export is under way, at a random moment of its writing and swapping
        time.sleep(rng.uniform(0, 0.4))
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        if target.exists():
            held = contents(target)
        else:  # killed between the two renames: the old export waits under its backup name
            (backup,) = leftovers(target, BACKUP)
            held = contents(backup)
        assert held in references.values(), f"run {run}: the target holds neither complete export"
        assert all(name.startswith(".pelage-export-") or name == "camtrapr" for name in os.listdir(target.parent))

    subprocess.run([*args, "--out", str(target), "--species", "Panthera onca"], check=True, capture_output=True)
    assert contents(target) == references["Panthera onca"] and os.listdir(target.parent) == ["camtrapr"]
