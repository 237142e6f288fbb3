"""The window opens the same untrusted project folders as the command line (issue #12): a project it cannot open
is the same one-sentence message in a dialog, the window carries on, and the project is not remembered."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import tests.ui_helpers  # noqa: F401  (offscreen Qt before any QApplication exists)
from pelage.ui.app import create_application
from pelage.ui.main_window import MainWindow
from tests.bad_inputs import store as damage
from tests.test_export_formats import build_export_project


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return build_export_project(tmp_path_factory.mktemp("template") / "leopards")


@pytest.mark.parametrize("spoil, fragment", [
    (damage.cut_in_half, "is damaged (it is cut short"),
    (damage.drop_schema_version, "no schema version"),
    (damage.missing_database, "move the folder away"),
    (damage.settings({"format": 1, "database": 5}), '"database" must be null'),
    (damage.unreachable_server, "is the server running?"),
])
def test_a_project_that_cannot_be_opened_is_a_dialog(qtbot, tmp_path, monkeypatch, template, spoil, fragment):
    from PySide6.QtWidgets import QMessageBox

    project = Path(shutil.copytree(template, tmp_path / "leopards"))
    spoil(project)
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: shown.append(args[2]))  # no modal dialog in a test
    create_application()
    window = MainWindow(tmp_path / "settings.json")
    qtbot.addWidget(window)

    assert window.open_project_folder(project) is False
    assert len(shown) == 1 and fragment in shown[0] and "\n" not in shown[0]
    assert window.project is None and str(project) not in window.settings.recent_projects
