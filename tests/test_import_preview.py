"""The import preview: what an import will read (photos, stations, cameras, first capture times) from the same
parser as the importer, without decoding pixels, and a plain warning about photos whose time is only the file's date.
The dialog shows it before anything is imported."""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime

import pytest

import tests.ui_helpers  # noqa: F401  (offscreen Qt before any QApplication exists)
from pelage.ingest.errors import SurveyImportError
from pelage.ingest.preview import preview_survey
from pelage.store import TimeSource, open_project
from pelage.ui.import_dialog import ImportDialog
from pelage.ui.settings import AppSettings


def test_the_demo_survey_is_previewed_as_the_importer_reads_it(demo_survey):
    preview = preview_survey(demo_survey)
    assert preview.photos == 25 and preview.other_files == 0  # field-notes.txt is a quiet companion, not a photo
    assert preview.stations == ("ST01", "ST02", "ST03", "ST04")
    assert len([camera for _, camera in preview.cameras if camera]) == 6
    assert [p.path for p in preview.first] == ["ST01/CAM-A/IMG_0001.JPG", "ST01/CAM-A/IMG_0002.JPG", "ST01/CAM-A/IMG_0003.JPG",
                                               "ST01/CAM-A/IMG_0004.JPG", "ST01/CAM-B/IMG_0001.JPG"]
    assert all(p.source == TimeSource.EXIF and p.time.year == 2024 for p in preview.first)
    assert preview.file_time_only == () and preview.without_station == ()


def test_names_win_over_exif_and_files_without_any_time_are_listed(tmp_path, demo_survey):
    survey = tmp_path / "survey"
    (survey / "ST09").mkdir(parents=True)
    exif_photo = next((demo_survey / "ST01" / "CAM-A").iterdir())
    shutil.copy(exif_photo, survey / "ST09" / "cam1_2023-05-04_06-07-08.jpg")  # the name's time wins (the default order)
    (survey / "ST09" / "IMG_0001.jpg").write_bytes(b"\xff\xd8 not really a photo")  # no time in the name nor EXIF
    (survey / "ST09" / "readme.pdf").write_bytes(b"%PDF")
    preview = preview_survey(survey, pattern=r"(?P<station>ST\d+)/(?P<camera>cam\d)_")
    assert preview.photos == 2 and preview.other_files == 1
    named = next(p for p in preview.first if p.path.endswith("08.jpg"))
    assert named.time == datetime(2023, 5, 4, 6, 7, 8) and named.source == TimeSource.FILENAME and named.camera == "cam1"
    assert preview.file_time_only == ("ST09/IMG_0001.jpg",)
    exif_first = preview_survey(survey, priority=(TimeSource.EXIF, TimeSource.FILENAME, TimeSource.FILE_TIME))
    assert next(p for p in exif_first.first if p.path.endswith("08.jpg")).source == TimeSource.EXIF


def test_bad_folders_and_patterns_are_one_plain_line(tmp_path):
    with pytest.raises(SurveyImportError, match="does not exist"):
        preview_survey(tmp_path / "missing")
    with pytest.raises(ValueError, match="not a valid regular expression"):
        preview_survey(tmp_path, pattern="(?P<station>")


def test_thousands_of_files_take_seconds_because_no_pixel_is_decoded(tmp_path, demo_survey):
    photo = (demo_survey / "ST01" / "CAM-A" / "IMG_0001.JPG").read_bytes()  # a 1280×960 frame with EXIF
    for station in range(20):
        folder = tmp_path / f"ST{station:02d}" / "CAM-A"
        folder.mkdir(parents=True)
        for n in range(150):
            (folder / f"IMG_{n:04d}.JPG").write_bytes(photo)
    started = time.perf_counter()
    preview = preview_survey(tmp_path)
    seconds = time.perf_counter() - started
    assert preview.photos == 3000 and len(preview.stations) == 20 and preview.file_time_only == ()
    assert seconds < 15, f"previewing 3,000 photos took {seconds:.1f} s"  # decoding them would take minutes on two cores


def test_the_dialog_previews_before_importing_and_warns_in_plain_words(qtbot, tmp_path, demo_survey):
    survey = tmp_path / "survey"
    shutil.copytree(demo_survey, survey)
    undated = survey / "ST02" / "CAM-A" / "IMG_0050.JPG"
    undated.write_bytes(b"\xff\xd8 a card error")
    os.utime(undated, (0, 0))
    with open_project(tmp_path / "project", create=True) as project:
        dialog = ImportDialog(project, AppSettings(), folder=survey)
        qtbot.addWidget(dialog)
        qtbot.waitUntil(lambda: dialog.preview is not None, timeout=20000)
        assert dialog.preview_label.text().startswith("Will read 26 photos from 4 stations (6 cameras): ST01, ST02, ST03, ST04.")
        assert not dialog.preview_warning.isHidden()
        assert "1 photo has no capture time" in dialog.preview_warning.text() and "ST02/CAM-A/IMG_0050.JPG" in dialog.preview_warning.text()
        table = dialog.preview_table
        assert table.rowCount() == 5 and table.item(0, 0).text() == "ST01/CAM-A/IMG_0001.JPG"
        assert table.item(0, 1).text() == "ST01" and table.item(0, 2).text() == "CAM-A"
        assert table.item(0, 3).text().startswith("2024-06-") and table.item(0, 4).text() == "camera (EXIF)"

        dialog.pattern.setText("(?P<nonsense>x)")  # typing a pattern previews again, once the user pauses
        qtbot.waitUntil(lambda: "unknown group" in dialog.preview_label.text(), timeout=20000)
        assert table.rowCount() == 0
        dialog.pattern.setText("")
        (tmp_path / "empty").mkdir()
        dialog.folder.setText(str(tmp_path / "empty"))
        qtbot.waitUntil(lambda: dialog.preview is not None, timeout=20000)
        assert dialog.preview_label.text() == "Found no photos to import."
        assert "no photos in this folder" in dialog.preview_warning.text()
        with open_project(tmp_path / "project") as again, again.sessions() as session:
            from pelage.store.queries import project_counts

            assert project_counts(session)["images"] == 0  # a preview imports nothing
        dialog.reject()
        assert not dialog.previewing
