"""The command-line contracts other parts of the product (and scripts) rely on."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def pelage(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pelage", *args], capture_output=True, text=True, check=check,
                          env={**os.environ, **(env or {})})


def test_import_info_and_animals(tmp_path, user_home, demo_survey):
    project = tmp_path / "project"
    result = pelage("import", str(demo_survey), "--project", str(project), "--threads", "2")
    assert "imported now:      24" in result.stdout
    assert "IMG_0099.JPG" in result.stderr and "truncated" in result.stderr  # failures are shown as they happen

    info = json.loads(pelage("info", str(project), "--json").stdout)
    assert {"images", "stations", "cameras", "detections", "failures"} <= set(info)
    assert (info["images"], info["stations"], info["cameras"], info["failures"]) == (24, 4, 6, 1)
    assert info["failed_images"][0]["path"].endswith("ST02/CAM-A/IMG_0099.JPG")

    animals = json.loads(pelage("animals", str(project), "--json").stdout)
    assert len(animals) == info["animals"] > 0
    first = animals[0]
    assert {"id", "image", "station", "camera", "time", "box"} <= set(first)
    assert first["image"].startswith("ST0") and "/" in first["image"] and len(first["box"]) == 4
    assert len({a["id"] for a in animals}) == len(animals)


def test_user_errors_are_one_clear_line(tmp_path, user_home):
    result = pelage("info", str(tmp_path / "missing"), check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("pelage: error:") and "not a Pelage project" in result.stderr
    assert "Traceback" not in result.stderr

    result = pelage("import", str(tmp_path / "no-survey"), "--project", str(tmp_path / "p"), check=False)
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_missing_model_says_how_to_install_it(tmp_path, monkeypatch, demo_survey):
    monkeypatch.setenv("PELAGE_HOME", str(tmp_path / "empty-home"))
    result = pelage("import", str(demo_survey), "--project", str(tmp_path / "p"), check=False)
    assert result.returncode == 2 and "pelage models install u2netp" in result.stderr


def test_bad_time_priority_is_rejected(tmp_path, demo_survey):
    result = pelage("import", str(demo_survey), "--project", str(tmp_path / "p"), "--time-priority", "gps", check=False)
    assert result.returncode == 2 and "filename, exif, file_time" in result.stderr


def test_snow_leopard_survey_records_station_camera_and_time_from_file_names(tmp_path, user_home):
    """Acceptance of the import: the 22 real frames, with what their names say (``02__Station13__Camera1__2012-7-18__6-47-40(4).JPG``)."""
    import re
    from datetime import datetime

    from sqlalchemy import select

    from pelage.store import Camera, Image, Station, TimeSource, open_project
    from tests.conftest import shared_dataset

    survey = shared_dataset("snow-leopards")
    project_dir = tmp_path / "sl-test"
    pelage("import", str(survey), "--project", str(project_dir), "--threads", "2", "--no-background-removal")
    name = re.compile(r"\d+__(?P<station>[^_]+)__(?P<camera>[^_]+)__(?P<y>\d+)-(?P<mo>\d+)-(?P<d>\d+)__(?P<h>\d+)-(?P<mi>\d+)-(?P<s>\d+)")
    with open_project(project_dir) as project, project.sessions() as session:
        rows = session.execute(select(Image.path, Station.name, Camera.name, Image.captured_at, Image.time_source)
                               .join(Camera, Image.camera_id == Camera.id).join(Station, Camera.station_id == Station.id)).all()
    assert len(rows) == 22
    for path, station, camera, captured_at, source in rows:
        parts = name.match(path.rsplit("/", 1)[-1]).groupdict()
        expected = datetime(*(int(parts[key]) for key in ("y", "mo", "d", "h", "mi", "s")))
        assert (station, camera, captured_at, source) == (parts["station"], parts["camera"], expected, TimeSource.FILENAME), path
