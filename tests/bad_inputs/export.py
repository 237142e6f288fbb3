"""Bad inputs to ``pelage export`` and ``pelage stations``: --out folders an export must never replace or
write into, export settings of the wrong kind, and station dates that would make absurd capture histories."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlalchemy import update

from pelage.export import ExportOptions, export_project
from pelage.store import open_project, transaction
from pelage.store.schema import Station, Survey
from tests.bad_inputs import BadInput, Invocation
from tests.test_export_formats import build_export_project

HEADER = "station,x,y,setup,retrieval"


def _project(folder: Path, **kwargs) -> Path:
    return build_export_project(folder / "project", **kwargs)


def _export(project: Path, out: Path, *more: str) -> list[str]:
    return ["export", str(project), "--format", "individuals", "--out", str(out), *more]


def _with_survey_folder(folder: Path) -> tuple[Path, Path]:
    """The fixture project with survey season1 in a real photo folder (one photo in it)."""
    project, survey = _project(folder), folder / "survey"
    (survey / "ST01" / "CamA").mkdir(parents=True)
    (survey / "ST01" / "CamA" / "IMG_0001.JPG").write_bytes(b"\xff\xd8\xff\xe0 a photo \xff\xd9")
    with open_project(project) as opened, transaction(opened.sessions) as session:
        session.execute(update(Survey).where(Survey.name == "season1").values(root=str(survey)))
    return project, survey


def _previous_export(project: Path, out: Path) -> None:
    with open_project(project) as opened:
        export_project(opened, "individuals", out, ExportOptions())


def table_over_database(folder: Path) -> Invocation:
    project = _project(folder)
    return ["stations", str(project), "--write", str(project / "project.sqlite")]


def table_into_survey(folder: Path) -> Invocation:
    project, survey = _with_survey_folder(folder)
    return ["stations", str(project), "--write", str(survey / "stations.csv")]


def export_where_nothing_can_be_written(folder: Path) -> Invocation:
    return _export(_project(folder), Path("/proc/pelage-export"))


# ---------------------------------------------------------------- --out folders --force must not replace


def force_over_parent_of_project(folder: Path) -> Invocation:
    project = _project(folder)
    return _export(project, project / "..", "--force")


def force_over_project(folder: Path) -> Invocation:
    project = _project(folder)
    return _export(project, project, "--force")


def force_over_survey(folder: Path) -> Invocation:
    project, survey = _with_survey_folder(folder)
    return _export(project, survey, "--force")


def into_survey(folder: Path) -> Invocation:
    project, survey = _with_survey_folder(folder)
    return _export(project, survey / "exports" / "secr")


def into_project(folder: Path) -> Invocation:
    project = _project(folder)
    return _export(project, project / "exports", "--force")


def into_another_project(folder: Path) -> Invocation:
    project, other = _project(folder), folder / "other-project"
    other.mkdir()
    (other / "pelage-project.json").write_text('{"format": 1}\n')
    return _export(project, other / "secr")


def force_over_user_folder(folder: Path) -> Invocation:
    project, notes = _project(folder), folder / "field-notes"
    notes.mkdir()
    (notes / "notes.txt").write_text("sightings to check\n")
    return _export(project, notes, "--force")


def force_through_link_to_project(folder: Path) -> Invocation:
    project = _project(folder)
    (folder / "exports").symlink_to(project, target_is_directory=True)
    return _export(project, folder / "exports", "--force")


def force_over_export_with_user_file(folder: Path) -> Invocation:
    project, out = _project(folder), folder / "export-2024"
    _previous_export(project, out)
    (out / "mine.txt").write_text("my notes about this export\n")
    return _export(project, out, "--force")


def over_previous_export_without_force(folder: Path) -> Invocation:
    project, out = _project(folder), folder / "export-2024"
    _previous_export(project, out)
    return _export(project, out)


def force_over_a_file(folder: Path) -> Invocation:
    project, out = _project(folder), folder / "report.csv"
    out.write_text("a,b\n")
    return _export(project, out, "--force")


def through_a_link_loop(folder: Path) -> Invocation:
    project = _project(folder)
    (folder / "exports").symlink_to(folder / "exports")
    return _export(project, folder / "exports")


# ---------------------------------------------------------------- export-settings.json of the wrong kind


def settings(value: object) -> Callable[[Path], Invocation]:
    def prepare(folder: Path) -> Invocation:
        project = _project(folder)
        (project / "export-settings.json").write_text(json.dumps(value))
        return _export(project, folder / "out")
    return prepare


# ---------------------------------------------------------------- absurd station dates


def station_table(row: str) -> Callable[[Path], Invocation]:
    def prepare(folder: Path) -> Invocation:
        project = _project(folder, station_table=False)
        (folder / "stations.csv").write_text(f"{HEADER}\nST01,500000,8000000,2024-03-01,2024-03-06\n{row}\n")
        return ["stations", str(project), "--import", str(folder / "stations.csv")]
    return prepare


def _dates(project: Path, **dates: tuple[date, date]) -> None:
    """Station dates written straight into the store (as a table imported before dates were checked could be)."""
    with open_project(project) as opened, transaction(opened.sessions) as session:
        for name, (setup, retrieval) in dates.items():
            session.execute(update(Station).where(Station.name == name).values(setup_date=setup, retrieval_date=retrieval))


def export_spanning_centuries(folder: Path) -> Invocation:
    project = _project(folder)
    _dates(project, ST01=(date(1900, 3, 1), date(1900, 3, 6)))
    return ["export", str(project), "--format", "occasions", "--out", str(folder / "out")]


def export_from_an_absurd_start(folder: Path) -> Invocation:
    project = _project(folder)
    return ["export", str(project), "--format", "secr", "--out", str(folder / "out"), "--start", "1900-03-01"]


def export_with_too_many_occasions(folder: Path) -> Invocation:
    project = _project(folder)
    _dates(project, ST01=(date(2016, 3, 1), date(2020, 3, 1)), ST02=(date(2020, 3, 1), date(2024, 3, 6)))
    return ["export", str(project), "--format", "mark", "--out", str(folder / "out"), "--max-span-years", "10"]


CASES = [
    BadInput("export-force-over-parent-of-project", force_over_parent_of_project, ("holds the project folder", "choose a new folder")),
    BadInput("export-force-over-project", force_over_project, ("is the project folder", "choose a new folder outside it")),
    BadInput("export-force-over-survey", force_over_survey, ("is the photo folder of survey 'season1'", "outside it for --out")),
    BadInput("export-into-survey", into_survey, ("inside the photo folder of survey 'season1'", "outside it for --out")),
    BadInput("export-into-project", into_project, ("inside the project folder", "outside it for --out")),
    BadInput("export-into-another-project", into_another_project, ("inside the Pelage project", "other-project", "outside it")),
    BadInput("export-force-over-user-folder", force_over_user_folder,
             ("is not a Pelage export folder (it holds notes.txt)", "choose a new folder for --out")),
    BadInput("export-force-through-link-to-project", force_through_link_to_project, ("is the project folder", "for --out")),
    BadInput("export-force-over-export-with-user-file", force_over_export_with_user_file,
             ("holds a Pelage export but also mine.txt", "move it out")),
    BadInput("export-over-previous-export-without-force", over_previous_export_without_force,
             ("already exists and holds a Pelage export", "pass --force")),
    BadInput("export-force-over-a-file", force_over_a_file, ("report.csv is a file, not a folder", "choose a new folder")),
    BadInput("export-through-a-link-loop", through_a_link_loop, ("exports cannot be followed to a folder", "choose another folder")),
    BadInput("export-settings-text-for-a-number", settings({"occasion_days": "two"}),
             ("export-settings.json", '"occasion_days" must be a whole number of days', 'not "two"', "fix that value or delete")),
    BadInput("export-settings-number-for-a-text", settings({"species": 5}),
             ("export-settings.json", '"species" must be a text', "not 5", "delete the key")),
    BadInput("export-settings-list", settings(["species", "Panthera pardus"]),
             ("export-settings.json must hold one JSON object", "not a list", "fix or delete it")),
    BadInput("export-settings-bad-date", settings({"start": "01/03/2024"}),
             ("export-settings.json", '"start" must be a date written as "YYYY-MM-DD"', '"01/03/2024"')),
    BadInput("stations-setup-in-1900", station_table("ST02,501500,8000250,1900-03-01,2024-03-06"),
             ("stations.csv, line 3", "'ST02' runs from 1900-03-01 to 2024-03-06", "more than 5 years", "fix the mistyped")),
    BadInput("stations-retrieval-in-2999", station_table("ST02,501500,8000250,2024-03-01,2999-03-06"),
             ("stations.csv, line 3", "2999-03-06", "more than 5 years", "fix the mistyped")),
    BadInput("stations-retrieved-before-setup", station_table("ST02,501500,8000250,2024-03-06,2024-03-01"),
             ("stations.csv, line 3", "retrieved (2024-03-01) before it is set up (2024-03-06)", "fix one of the two dates")),
    BadInput("export-spanning-centuries", export_spanning_centuries,
             ("more than 5 years", "station ST01 is set up on 1900-03-01", "fix the mistyped dates", "--max-span-years")),
    BadInput("export-from-an-absurd-start", export_from_an_absurd_start,
             ("more than 5 years", "--start 1900-03-01", "--max-span-years")),
    BadInput("stations-write-over-the-database", table_over_database, ("project.sqlite is inside the project folder", "outside it")),
    BadInput("stations-write-into-a-survey", table_into_survey, ("inside the photo folder of survey 'season1'", "outside it")),
    BadInput("export-where-nothing-can-be-written", export_where_nothing_can_be_written, ("/proc", "choose a folder you may write to")),
    BadInput("export-with-too-many-occasions", export_with_too_many_occasions,
             ("2016-03-01..2024-03-06 makes 2928 occasions", "more than 2000", "--occasion-days")),
]
