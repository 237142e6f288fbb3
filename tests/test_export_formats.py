"""Every export format against hand-worked expected files (tests/fixtures/export/README.md tells the story),
on SQLite and PostgreSQL: occasion boundaries, the independence interval, an outage, a station that took no
photo, an individual seen twice in one occasion, flanks linked and separate, and a session with no capture."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from pelage.export import ExportError, ExportOptions, FlankMode, export_project
from pelage.export.stations import import_station_table
from pelage.review.graph import record_decision
from pelage.review.individuals import rename_individual
from pelage.store import open_project, transaction
from pelage.store.schema import Camera, Decision, Detection, Flank, Image, ImageStatus, IndividualName, Station, Survey

FIXTURES = Path(__file__).parent / "fixtures" / "export"
PINNED = datetime(2024, 4, 1, 9, 0, 0)  # import time of every image
L, R = Flank.LEFT, Flank.RIGHT
BOX = (100.0, 200.0, 900.0, 800.0)

# (image name, station, camera, time, flank, box) in detection-id order; survey season1.
ANIMALS = [
    ("IMG_0001.JPG", "ST01", "CamA", datetime(2024, 3, 1, 8, 0), L, BOX),
    ("IMG_0002.JPG", "ST01", "CamA", datetime(2024, 3, 1, 8, 10), L, BOX),
    ("IMG_0003.JPG", "ST01", "CamB", datetime(2024, 3, 1, 8, 5), R, BOX),
    ("IMG_0004.JPG", "ST01", "CamA", datetime(2024, 3, 2, 20, 0), L, BOX),
    ("IMG_0005.JPG", "ST02", "CamA", datetime(2024, 3, 5, 6, 0), L, BOX),
    ("IMG_0006.JPG", "ST01", "CamA", datetime(2024, 3, 1, 8, 35), L, BOX),
    ("IMG_0007.JPG", "ST02", "CamA", datetime(2024, 3, 3, 10, 0), R, BOX),
    ("IMG_0008.JPG", "ST02", "CamA", datetime(2024, 3, 2, 23, 59, 59), R, BOX),
    ("IMG_0009.JPG", "ST01", "CamA", datetime(2024, 3, 3, 0, 0, 0), R, BOX),
    ("IMG_0010.JPG", "ST01", "CamB", datetime(2024, 3, 6, 12, 0), None, (1500.3, 0.0, 2000.0, 750.5)),
    ("IMG_0011.JPG", "ST02", "CamA", None, L, BOX),
]
MATCHES = [(1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (7, 8), (8, 9)]


def build_export_project(root: Path, database_url: str | None = None, *, station_table: bool = True) -> Path:
    """The fixture project: store rows written directly (no image pipeline), decisions through the review core;
    without ``station_table`` the stations are only those the images name, with no metadata yet."""
    with open_project(root, create=True, database_url=database_url) as project:
        with transaction(project.sessions) as session:
            season1 = Survey(name="season1", root="/data/season1", created_at=PINNED)
            season2 = Survey(name="season2", root="/data/season2", created_at=PINNED)
            session.add_all([season1, season2])
            cameras = {}
            for station_name, camera_name in (("ST01", "CamA"), ("ST01", "CamB"), ("ST02", "CamA")):
                station = session.query(Station).filter_by(name=station_name).one_or_none() or Station(name=station_name)
                cameras[(station_name, camera_name)] = Camera(station=station, name=camera_name)
                session.add(cameras[(station_name, camera_name)])
            session.flush()
            for name, station, camera, time, flank, box in ANIMALS:
                image = Image(survey=season1, path=f"{station}/{camera}/{name}", size_bytes=1000, width=2000, height=1500,
                              camera=cameras[(station, camera)], captured_at=time, status=ImageStatus.DONE, imported_at=PINNED)
                session.add(image)
                session.flush()
                session.add(Detection(image_id=image.id, x0=box[0], y0=box[1], x1=box[2], y1=box[3], score=0.9, label="animal",
                                      detector="test", flank=flank))
            session.add(Image(survey=season2, path="ST01/CamA/IMG_9000.JPG", size_bytes=1000, width=2000, height=1500,
                              camera=cameras[("ST01", "CamA")], captured_at=datetime(2024, 3, 4, 12, 0), status=ImageStatus.DONE,
                              imported_at=PINNED))
        with transaction(project.sessions) as session:
            if station_table:
                import_station_table(session, FIXTURES / "stations.csv", add_new=True)
            record_decision(session, 1, 7, "nonmatch")
            for a, b in MATCHES:
                record_decision(session, a, b, "match")
            rename_individual(session, 1, "Ayo")
            rename_individual(session, 7, "Spot A")
            # Pin the review clock so the package's "created" (the data's newest change) is fixed.
            session.execute(update(Decision).values(created_at=datetime(2024, 4, 2, 10, 0)))
            session.execute(update(IndividualName).values(created_at=datetime(2024, 4, 2, 10, 30)))
    return root


OPTIONS = ExportOptions(species="Panthera pardus", occasion_days=2, independence_minutes=30, utc_offset="+02:00", contributor="Field Team")


@pytest.fixture(scope="module")
def sqlite_project(tmp_path_factory) -> Path:
    return build_export_project(tmp_path_factory.mktemp("export") / "leopard-project")


def _export(root: Path, format_name: str, out: Path, options: ExportOptions = OPTIONS, **kwargs) -> dict:
    with open_project(root) as project:
        return export_project(project, format_name, out, options, **kwargs)


def assert_same_files(produced: Path, expected: Path) -> None:
    """Every file the format writes is hand-worked in ``expected`` (``read-capthist.R`` and the manifest aside)."""
    names = sorted(p.name for p in expected.iterdir())
    assert sorted(p.name for p in produced.iterdir() if p.name not in ("pelage-export.json", "read-capthist.R")) == names
    for name in names:
        assert (produced / name).read_bytes().decode() == (expected / name).read_text(), f"{name} differs from {expected / name}"


@pytest.mark.parametrize("format_name", ["individuals", "occasions", "secr", "camtrapr", "mark", "camtrapdp"])
def test_linked_exports_match_hand_worked_files(sqlite_project, tmp_path, format_name):
    _export(sqlite_project, format_name, tmp_path / format_name)
    assert_same_files(tmp_path / format_name, FIXTURES / "linked" / format_name)


@pytest.mark.parametrize("format_name", ["occasions", "secr"])
def test_separate_flanks_are_separate_entities(sqlite_project, tmp_path, format_name):
    options = ExportOptions(**{**OPTIONS.__dict__, "flanks": FlankMode.SEPARATE})
    manifest = _export(sqlite_project, format_name, tmp_path / format_name, options)
    assert_same_files(tmp_path / format_name, FIXTURES / "separate" / format_name)
    assert manifest["flanks"] == "separate"
    assert manifest["left_out"] == {"flank not known": [10], "no capture time": [11], "not independent": [2],
                                    "station not working that day": [7]}


def test_secr_session_without_captures_gets_a_none_row(sqlite_project, tmp_path):
    options = ExportOptions(**{**OPTIONS.__dict__, "session_per_survey": True})
    manifest = _export(sqlite_project, "secr", tmp_path / "secr", options)
    assert_same_files(tmp_path / "secr", FIXTURES / "per-survey" / "secr")
    assert manifest["sessions"] == ["season1", "season2"] and manifest["renamed_detectors"] == {"ST_03": "ST-03"}


def test_what_is_left_out_is_reported(sqlite_project, tmp_path):
    manifest = _export(sqlite_project, "occasions", tmp_path / "occ")
    assert manifest["left_out"] == {"no capture time": [11], "not independent": [2, 3], "station not working that day": [7]}
    assert (manifest["entities"], manifest["occasions"], manifest["captures"]) == (3, 3, 7)
    assert manifest["options"]["independence_minutes"] == 30 and manifest["flanks"] == "linked"


def test_left_and_right_only(sqlite_project, tmp_path):
    left = ExportOptions(**{**OPTIONS.__dict__, "flanks": "left"})
    _export(sqlite_project, "mark", tmp_path / "left", left)
    assert (tmp_path / "left" / "captures.inp").read_text().splitlines()[1:] == ["/* Ayo */ 101 1;"]
    right = ExportOptions(**{**OPTIONS.__dict__, "flanks": "right"})
    manifest = _export(sqlite_project, "mark", tmp_path / "right", right)
    assert (tmp_path / "right" / "captures.inp").read_text().splitlines()[1:] == ["/* Ayo */ 100 1;", "/* Spot-A */ 110 1;"]
    assert manifest["left_out"]["the other flank"] == [1, 2, 4, 5, 6, 11]


def test_start_and_occasion_length_move_the_boundaries(sqlite_project, tmp_path):
    """From 2024-03-02 with one-day occasions the 03-01 photos fall before occasion 1; 08 (23:59:59 on 03-02) is
    o1 and 09 (00:00 on 03-03) is o2; with no independence interval all three Ayo photos at 08:00–08:35 are gone
    anyway, and Ayo's second o1 capture on 03-02 20:00 stays."""
    options = ExportOptions(**{**OPTIONS.__dict__, "occasion_days": 1, "start": date(2024, 3, 2), "independence_minutes": 0})
    manifest = _export(sqlite_project, "occasions", tmp_path / "o", options)
    assert (tmp_path / "o" / "capture-history.csv").read_text() == (
        "entity,o1,o2,o3,o4,o5\nAyo,1,0,0,1,0\nSpot-A,1,1,0,0,0\nID-10,0,0,0,0,1\n")
    assert manifest["left_out"]["before the first occasion"] == [1, 2, 3, 6]
    assert "not independent" not in manifest["left_out"]


