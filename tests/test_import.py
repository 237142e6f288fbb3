"""The survey import on real files: the bundled demo survey, every awkward input, both back-ends."""

from __future__ import annotations

import os
import stat
from datetime import datetime
from functools import partial

import pytest
from sqlalchemy import select

from pelage.ingest import DetectorConfig, ImportOptions, build_pipeline, import_survey, run_import
from pelage.ingest.importer import SurveyImportError
from pelage.ingest.user_boxes import add_user_box
from pelage.store import Detection, Image, ImageStatus, MaskSource, TimeSource, open_project
from pelage.store.queries import list_animals, project_counts
from tests.images import pattern_rgb, save_jpeg, write_bad_inputs


def pipeline_factory(user_home, project):
    return partial(build_pipeline, user_home, project.artefacts, DetectorConfig(name="saliency"), threads=2)


def image_rows(project) -> list[tuple]:
    """Everything an import decides about images and detections, without ids or timestamps."""
    with project.sessions() as session:
        images = session.scalars(select(Image).order_by(Image.path)).all()
        return [
            (i.path, i.sha256, i.status.value, i.error, i.captured_at, i.time_source,
             i.camera.station.name if i.camera else None, i.camera.name if i.camera else None,
             [(round(d.x0), round(d.y0), round(d.x1), round(d.y1), d.crop_path, d.mask_source) for d in i.detections])
            for i in images
        ]


def test_demo_survey_imports_with_stations_times_and_detections(tmp_path, user_home, demo_survey, database_url):
    with open_project(tmp_path / "project", create=True, database_url=database_url) as project:
        events = []
        summary = import_survey(project, demo_survey, pipeline_factory(user_home, project), on_progress=events.append)
        assert summary.images_found == 25 and summary.failed == 1 and summary.imported == 24
        assert [e.done for e in events] == list(range(1, 26)) and {e.total for e in events} == {25}
        assert summary.other_files == []  # field-notes.txt is a known side file, left alone quietly
        with project.sessions() as session:
            counts = project_counts(session)
            animals = list_animals(session)
            exif_times = session.scalars(select(Image.time_source).where(Image.status == ImageStatus.DONE)).all()
        assert counts["stations"] == 4 and counts["cameras"] == 6 and counts["images"] == 24
        assert set(exif_times) == {TimeSource.EXIF}
        # 18 photos show an animal; the offline detector must find nearly all of them.
        photographed = {a.image for a in animals}
        assert len(photographed) >= 16
        assert all(a.station and a.station.startswith("ST") and a.time for a in animals)
        for animal in animals[:3]:
            with project.sessions() as session:
                detection = session.get(Detection, animal.id)
            for relative in (detection.crop_path, detection.mask_path, detection.edge_path):
                assert (project.artefacts / relative).stat().st_size > 0


def test_reimport_adds_nothing_and_loads_no_model(tmp_path, user_home, demo_survey):
    with open_project(tmp_path / "project", create=True) as project:
        import_survey(project, demo_survey, pipeline_factory(user_home, project))
        before = image_rows(project)

        def must_not_load():
            raise AssertionError("a finished import must not load the models again")

        summary = import_survey(project, demo_survey, must_not_load)
        assert summary.imported == 0 and summary.already_imported == 25
        assert image_rows(project) == before


def test_new_files_are_imported_incrementally(tmp_path, user_home):
    survey = tmp_path / "survey"
    save_jpeg(survey / "ST1" / "C1" / "a.jpg", pattern_rgb(seed=1))
    with open_project(tmp_path / "project", create=True) as project:
        assert import_survey(project, survey, pipeline_factory(user_home, project)).imported == 1
        save_jpeg(survey / "ST1" / "C1" / "b.jpg", pattern_rgb(seed=2))
        summary = import_survey(project, survey, pipeline_factory(user_home, project))
        assert (summary.imported, summary.already_imported) == (1, 1)


