"""Names that look like spreadsheet formulas (``=HYPERLINK(…)``, ``+ST1``, ``@img.jpg``, ``-5``) reach every
export: the CSVs people open in spreadsheets get them defused, consistently in every file of one export (so
ids still join and the Camtrap DP package still validates), numbers stay numbers, and the files R reads for
secr and MARK keep clean identifiers."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from pathlib import Path

import pytest

from pelage.export import ExportOptions, export_project
from pelage.export.files import FORMULA_START, Number, csv_text, plain_cell, spreadsheet_cell
from pelage.export.stations import StationInfo, parse_station_table, save_stations, station_table_text
from pelage.review.graph import record_decision
from pelage.review.individuals import rename_individual
from pelage.store import open_project, transaction
from pelage.store.schema import Camera, Detection, Flank, Image, ImageStatus, Station, Survey
from tests.test_export_camtrapdp import errors_of, offline_copy

HYPERLINK = '=HYPERLINK("http://x","y")'
# Columns that hold numbers, which keep their sign: coordinates and box edges.
NUMBER_COLUMNS = {"x", "y", "utm_x", "utm_y", "lat", "lon", "latitude", "longitude", "x0", "y0", "x1", "y1"}
# (image path, station, camera, time) in detection-id order; survey "@survey".
PHOTOS = [
    ("+ST1/CamA/@img.jpg", "+ST1", "CamA", datetime(2024, 3, 1, 8, 0)),
    ("+ST1/CamA/IMG_0002.JPG", "+ST1", "CamA", datetime(2024, 3, 2, 9, 0)),
    ("ST2/-cam/=2+3.jpg", "ST2", "-cam", datetime(2024, 3, 3, 10, 0)),
    ("ST2/-cam/IMG_0004.JPG", "ST2", "-cam", datetime(2024, 3, 4, 11, 0)),
]
STATIONS = [StationInfo("+ST1", -12345.5, 8000000.0, date(2024, 3, 1), date(2024, 3, 6), "EPSG:32736", -24.09, 31.2),
            StationInfo("ST2", 501500.5, -8000.25, date(2024, 3, 1), date(2024, 3, 6), "EPSG:32736", -24.1, -31.215)]
OPTIONS = ExportOptions(species="@Panthera pardus", utc_offset="+02:00", independence_minutes=0)


@pytest.fixture(scope="module")
def formula_project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("formulas") / "project"
    with open_project(root, create=True) as project:
        with transaction(project.sessions) as session:
            survey = Survey(name="@survey", root=str(root.parent / "photos"))
            cameras = {}
            for path, station, camera, when in PHOTOS:
                if (station, camera) not in cameras:
                    found = session.query(Station).filter_by(name=station).one_or_none() or Station(name=station)
                    cameras[(station, camera)] = Camera(station=found, name=camera)
                image = Image(survey=survey, path=path, size_bytes=1000, width=2000, height=1500, camera=cameras[(station, camera)],
                              captured_at=when, status=ImageStatus.DONE, imported_at=when)
                session.add(image)
                session.flush()
                session.add(Detection(image_id=image.id, x0=-4.0, y0=10.0, x1=900.0, y1=800.0, score=0.9, label="animal",
                                      detector="test", flank=Flank.LEFT))
        with transaction(project.sessions) as session:
            save_stations(session, STATIONS)
            record_decision(session, 1, 2, "match")
            rename_individual(session, 1, HYPERLINK)
            rename_individual(session, 3, "-5")
    return root


@pytest.fixture(scope="module")
def exports(formula_project, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("formula-exports")
    with open_project(formula_project) as project:
        for format_name in ("individuals", "occasions", "secr", "camtrapr", "mark", "camtrapdp"):
            export_project(project, format_name, out / format_name, OPTIONS)
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_the_cell_rule():
    assert [spreadsheet_cell(v) for v in (HYPERLINK, "+ST1", "@img.jpg", "-5", "\tx", "\rx", "ST1", "'=x", "")] == \
        [f"'{HYPERLINK}", "'+ST1", "'@img.jpg", "'-5", "'\tx", "'\rx", "ST1", "'=x", ""]
    assert [spreadsheet_cell(v) for v in (-5, -24.09, Number("-24.09"), None)] == [-5, -24.09, "-24.09", None]
    assert plain_cell("'+ST1") == "+ST1" and plain_cell("'quoted") == "'quoted" and plain_cell("-5") == "-5"
    assert csv_text(("a", "b"), [("=1+1", Number("-1.5"))]) == "a,b\n'=1+1,-1.5\n"


def test_no_csv_cell_can_run_as_a_formula(exports):
    checked = 0
    for path in sorted(exports.rglob("*.csv")):
        for row in read_csv(path):
            for column, cell in row.items():
                if cell and cell.startswith(FORMULA_START):
                    assert column in NUMBER_COLUMNS and float(cell) < 0, (path.name, column, cell)
                checked += 1
    assert checked > 300


def test_names_are_defused_where_people_read_them_and_numbers_stay_numbers(exports):
    individuals = read_csv(exports / "individuals" / "individuals.csv")
    assert [(r["individual"], r["entity"], r["survey"], r["image"], r["station"], r["camera"], r["x0"]) for r in individuals[::2]] == [
        (f"'{HYPERLINK}", "HYPERLINK-http-x-y", "'@survey", "'+ST1/CamA/@img.jpg", "'+ST1", "CamA", "-4.0"),
        ("'-5", "5", "'@survey", "ST2/-cam/=2+3.jpg", "ST2", "'-cam", "-4.0")]
    records = read_csv(exports / "camtrapr" / "recordTable.csv")
    assert {(r["Station"], r["FileName"], r["Species"]) for r in records} >= {("'+ST1", "'@img.jpg", "'@Panthera pardus"),
                                                                             ("ST2", "'=2+3.jpg", "'@Panthera pardus")}
    assert [(r["Station"], r["utm_x"], r["utm_y"]) for r in read_csv(exports / "camtrapr" / "CTtable.csv")] == [
        ("'+ST1", "-12345.5", "8000000"), ("ST2", "501500.5", "-8000.25")]
    assert [r["station"] for r in read_csv(exports / "occasions" / "effort.csv")] == ["'+ST1", "ST2"]
    deployments = read_csv(exports / "camtrapdp" / "deployments.csv")
    assert [(d["deploymentID"], d["locationID"], d["cameraID"], d["latitude"], d["longitude"]) for d in deployments] == [
        ("'+ST1-CamA", "'+ST1", "CamA", "-24.09", "31.2"), ("ST2--cam", "ST2", "'-cam", "-24.1", "-31.215")]
    assert read_csv(exports / "camtrapdp" / "media.csv")[0]["fileName"] == "'@img.jpg"


def test_ids_join_across_the_files_of_one_export(exports, tmp_path):
    stations = {r["Station"] for r in read_csv(exports / "camtrapr" / "CTtable.csv")}
    assert {r["Station"] for r in read_csv(exports / "camtrapr" / "recordTable.csv")} == stations == {"'+ST1", "ST2"}
    assert errors_of(offline_copy(exports / "camtrapdp", tmp_path / "checked")) == []  # foreign keys included


def test_r_inputs_keep_clean_identifiers(exports):
    token = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]*")
    for name in ("captures.txt", "traps.txt"):
        for line in (exports / "secr" / name).read_text().splitlines()[1:]:
            assert all(token.fullmatch(t) or re.fullmatch(r"-?[0-9.]+", t) for t in line.split()), line
    assert (exports / "secr" / "captures.txt").read_text().splitlines()[1:] == [
        "project HYPERLINK-http-x-y 1 ST1", "project HYPERLINK-http-x-y 2 ST1", "project 5 3 ST2", "project ID-4 4 ST2"]
    assert (exports / "mark" / "captures.inp").read_text().splitlines()[1:] == [
        "/* HYPERLINK-http-x-y */ 110000 1;", "/* 5 */ 001000 1;", "/* ID-4 */ 000100 1;"]


def test_the_station_table_is_defused_and_reads_back_the_same():
    text = station_table_text(STATIONS)
    assert text.splitlines()[1] == "'+ST1,-12345.5,8000000,2024-03-01,2024-03-06,EPSG:32736,-24.09,31.2"
    assert parse_station_table(text) == STATIONS
