"""The season generator: a synthetic season of any size, whose ground truth says what an import must find."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select

from pelage.ingest import DetectorConfig, build_pipeline, import_survey
from pelage.ingest.detect import Box, iou
from pelage.season import GROUND_TRUTH, SeasonSpec, make_season, plan_season, read_ground_truth
from pelage.store import Image, ImageStatus, open_project
from tests.test_cli import pelage


def test_individuals_recur_across_stations_and_days():
    spec = SeasonSpec(images=400, stations=10, individuals=8, days=30)
    shots = plan_season(spec)
    assert shots == plan_season(spec)  # from the seed alone
    kinds = [shot.kind for shot in shots]
    assert len(shots) == 400 and kinds.count("broken") >= 1 and kinds.count("empty") > 50
    stations, days, flanks = defaultdict(set), defaultdict(set), defaultdict(set)
    for shot in shots:
        if shot.individual is not None:
            stations[shot.individual].add(shot.station)
            days[shot.individual].add(shot.captured_at.date())
            flanks[shot.individual].add(shot.flank)
    assert len(stations) == 8
    assert all(len(seen) >= 2 for seen in stations.values()) and all(len(seen) >= 10 for seen in days.values())
    assert all(seen == {"left", "right"} for seen in flanks.values())
    by_camera = defaultdict(list)
    for shot in shots:
        by_camera[(shot.station, shot.camera)].append(shot)
    for camera_shots in by_camera.values():  # numbered in time order, as the camera wrote them
        ordered = sorted(camera_shots, key=lambda shot: shot.path)
        assert [shot.captured_at for shot in ordered] == sorted(shot.captured_at for shot in ordered)


def test_the_same_files_whichever_process_draws_them(tmp_path):
    spec = SeasonSpec(images=30, stations=2, individuals=2, days=3, size=(160, 120))
    make_season(tmp_path / "one", spec, processes=1)
    make_season(tmp_path / "two", spec, processes=2)
    files = sorted(path.relative_to(tmp_path / "one") for path in (tmp_path / "one").rglob("*") if path.is_file())
    assert len(files) == 32  # 30 frames, the ground truth and the station table
    assert all((tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes() for f in files)


def test_a_small_season_imports_as_its_ground_truth_says(tmp_path, user_home):
    spec = SeasonSpec(images=24, stations=3, individuals=3, days=4, size=(960, 540), broken_share=0.1)
    made = make_season(tmp_path / "season", spec)
    truth = {row["path"]: row for row in read_ground_truth(tmp_path / "season" / GROUND_TRUTH)}
    assert len(truth) == 24 and made.broken == 2
    with open_project(tmp_path / "project", create=True) as project:
        factory = lambda: build_pipeline(user_home, project.artefacts, DetectorConfig(name="saliency"), threads=1)
        summary = import_survey(project, tmp_path / "season", factory)
        with project.sessions() as session:
            images = {image.path: image for image in session.scalars(select(Image))}
            recorded = {path: (image.status, image.error, image.camera.station.name, image.camera.name, image.captured_at,
                               [Box(d.x0, d.y0, d.x1, d.y1, d.score) for d in image.detections]) for path, image in images.items()}
    assert summary.images_found == 24 and summary.other_files == []  # ground-truth.csv and stations.csv left alone
    broken = {path for path, row in truth.items() if row["kind"] == "broken"}
    assert {path for path, _ in summary.failures} == broken
    assert all("truncated" in recorded[path][1] for path in broken)
    hits = animals = 0
    for path, (status, _, station, camera, captured_at, boxes) in recorded.items():
        row = truth[path]
        assert (station, camera) == (row["station"], row["camera"])
        if row["kind"] != "broken":  # a broken file's EXIF cannot be read: its time is the file's
            assert captured_at == datetime.fromisoformat(row["captured_at"])
        if row["kind"] == "animal":
            assert status == ImageStatus.DONE
            animals += 1
            drawn = Box(*(float(row[key]) for key in ("x0", "y0", "x1", "y1")), 1.0)
            hits += any(iou(box, drawn) >= 0.5 for box in boxes)
    assert hits >= 0.75 * animals  # the offline detector finds the drawn animals where the ground truth says


def test_demo_survey_command_writes_a_season_with_its_ground_truth(tmp_path):
    result = pelage("demo-survey", str(tmp_path / "season"), "--images", "12", "--stations", "2", "--days", "3")
    assert "12 photos" in result.stdout and "2 stations" in result.stdout
    rows = read_ground_truth(tmp_path / "season" / GROUND_TRUTH)
    assert len(rows) == 12 and {row["station"] for row in rows} <= {"ST01", "ST02"}
    refused = pelage("demo-survey", str(tmp_path / "other"), "--stations", "3", check=False)
    assert refused.returncode != 0 and "--images" in refused.stderr and not (tmp_path / "other").exists()
