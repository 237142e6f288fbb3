"""The app's settings file is the user's and may come from someone else: it is read as plain JSON (never
unpickled), anything unusable falls back to a default with a note, and a file that cannot be read is
set aside, never overwritten."""

from __future__ import annotations

import json

import pytest

import tests.ui_helpers  # noqa: F401  (offscreen Qt before any QApplication exists)
from pelage.ui.app import create_application
from pelage.ui.main_window import MainWindow
from pelage.ui.settings import AppSettings, LoadedSettings, load_settings, save_settings

# What PySide6's QSettings writes for a Python object: a pickle. Reading it with QSettings.value() ran
# ``Path("MARKER").touch()``; the settings file is JSON now, so these bytes are only an unreadable value.
PICKLED_VALUE = (r"@Variant(\0\0\0\x7f\0\0\0\x18PySide::PyObjectWrapper\0\0\0\0S\x80\x4\x95H\0\0\0\0\0\0\0\x8c\apathlib\x94\x8c"
                 r"\nPath.touch\x94\x93\x94h\0\x8c\tPosixPath\x94\x93\x94\x8c\x1/\x94\x8c\x3tmp\x94\x8c\tMARKER\x94\x87\x94R\x94\x85\x94R\x94.)")


def test_settings_round_trip(tmp_path):
    chosen = AppSettings(detector="yolo", confidence=0.35, device="cuda", same_flank_only=False, threads=3, recent_projects=["/p/a"])
    save_settings(tmp_path / "settings.json", chosen)
    assert load_settings(tmp_path / "settings.json") == LoadedSettings(chosen, [])


@pytest.mark.parametrize("text, problem", [
    ("[1, 2]", "does not hold settings"),
    ("{not json", "could not be read"),
    ('{"threads": "three", "confidence": 0.5}', "'threads'"),
    ('{"device": "tpu", "confidence": 0.5}', "'device'"),
    ('{"recent_projects": [1, 2], "confidence": 0.5}', "'recent_projects'"),
    ('{"same_flank_only": "yes", "confidence": 0.5}', "'same_flank_only'"),
])
def test_unusable_values_fall_back_to_defaults_with_a_note(tmp_path, text, problem):
    path = tmp_path / "settings.json"
    path.write_text(text)
    loaded = load_settings(path)
    assert len(loaded.problems) == 1 and problem in loaded.problems[0] and str(path) in loaded.problems[0]
    usable = json.loads(text) if text.startswith('{"') else {}
    assert loaded.settings.confidence == usable.get("confidence", AppSettings().confidence)
    assert loaded.settings.threads == AppSettings().threads and loaded.settings.device == "cpu"


def test_a_pickled_qsettings_value_runs_nothing_and_the_unreadable_file_is_kept(qtbot, tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "settings.json"
    original = f"[General]\nmodel={PICKLED_VALUE.replace('MARKER', str(marker)[1:])}\n"
    path.write_text(original)
    create_application()
    window = MainWindow(path)
    qtbot.addWidget(window)
    assert window.settings == AppSettings() and not marker.exists()
    assert "could not be read" in window.statusBar().currentMessage()
    window.close()  # saves the settings: the unreadable file is kept beside the new one
    assert (tmp_path / "settings.json.unreadable").read_text() == original
    assert load_settings(path) == LoadedSettings(AppSettings(), [])
    assert not marker.exists()