def test_independence_counts_a_photo_exactly_the_interval_later(sqlite_project, tmp_path):
    """06 is 35 min after 01 (the previous counted photo): with 35 min it still counts, with 36 it does not."""
    at_35 = ExportOptions(**{**OPTIONS.__dict__, "independence_minutes": 35})
    at_36 = ExportOptions(**{**OPTIONS.__dict__, "independence_minutes": 36})
    assert _export(sqlite_project, "occasions", tmp_path / "a", at_35)["left_out"]["not independent"] == [2, 3]
    assert _export(sqlite_project, "occasions", tmp_path / "b", at_36)["left_out"]["not independent"] == [2, 3, 6]


def test_exports_are_deterministic_and_never_overwrite(sqlite_project, tmp_path):
    for format_name in ("secr", "camtrapdp"):
        first, second = tmp_path / f"{format_name}-1", tmp_path / f"{format_name}-2"
        _export(sqlite_project, format_name, first)
        _export(sqlite_project, format_name, second)
        assert {p.name: p.read_bytes() for p in first.iterdir()} == {p.name: p.read_bytes() for p in second.iterdir()}
    target = tmp_path / "secr-1"
    with pytest.raises(ExportError, match="already exists.*--force"):
        _export(sqlite_project, "secr", target)
    _export(sqlite_project, "mark", target, force=True)  # an earlier export is replaced, file set and all
    assert sorted(p.name for p in target.iterdir()) == ["captures.inp", "pelage-export.json"]
    (target / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="also notes.txt, which it did not write"):
        _export(sqlite_project, "secr", target, force=True)
    assert (target / "notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no scratch folder left behind


def test_failed_export_leaves_nothing(sqlite_project, tmp_path):
    no_offset = ExportOptions(**{**OPTIONS.__dict__, "utc_offset": None})
    with pytest.raises(ExportError, match="UTC offset"):
        _export(sqlite_project, "camtrapdp", tmp_path / "dp", no_offset)
    assert list(tmp_path.iterdir()) == []


def test_stations_without_metadata_are_refused(tmp_path):
    root = tmp_path / "bare"
    with open_project(root, create=True) as project, transaction(project.sessions) as session:
        session.add(Station(name="ST09"))
    with open_project(root) as project:
        individuals = export_project(project, "individuals", tmp_path / "ind", OPTIONS)  # needs no station table
        assert individuals["rows"] == 0
        with pytest.raises(ExportError, match=r"ST09 have no setup/retrieval dates.*pelage stations"):
            export_project(project, "secr", tmp_path / "secr", OPTIONS)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_gives_the_same_files(tmp_path, database_url, sqlite_project):
    root = build_export_project(tmp_path / "leopard-project", database_url)
    for format_name in ("individuals", "secr", "camtrapr", "camtrapdp"):
        _export(root, format_name, tmp_path / "out" / format_name)
        _export(sqlite_project, format_name, tmp_path / "ref" / format_name)
        for produced in (tmp_path / "ref" / format_name).iterdir():
            assert (tmp_path / "out" / format_name / produced.name).read_bytes() == produced.read_bytes(), produced.name