def test_every_bad_input_is_recorded_and_the_rest_imported(tmp_path, user_home, database_url):
    survey = tmp_path / "survey"
    expected = write_bad_inputs(survey)
    with open_project(tmp_path / "project", create=True, database_url=database_url) as project:
        summary = import_survey(project, survey, pipeline_factory(user_home, project))
        with project.sessions() as session:
            rows = {i.path: i for i in session.scalars(select(Image))}
            details = {path: (image.status.value, image.error, image.width, image.height, len(image.detections))
                       for path, image in rows.items()}
    for relative, outcome in expected.items():
        if outcome == "not an image":
            assert relative not in details and relative in summary.other_files
            continue
        status, error, width, height, _ = details[relative]
        assert status == outcome, (relative, error)
        if outcome == "failed":
            assert error and len(error) > 10, relative
        else:
            assert error is None
    assert "truncated" in details["ST01/CAM1/truncated.jpg"][1]
    assert "empty" in details["ST01/CAM1/empty.jpg"][1]
    assert "not an image" in details["ST01/CAM1/not-really.jpg"][1]
    assert details["ST02/CAM1/rotated.jpg"][2:4] == (240, 320)  # EXIF orientation applied
    assert details["ST01/CAM1/Läufer_ñandú_雪豹.jpg"][4] >= 1  # odd names are fine, animal found
    assert summary.failed == 4


def test_capture_time_sources_are_recorded(tmp_path, user_home):
    survey = tmp_path / "survey"
    save_jpeg(survey / "ST1" / "exif.jpg", pattern_rgb(seed=1), when=datetime(2020, 1, 2, 3, 4, 5))
    save_jpeg(survey / "ST1" / "IMG_20200607_080910.jpg", pattern_rgb(seed=2), when=datetime(2020, 6, 7, 7, 9, 10))
    plain = save_jpeg(survey / "ST1" / "plain.jpg", pattern_rgb(seed=3))
    os.utime(plain, (datetime(2019, 5, 5, 5, 5, 5).timestamp(),) * 2)
    with open_project(tmp_path / "project", create=True) as project:
        import_survey(project, survey, pipeline_factory(user_home, project))
        with project.sessions() as session:
            times = {i.path: (i.captured_at, i.time_source, i.exif_time) for i in session.scalars(select(Image))}
    assert times["ST1/exif.jpg"][:2] == (datetime(2020, 1, 2, 3, 4, 5), TimeSource.EXIF)
    # The name (the team's corrected clock) wins over EXIF; the camera's own time is kept beside it.
    assert times["ST1/IMG_20200607_080910.jpg"] == (datetime(2020, 6, 7, 8, 9, 10), TimeSource.FILENAME,
                                                    datetime(2020, 6, 7, 7, 9, 10))
    assert times["ST1/plain.jpg"][:2] == (datetime(2019, 5, 5, 5, 5, 5), TimeSource.FILE_TIME)


def test_exif_first_when_asked(tmp_path, user_home):
    survey = tmp_path / "survey"
    save_jpeg(survey / "IMG_20200607_080910.jpg", pattern_rgb(), when=datetime(2020, 6, 7, 7, 9, 10))
    with open_project(tmp_path / "project", create=True) as project:
        options = ImportOptions(time_priority=(TimeSource.EXIF, TimeSource.FILENAME))
        import_survey(project, survey, pipeline_factory(user_home, project), options)
        with project.sessions() as session:
            image = session.scalars(select(Image)).one()
    assert (image.captured_at, image.time_source) == (datetime(2020, 6, 7, 7, 9, 10), TimeSource.EXIF)


def test_duplicates_by_content_are_not_processed_twice(tmp_path, user_home):
    survey = tmp_path / "survey"
    first = save_jpeg(survey / "ST1" / "a.jpg", pattern_rgb())
    (survey / "ST1" / "copy of a.jpg").write_bytes(first.read_bytes())
    with open_project(tmp_path / "project", create=True) as project:
        summary = import_survey(project, survey, pipeline_factory(user_home, project))
        with project.sessions() as session:
            copy = session.scalars(select(Image).where(Image.path == "ST1/copy of a.jpg")).one()
            original = session.scalars(select(Image).where(Image.path == "ST1/a.jpg")).one()
            assert summary.duplicates == 1 and copy.status is ImageStatus.DUPLICATE
            assert copy.duplicate_of_id == original.id and not copy.detections and original.detections


