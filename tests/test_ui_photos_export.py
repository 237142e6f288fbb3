"""A season without a terminal: a new project, the demo survey imported in the window, an animal the detector
missed drawn with the mouse (it is identified and shown in review), reviewed with the keys (through F1 → Esc), a
detection set aside as not usable, and secr and Camtrap DP exports from File ▸ Export… that equal `pelage export`'s,
byte for byte, with the set-aside detection listed as left out with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox
from sqlalchemy import select

from pelage.cli.main import cli
from pelage.demo import STATION_TABLE
from pelage.review.graph import active_decisions
from pelage.store import open_project
from pelage.store.schema import DecisionKind, Detection, Embedding
from pelage.ui.app import create_application
from pelage.ui.images import ViewMode
from pelage.ui.main_window import MainWindow
from pelage.ui.stations_dialog import StationsDialog
from tests.ui_helpers import activate, key_on_window, settle

REASON = "only a tail"


@pytest.fixture
def window(qtbot, tmp_path, user_home):
    create_application()
    window = MainWindow(tmp_path / "settings.json")
    qtbot.addWidget(window)
    window.resize(1400, 860)
    activate(window, qtbot)
    yield window
    window.close()


def detection(root: Path, animal_id: int) -> Detection:
    with open_project(root) as project, project.sessions() as session:
        row = session.get(Detection, animal_id)
        session.expunge(row)
        return row


def decisions(root: Path) -> dict[tuple[int, int], DecisionKind]:
    with open_project(root) as project, project.sessions() as session:
        return {(d.a_id, d.b_id): d.kind for d in active_decisions(session)}


def embedded(root: Path, animal_id: int) -> bool:
    with open_project(root) as project, project.sessions() as session:
        return session.scalar(select(Embedding.id).where(Embedding.detection_id == animal_id).limit(1)) is not None


def import_demo(window, qtbot, survey: Path) -> None:
    dialog = window.import_dialog(survey)
    with qtbot.waitSignal(dialog.imported, timeout=300000):
        dialog.start_button.click()
    dialog.close_button.click()
    qtbot.waitUntil(lambda: window.task is None and window.session is not None and window.review.proposal is not None, timeout=300000)
    settle(window, qtbot)


def drag_box(pane, qtbot) -> None:
    """Press, move and release the left button across the middle of the photo, as a user draws a box."""
    centre = pane.viewport().rect().center()
    start, end = centre - QPoint(120, 80), centre + QPoint(120, 80)
    QTest.mousePress(pane.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(pane.viewport(), centre)
    QTest.mouseMove(pane.viewport(), end)
    QTest.mouseRelease(pane.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def answer_next_input_dialog(text: str) -> None:
    """Type ``text`` into the reason dialog the next click opens, and press OK (as the user would)."""
    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QInputDialog):
            QTimer.singleShot(50, answer)
            return
        dialog.setTextValue(text)
        dialog.accept()

    QTimer.singleShot(50, answer)


def answer_next_question(button: QMessageBox.StandardButton) -> None:
    def answer() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(50, answer)
            return
        box.button(button).click()

    QTimer.singleShot(50, answer)


def export_from_dialog(dialog, qtbot, format_name: str, out: Path) -> dict:
    dialog.set_format(format_name)
    dialog.folder.setText(str(out))
    qtbot.waitUntil(lambda: dialog.preview is not None and not dialog._preview_timer.isActive() and dialog.queue.pending == 0,
                    timeout=30000)
    with qtbot.waitSignal(dialog.exported, timeout=60000) as done:
        dialog.export_button.click()
    return done.args[0]


def cli_export(root: Path, format_name: str, out: Path) -> None:
    result = CliRunner().invoke(cli, ["export", str(root), "--format", format_name, "--out", str(out), "--utc-offset", "+02:00",
                                      "--occasion-days", "3", "--independence-minutes", "60", "--flanks", "linked"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output


def same_files(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    return all((a / name).read_bytes() == (b / name).read_bytes() for name in names)


def test_a_season_from_import_to_export_without_a_terminal(window, qtbot, tmp_path, demo_survey):
    root = tmp_path / "leopards-2024"
    assert window.open_project_folder(root, create=True)
    root = window.project.root
    import_demo(window, qtbot, demo_survey)
    stations = StationsDialog(window.project, window)
    assert stations.import_csv(_station_table(tmp_path)) and stations.save()

    # Photos to check: the demo's empty frames are listed, and its truncated photo with its reason.
    window.tabs.setCurrentWidget(window.photos)
    photos = window.photos
    qtbot.waitUntil(lambda: photos.without_animal.count() > 0 and photos.failures.count() == 1, timeout=30000)
    settle(window, qtbot)
    assert "could not be read" in photos.sections.itemText(2) and photos.failures.item(0).text().count("\n") == 1
    photos.without_animal.setCurrentRow(0)
    chosen = photos.photo
    qtbot.waitUntil(lambda: photos.pane.has_image, timeout=30000)
    assert not photos.add_button.isEnabled()  # nothing drawn yet
    drag_box(photos.pane, qtbot)
    x0, y0, x1, y1 = photos.pane.box
    assert 50 < x1 - x0 < chosen.width and 30 < y1 - y0 < chosen.height and photos.add_button.isEnabled()

    # Adding it cuts it out, identifies it and shows it as the anchor in review.
    with qtbot.waitSignal(window.task_finished, timeout=120000, check_params_cb=lambda name, _r: name == "add-box") as added:
        photos.add_button.click()
    drawn = added.args[1]
    stored = detection(root, drawn)
    assert stored.image_id == chosen.id and stored.detector == "user" and stored.box == pytest.approx((x0, y0, x1, y1), abs=1)
    qtbot.waitUntil(lambda: window.review.proposal is not None and window.review.proposal.anchor.id == drawn, timeout=180000)
    assert window.tabs.currentWidget() is window.review and embedded(root, drawn)
    qtbot.waitUntil(lambda: chosen.id not in {p.id for p in photos.data.without_animal}, timeout=30000)

    # Review with the keys, through the shortcut overlay and back (after F1 → Esc the keys used to stop working).
    settle(window, qtbot)
    slots = [c.id for c in window.review.proposal.candidates]
    assert slots, "the drawn animal has candidates among the demo's animals"
    # The import and stations dialogs were windows of their own; offscreen, no window manager hands activation back.
    activate(window, qtbot)
    key_on_window(window, qtbot, Qt.Key.Key_F1)
    assert window.help_overlay.isVisible()
    for key in (Qt.Key.Key_Escape, Qt.Key.Key_M):
        key_on_window(window, qtbot, key)
    assert not window.help_overlay.isVisible() and window.review.mode == ViewMode.MASKED
    key_on_window(window, qtbot, Qt.Key.Key_X)  # slot 1: a different animal; it stays in its slot, greyed
    assert decisions(root) == {(drawn, slots[0]): DecisionKind.NONMATCH}
    assert window.review.candidate_ids[:len(slots)] == slots and window.review.candidate_cards[0].greyed
    key_on_window(window, qtbot, Qt.Key.Key_P)
    assert window.review.mode == ViewMode.PHOTO

    # A detector's animal is set aside from the review screen, with a reason typed in the dialog.
    settle(window, qtbot)
    target = next(c.id for c in window.review.proposal.candidates)
    window.review.load(target)
    qtbot.waitUntil(lambda: window.review.proposal.anchor.id == target, timeout=30000)
    answer_next_input_dialog(REASON)
    window.review.unusable_button.click()
    qtbot.waitUntil(lambda: detection(root, target).unusable_reason == REASON, timeout=30000)
    settle(window, qtbot)
    assert window.review.proposal is None or window.review.proposal.anchor.id != target
    assert target not in {c.id for c in (window.review.proposal.candidates if window.review.proposal else ())}
    qtbot.waitUntil(lambda: [r.id for r in photos.data.unusable] == [target], timeout=30000)

    # The individuals gallery sets a photo aside the same way; Photos to check ▸ Restore brings it back.
    window.tabs.setCurrentWidget(window.individuals)
    window.individuals.singletons.setChecked(True)
    qtbot.waitUntil(lambda: window.individuals.model.rowCount() > 0, timeout=30000)
    settle(window, qtbot)
    window.individuals.table.selectRow(0)
    qtbot.waitUntil(lambda: window.individuals.gallery.count() > 0, timeout=30000)
    window.individuals.gallery.item(0).setSelected(True)
    second = window.individuals.gallery.item(0).data(Qt.ItemDataRole.UserRole)
    answer_next_input_dialog("wrong animal (another species)")
    window.individuals.unusable_button.click()
    qtbot.waitUntil(lambda: detection(root, second).unusable_reason == "wrong animal (another species)", timeout=30000)
    qtbot.waitUntil(lambda: second in {r.id for r in photos.data.unusable}, timeout=30000)
    window.tabs.setCurrentWidget(window.photos)
    settle(window, qtbot)
    photos.sections.setCurrentIndex(1)
    photos.set_aside.setCurrentRow([r.id for r in photos.data.unusable].index(second))
    assert photos.restore_button.isVisible()
    photos.restore_button.click()
    qtbot.waitUntil(lambda: detection(root, second).unusable_reason is None and window.session is not None
                    and window.queue.pending == 0 and [r.id for r in photos.data.unusable] == [target], timeout=60000)
    settle(window, qtbot)

    # File ▸ Export…: secr and Camtrap DP, with a preview, equal to the command line's files.
    dialog = window.export_dialog()
    dialog.occasion_days.setValue(3)
    dialog.independence.setValue(60)
    dialog.utc_offset.setText("+02:00")
    manifests = {}
    for format_name in ("secr", "camtrapdp"):
        manifests[format_name] = export_from_dialog(dialog, qtbot, format_name, tmp_path / f"window-{format_name}")
        assert any(dialog.left_out.item(i).text() == f"not usable: {REASON} — 1: #{target}" for i in range(dialog.left_out.count()))
        cli_export(root, format_name, tmp_path / f"cli-{format_name}")
        assert same_files(tmp_path / f"window-{format_name}", tmp_path / f"cli-{format_name}")
        assert manifests[format_name]["left_out"][f"not usable: {REASON}"] == [target]
        # Every photo without an animal, and the unreadable one, is listed with its reason.
        left_out_photos = manifests[format_name]["photos_left_out"]
        unreadable = [name for reason, names in left_out_photos.items() if reason.startswith("could not be read") for name in names]
        assert unreadable == [photos.data.failures[0][0]]
        assert sum(len(names) for names in left_out_photos.values()) == len(photos.data.without_animal) + 1
    assert dialog.matrix.rowCount() >= 1 and dialog.matrix.columnCount() == 8  # 22 days of 3

    # The CLI's rules for the folder: an earlier export is replaced only when the user agrees; a project is refused.
    dialog.set_format("secr")
    dialog.folder.setText(str(tmp_path / "window-secr"))
    answer_next_question(QMessageBox.StandardButton.No)
    assert not dialog.start_export()
    dialog.folder.setText(str(root))
    assert not dialog.start_export() and "is the project folder" in dialog.result_label.text()

    # A box redrawn from review: same id, new box and crop, identified again, shown in review.
    old_crop = detection(root, drawn).crop_path
    with qtbot.waitSignal(window.task_finished, timeout=120000, check_params_cb=lambda name, _r: name == "redraw"):
        assert window.redraw_box(drawn, (x0 + 10, y0 + 10, x1 - 10, y1 - 10))
    redrawn = detection(root, drawn)
    assert redrawn.box == pytest.approx((x0 + 10, y0 + 10, x1 - 10, y1 - 10), abs=1) and redrawn.crop_path != old_crop
    qtbot.waitUntil(lambda: window.task is None and embedded(root, drawn) and window.review.proposal is not None
                    and window.review.proposal.anchor.id == drawn, timeout=120000)
    # A second animal drawn on the same photo gets cached files of its own (none overwritten).
    with qtbot.waitSignal(window.task_finished, timeout=120000, check_params_cb=lambda name, _r: name == "add-box") as again:
        assert window.add_box(chosen.id, (x0, y0, x0 + 80, y0 + 80))
    assert detection(root, again.args[1]).crop_path not in (redrawn.crop_path, old_crop)
    assert (window.project.artefacts / redrawn.crop_path).is_file()
    qtbot.waitUntil(lambda: window.task is None, timeout=120000)
    dialog.close()


def _station_table(tmp_path: Path) -> Path:
    path = tmp_path / "stations.csv"
    path.write_text(STATION_TABLE)
    return path
