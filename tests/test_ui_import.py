"""Creating a project, importing a survey on a worker (progress, cancel, failures listed), identifying its
animals and reviewing them: the first hour of a biologist's season, offscreen, on real leopard photos."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QTimer
from sqlalchemy import func, select

from pelage.store import open_project
from pelage.store.schema import Embedding, Image
from pelage.ui.app import create_application
from pelage.ui.import_dialog import ImportDialog
from pelage.ui.main_window import MainWindow
from pelage.ui.settings import AppSettings, load_settings
from pelage.ui.settings_dialog import SettingsDialog
from tests.conftest import shared_dataset
from tests.ui_helpers import activate, leopard_survey, settle


@pytest.fixture
def window(qtbot, tmp_path, user_home):
    create_application()
    window = MainWindow(tmp_path / "settings.json")
    qtbot.addWidget(window)
    activate(window, qtbot)
    yield window
    window.close()


def image_counts(root) -> dict[str, int]:
    with open_project(root) as project, project.sessions() as session:
        return {status.value: count for status, count in session.execute(select(Image.status, func.count()).group_by(Image.status))}


class FreezeWatch:
    """The longest the GUI thread went without running a 20 ms timer: a frozen window would show the whole import."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.longest = 0.0
        self.timer = QTimer()
        self.timer.timeout.connect(self._tick)
        self.timer.start(20)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now


def test_new_project_import_cancel_resume_identify_and_review(window, tmp_path, qtbot):
    survey = leopard_survey(shared_dataset("leopards"), tmp_path / "survey", per_flank=2)
    broken = survey / "BRL17_Left" / "0_0_BR-299A-2019-01-01_00-00-00.jpg"
    whole = next((survey / "BRL17_Left").iterdir()).read_bytes()
    broken.write_bytes(whole[: len(whole) // 3])  # a card pulled out mid-write
    (survey / "notes.txt").write_text("field notes\n")
    root = tmp_path / "project"
    assert window.open_project_folder(root, create=True)
    assert (root / "pelage-project.json").is_file() and window.project.root == root.resolve()
    settle(window, qtbot)
    assert "no animals to review yet" in window.review.message.text()  # nothing to review yet, and the window says why

    dialog = window.import_dialog(survey)
    assert isinstance(dialog, ImportDialog)
    dialog.pattern.setText(r"(?P<station>B[GR]-\d+)(?P<camera>[AB])-")
    watch = FreezeWatch()
    with qtbot.waitSignal(dialog.imported, timeout=120000) as cancelled:
        dialog.start_button.click()
        qtbot.waitUntil(lambda: dialog.progress.value() >= 1, timeout=60000)
        dialog.cancel_button.click()  # stops after the image in flight; what is done stays done
    outcome = cancelled.args[0]
    assert outcome.cancelled and 1 <= outcome.imported < 6
    assert image_counts(root) == {"done": outcome.imported}
    assert "cancelled" in dialog.summary.text()
    qtbot.waitUntil(lambda: window.task is None, timeout=120000)  # identification of the first photos

    with qtbot.waitSignal(dialog.imported, timeout=180000) as finished:
        dialog.start_button.click()  # import again: it carries on
    outcome = finished.args[0]
    assert not outcome.cancelled
    assert outcome.skipped == cancelled.args[0].imported and outcome.imported == 6 - outcome.skipped
    assert [path for path, _ in outcome.failures] == ["BRL17_Left/0_0_BR-299A-2019-01-01_00-00-00.jpg"]
    assert dialog.failures.count() == 1 and "BR-299A" in dialog.failures.item(0).text()
    assert image_counts(root) == {"done": 6, "failed": 1}
    assert watch.longest < 5.0, f"the window froze for {watch.longest:.1f} s during the import"

    # Identification starts on its own after an import, in the status bar, and the review follows.
    qtbot.waitUntil(lambda: window.task is None and window.review.proposal is not None, timeout=180000)
    settle(window, qtbot)
    with open_project(root) as project, project.sessions() as session:
        embedded = session.scalar(select(func.count()).select_from(Embedding))
    assert embedded >= 5
    assert window.review.proposal.candidates
    dialog.close_button.click()
    assert not dialog.isVisible()


def test_settings_are_kept_between_runs(qtbot, tmp_path):
    create_application()
    ini = tmp_path / "settings.json"
    first = MainWindow(ini)
    qtbot.addWidget(first)
    assert first.settings == AppSettings()
    dialog = SettingsDialog(first.settings, first)
    dialog.detector.setCurrentText("yolo")
    dialog.weights.setText("/models/md_v5a.0.0.pt")
    dialog.confidence.setValue(0.35)
    dialog.device.setCurrentIndex(dialog.device.findData("cpu"))
    dialog.same_flank.setChecked(False)
    dialog.threads.setValue(3)
    first.apply_settings(dialog.values())
    first.close()

    second = MainWindow(ini)
    qtbot.addWidget(second)
    expected = AppSettings(detector="yolo", detector_weights="/models/md_v5a.0.0.pt", confidence=0.35, device="cpu",
                           same_flank_only=False, threads=3)
    assert second.settings == expected
    assert load_settings(ini).settings == expected
    second.close()


def test_a_folder_that_is_not_a_project_is_refused_and_said_why(window, tmp_path, qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: shown.append(args[2]))  # no modal dialog in a test
    (tmp_path / "photos").mkdir()
    assert not window.open_project_folder(tmp_path / "photos")
    assert window.project is None and "is not a Pelage project" in shown[0]
    assert window.import_dialog(tmp_path) is None  # nothing to import into