def test_read_only_survey_is_left_untouched(tmp_path, user_home):
    survey = tmp_path / "survey"
    write_bad_inputs(survey)
    snapshot = sorted((p.relative_to(survey), p.stat().st_mtime_ns, p.stat().st_size) for p in survey.rglob("*"))
    for path in [survey, *survey.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        with open_project(tmp_path / "project", create=True) as project:
            summary = import_survey(project, survey, pipeline_factory(user_home, project))
        assert summary.imported == 8
        assert sorted((p.relative_to(survey), p.stat().st_mtime_ns, p.stat().st_size) for p in survey.rglob("*")) == snapshot
    finally:
        for path in [survey, *survey.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def test_project_inside_the_survey_is_not_imported(tmp_path, user_home):
    survey = tmp_path / "survey"
    save_jpeg(survey / "ST1" / "a.jpg", pattern_rgb())
    with open_project(survey / "pelage-project", create=True) as project:
        summary = import_survey(project, survey, pipeline_factory(user_home, project))
        summary_again = import_survey(project, survey, pipeline_factory(user_home, project))
    assert summary.images_found == 1 and summary_again.images_found == 1  # its crops are not "new images"


def test_missing_survey_folder_is_explained(tmp_path):
    with open_project(tmp_path / "project", create=True) as project:
        with pytest.raises(SurveyImportError, match="does not exist"):
            import_survey(project, tmp_path / "nowhere", lambda: None)


def test_cancel_keeps_what_was_done(tmp_path, user_home, demo_survey):
    with open_project(tmp_path / "project", create=True) as project:
        events = run_import(project, demo_survey, pipeline_factory(user_home, project))
        for _ in range(3):
            next(events)
        events.close()  # what the GUI's Cancel button does
        assert len(image_rows(project)) == 3
        summary = import_survey(project, demo_survey, pipeline_factory(user_home, project))
        assert summary.already_imported == 3 and summary.imported + summary.failed == 22


def test_retry_failed_after_the_file_is_fixed(tmp_path, user_home):
    survey = tmp_path / "survey"
    survey.mkdir()
    (survey / "late.jpg").write_bytes(b"")
    with open_project(tmp_path / "project", create=True) as project:
        assert import_survey(project, survey, pipeline_factory(user_home, project)).failed == 1
        save_jpeg(survey / "late.jpg", pattern_rgb())
        summary = import_survey(project, survey, pipeline_factory(user_home, project), ImportOptions(retry_failed=True))
        assert summary.imported == 1
        with project.sessions() as session:
            image = session.scalars(select(Image)).one()
        assert image.status is ImageStatus.DONE and image.error is None and image.sha256


def test_user_drawn_box_is_stored_like_a_detection(tmp_path, user_home):
    survey = tmp_path / "survey"
    save_jpeg(survey / "ST1" / "a.jpg", pattern_rgb())
    with open_project(tmp_path / "project", create=True) as project:
        pipeline = pipeline_factory(user_home, project)()
        import_survey(project, survey, lambda: pipeline)
        with project.sessions() as session:
            image_id = session.scalars(select(Image.id)).one()
        new_id = add_user_box(project, pipeline, image_id, (10, 10, 120, 100))
        with project.sessions() as session:
            detection = session.get(Detection, new_id)
        assert detection.detector == "user" and detection.box == (10, 10, 120, 100)
        assert (project.artefacts / detection.crop_path).is_file()
        assert detection.mask_source in (MaskSource.REMBG, MaskSource.BOX)
        with pytest.raises(ValueError, match="empty"):
            add_user_box(project, pipeline, image_id, (400, 400, 500, 500))
