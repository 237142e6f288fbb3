"""The window around the views (issue #13, parts 6 and 7): the first run's welcome page, what needs a project
is disabled (and looks it), New project takes a folder, the last project reopens, Quit asks while work runs and
then stops it quickly without leaving worker processes behind, and Help ▸ User guide opens offline."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

import tests.ui_helpers  # noqa: F401  (offscreen Qt before any QApplication exists)
from pelage.store import open_project
from pelage.ui.app import create_application, create_window
from pelage.ui.help import UserGuideDialog, guide_path
from pelage.ui.import_dialog import ImportDialog
from pelage.ui.main_window import MainWindow
from pelage.ui.resources import RESOURCES
from pelage.ui.welcome import CHOICES
from tests.ui_helpers import activate, copy_project, leopard_template, settle


@pytest.fixture
def window(qtbot, tmp_path):
    create_application()
    window = MainWindow(tmp_path / "settings.json")
    qtbot.addWidget(window)
    yield window
    window.close()


def refuse_file_names(monkeypatch) -> None:
    """New project must never ask for a file name."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("New project asked for a file name, not a folder")

    monkeypatch.setattr(QFileDialog, "getSaveFileName", refuse)


def needs_a_project(window: MainWindow) -> list:
    return [window.import_action, window.identify_action, window.export_action, window.refresh_action, window.stations_action,
            *window.review.actions_by_name.values()]


def test_the_first_run_offers_three_ways_to_start_and_disables_what_needs_a_project(window, tmp_path):
    assert window.pages.currentWidget() is window.welcome and window.project is None
    texts = {name: window.welcome.buttons[name].text() for _, name, _ in CHOICES}
    assert texts == {"newProjectButton": "New project…", "openProjectButton": "Open project…", "importPhotosButton": "Import photos…"}
    assert not any(action.isEnabled() for action in needs_a_project(window))
    assert not window.tabs.isEnabled()
    review_entries = [action for action in window.review_menu.actions() if not action.isSeparator()]
    assert review_entries and not any(action.isEnabled() for action in review_entries)
    window.review.actions_by_name["match_selected"].trigger()  # a disabled action does nothing, and nothing breaks
    assert window.session is None

    assert window.open_project_folder(tmp_path / "season", create=True)
    assert window.pages.currentWidget() is window.tabs and window.tabs.isEnabled()
    assert all(action.isEnabled() for action in needs_a_project(window))
    assert [button.text().split("  —  ")[1] for button in window.welcome.recent_buttons] == [str((tmp_path / "season").resolve())]

    window.close_project()
    assert window.pages.currentWidget() is window.welcome
    assert not any(action.isEnabled() for action in needs_a_project(window))


def test_disabled_menu_items_look_disabled_in_the_app_style(qtbot):
    """Rendered with the app's stylesheet, a disabled entry's text is clearly dimmer than an enabled one's."""
    import numpy as np

    create_application()
    menu = QMenu()
    qtbot.addWidget(menu)
    enabled, disabled = menu.addAction("Export capture histories"), menu.addAction("Export capture histories")
    disabled.setEnabled(False)
    menu.popup(menu.pos())
    qtbot.waitExposed(menu)
    image = menu.grab().toImage()

    def brightest_text(action) -> float:
        rect = menu.actionGeometry(action)
        crop = image.copy(rect).convertToFormat(image.Format.Format_Grayscale8)
        pixels = np.frombuffer(crop.constBits(), np.uint8).reshape(crop.height(), crop.bytesPerLine())[:, : crop.width()]
        return float(np.percentile(pixels, 99.5))

    assert brightest_text(enabled) - brightest_text(disabled) > 60, (brightest_text(enabled), brightest_text(disabled))
    menu.close()


def test_new_project_chooses_a_folder_and_an_existing_project_folder_is_opened(window, tmp_path, monkeypatch):
    refuse_file_names(monkeypatch)
    folder = tmp_path / "leopards-2024"
    folder.mkdir()  # made with the folder dialog's New Folder button
    chosen: list[str] = []

    def choose(_parent, caption, _start):
        chosen.append(caption)
        return str(folder)

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", choose)
    window.welcome.buttons["newProjectButton"].click()
    assert chosen == ["Choose an empty folder for the new project"]
    assert window.project is not None and window.project.root == folder.resolve()
    assert (folder / "pelage-project.json").is_file()

    window.close_project()
    assert window.new_project_dialog()  # the folder chosen is a project already: it is opened, not refused
    assert window.project.root == folder.resolve()

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_args: "")
    window.close_project()
    assert not window.new_project_dialog() and window.project is None  # cancelled: nothing happens


def test_import_photos_on_the_welcome_page_makes_the_project_then_opens_the_import_dialog(window, tmp_path, monkeypatch):
    refuse_file_names(monkeypatch)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_args: str(tmp_path / "new-season"))
    window.welcome.buttons["importPhotosButton"].click()
    dialogs = window.findChildren(ImportDialog)
    assert window.project is not None and window.project.root == (tmp_path / "new-season").resolve()
    assert len(dialogs) == 1 and dialogs[0].isVisible()
    dialogs[0].close()


def test_the_last_project_is_reopened_at_start_and_a_missing_one_is_one_status_line(qtbot, tmp_path):
    create_application()
    settings = tmp_path / "settings.json"
    first = create_window(settings_path=settings)
    qtbot.addWidget(first)
    assert first.project is None and first.pages.currentWidget() is first.welcome  # nothing to reopen on a first run
    assert first.open_project_folder(tmp_path / "season", create=True)
    first.close()

    second = create_window(settings_path=settings)
    qtbot.addWidget(second)
    assert second.project is not None and second.project.root == (tmp_path / "season").resolve()
    assert second.pages.currentWidget() is second.tabs
    second.close()

    (tmp_path / "season").rename(tmp_path / "season-moved")
    third = create_window(settings_path=settings)
    qtbot.addWidget(third)
    assert third.project is None and third.pages.currentWidget() is third.welcome
    line = third.statusBar().currentMessage()
    assert "is not there any more" in line and str((tmp_path / "season").resolve()) in line and "\n" not in line
    assert third.welcome.recent_buttons  # still offered: the drive may only be unplugged
    third.close()


def test_help_user_guide_opens_offline_with_its_pictures(window):
    guide = window.show_user_guide()
    assert isinstance(guide, UserGuideDialog) and guide.isVisible() and guide.found
    document = guide.browser.document()
    text = document.toPlainText()
    for step in ("A new project", "Import the photos", "Photos to check", "Review with the keyboard", "Individuals", "Stations",
                 "Export for secr", "read.capthist"):
        assert step in text, step
    html = guide_path().read_text(encoding="utf-8")
    pictures = [part.split('"')[0] for part in html.split('<img src="')[1:]]
    assert len(pictures) >= 8
    for picture in pictures:  # every picture is a screenshot `make screenshots` renders, present and loadable offline
        path = (guide_path().parent / picture).resolve()
        assert path.parent == (RESOURCES / "screenshots").resolve() and path.is_file(), picture
        assert document.resource(document.ResourceType.ImageResource, guide.browser.source().resolved(picture)) is not None
    assert window.show_user_guide() is guide  # one guide window, shown again
    guide.close()


def test_the_packaged_app_carries_the_guide_and_its_pictures():
    spec = (Path(__file__).resolve().parents[1] / "packaging" / "pelage.spec").read_text(encoding="utf-8")
    assert '"resources" / "guide"), "resources/guide"' in spec and '"resources" / "screenshots"), "resources/screenshots"' in spec


# --- closing while work runs ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def template(tmp_path_factory, installed_u2netp):
    return leopard_template(tmp_path_factory, installed_u2netp)


def zombie_children() -> list[int]:
    """This process's children that have exited but were never reaped (shown as <defunct> by ps)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, parent = stat.rsplit(")", 1)[1].split()[:2]
        if int(parent) == os.getpid() and state == "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find defunct child processes")
def test_quit_asks_while_a_worker_process_runs_then_stops_it_within_a_second_and_leaves_no_zombie(qtbot, tmp_path, template,
                                                                                                     monkeypatch):
    from pelage.training.registry import bundled_entry

    root = copy_project(template, tmp_path / "project")
    create_application()
    window = MainWindow(tmp_path / "settings.json")
    qtbot.addWidget(window)
    activate(window, qtbot)
    assert window.open_project_folder(root)
    qtbot.waitUntil(lambda: window.session is not None, timeout=60000)
    settle(window, qtbot)
    window.tabs.setCurrentWidget(window.training_tab)
    panel = window.training_panel
    panel.finished_model = bundled_entry().id
    panel.adopt()  # re-describing every animal with a model runs in its own process
    process = panel.handle.process
    assert process.is_alive() and window.running_work() == ["Training a model"]

    asked: list[str] = []

    def answer(reply):
        def question(_parent, title, text, *_args):
            asked.append(f"{title} {text}")
            return reply
        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    assert not window.close()  # the user keeps working: nothing is stopped
    assert window.isVisible() and process.is_alive() and "training a model" in asked[0]

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    started = time.perf_counter()
    assert window.close()
    took = time.perf_counter() - started
    assert took < 1.0, f"closing took {took:.2f} s after the user agreed to stop the work"
    assert not process.is_alive() and process.exitcode is not None
    assert zombie_children() == []
    with open_project(root) as project:  # the project is closed cleanly and opens again
        assert project.root == root.resolve()


def test_quit_with_identification_running_cancels_it_and_closes_within_a_second_of_its_stop(qtbot, tmp_path, template, monkeypatch):
    from sqlalchemy import delete

    from pelage.store.schema import Embedding

    root = copy_project(template, tmp_path / "project")
    with open_project(root) as project, project.sessions() as session:
        session.execute(delete(Embedding))  # every animal to identify again
        session.commit()
    create_application()
    window = MainWindow(tmp_path / "settings.json")
    qtbot.addWidget(window)
    activate(window, qtbot)
    assert window.open_project_folder(root)
    qtbot.waitUntil(lambda: window.task is not None or window.start_identification(), timeout=60000)
    task = window.task
    stopped: list[float] = []
    # Direct: noted on the task's own thread as it ends, not when the (busy) GUI thread gets round to it.
    task.finished.connect(lambda: stopped.append(time.perf_counter()), Qt.ConnectionType.DirectConnection)
    assert window.running_work() == ["Identifying animals"]
    monkeypatch.setattr(QMessageBox, "question", lambda *_args: QMessageBox.StandardButton.Yes)
    assert window.close()
    closed = time.perf_counter()
    assert task.cancelled and task.isFinished()
    assert stopped and closed - stopped[0] < 1.0, f"the window took {closed - stopped[0]:.2f} s to close after identification stopped"
    assert window.task is None and window.project is None


def test_an_import_running_is_asked_about_before_another_project_opens_and_stopped_on_quit(qtbot, tmp_path, user_home,
                                                                                            monkeypatch):
    from sqlalchemy import func, select

    from pelage.store.schema import Image
    from tests.conftest import shared_dataset
    from tests.ui_helpers import leopard_survey

    survey = leopard_survey(shared_dataset("leopards"), tmp_path / "survey", per_flank=2)
    create_application()
    window = MainWindow(tmp_path / "settings.json")
    qtbot.addWidget(window)
    activate(window, qtbot)
    root = tmp_path / "project"
    assert window.open_project_folder(root, create=True)
    dialog = window.import_dialog(survey)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: dialog.progress.value() >= 1, timeout=60000)
    assert window.running_work() == ["Importing photos"]

    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda _parent, title, *_args: asked.append(title) or QMessageBox.StandardButton.No)
    assert not window.open_project_folder(tmp_path / "other", create=True)  # the user keeps the import going
    assert asked == ["Open another project?"] and window.project.root == root.resolve() and dialog.running
    assert not (tmp_path / "other").exists()  # asked before anything was written

    stopped: list[float] = []
    dialog.runner.finished.connect(lambda: stopped.append(time.perf_counter()), Qt.ConnectionType.DirectConnection)
    monkeypatch.setattr(QMessageBox, "question", lambda *_args: QMessageBox.StandardButton.Yes)
    assert window.close()
    closed = time.perf_counter()
    assert stopped and closed - stopped[0] < 1.0, f"the window took {closed - stopped[0]:.2f} s to close after the import stopped"
    assert window.task is None  # no identification was started behind the closing window
    with open_project(root) as project, project.sessions() as session:
        done = session.scalar(select(func.count()).select_from(Image))
    assert 1 <= done < 6  # what was imported is kept; the rest waits for the next import


def test_the_store_answers_the_window_s_own_questions(template, tmp_path):
    """What the window used to ask with SQLAlchemy itself (issue #13's design note) now comes from store.queries."""
    from sqlalchemy import delete

    from pelage.review.model import resolve_review_model
    from pelage.store import queries
    from pelage.store.schema import Embedding
    from pelage.ui.images import animal_files

    root = copy_project(template, tmp_path / "project")
    with open_project(root) as project:
        with project.sessions() as session:
            ids = [animal.id for animal in queries.list_animals(session)]
            records = queries.animal_files(session, [*ids, 10_000_000])
            model_id = resolve_review_model(project).model_id
            assert queries.count_unembedded(session, model_id) == 0
            assert queries.count_unembedded(session, None) == len(ids)  # no model: nothing is embedded with it
            session.execute(delete(Embedding).where(Embedding.detection_id == ids[0]))
            session.commit()
            assert queries.count_unembedded(session, model_id) == 1
        assert sorted(records) == ids  # an id the store does not hold is simply absent
        files = animal_files(project, ids)
    for animal_id in ids:
        assert files[animal_id].crop is not None and files[animal_id].crop.is_file() and files[animal_id].original.is_file()
        assert files[animal_id].original == Path(records[animal_id].survey_root) / records[animal_id].image
        assert files[animal_id].flank is not None  # the template set each animal's flank from its folder


def test_a_project_identified_by_an_earlier_bundled_model_is_reviewed_and_told_to_identify_again(qtbot, tmp_path, template):
    """The bundled model's id changes with its weights or how it compares crops; a project identified before keeps its
    review, on its old vectors, and the status bar says that identifying again brings in the current model."""
    from sqlalchemy import func, select, update

    from pelage.reid.bundle import read_bundle, resolve_model_dir
    from pelage.reid.rerank import DEFAULT_CALIBRATION
    from pelage.review.model import resolve_review_model
    from pelage.store import transaction
    from pelage.store.schema import Embedding, RegisteredModel

    bundled = read_bundle(resolve_model_dir())
    earlier = bundled.extra["earlier_model_ids"][0]  # the same weights before they were compared with their mirror image
    root = copy_project(template, tmp_path / "project")
    with open_project(root) as project:
        with project.sessions() as session:
            animals = session.scalar(select(func.count()).select_from(Embedding))
            session.execute(update(Embedding).values(model_id="nyala-lite0-0123456789abcdef"))  # an id no folder has
            session.commit()
        assert resolve_review_model(project).calibration == DEFAULT_CALIBRATION
        with project.sessions() as session:
            session.execute(update(Embedding).values(model_id=earlier))
            session.commit()
        found = resolve_review_model(project)
        assert found.model_id == earlier and found.calibration == bundled.calibration  # scores as sound as the current ones
    # A project that chose the bundled model ("Use this model") has a registry row under the id it had then; once
    # identified again, review follows the folder's current model, as identification does.
    with open_project(copy_project(template, tmp_path / "chosen")) as project:
        with transaction(project.sessions) as session:
            session.execute(update(Embedding).values(model_id=earlier))
            session.add(RegisteredModel(id=earlier, name="nyala-lite0", path="nyala-lite0", active=True))
        assert resolve_review_model(project).model_id == earlier  # not identified again yet: the vectors it has
        with transaction(project.sessions) as session:
            for row in session.scalars(select(Embedding)).all():
                session.add(Embedding(detection_id=row.detection_id, model_id=bundled.model_id, dim=row.dim, vector=row.vector))
        assert resolve_review_model(project).model_id == bundled.model_id
    create_application()
    window = MainWindow(tmp_path / "settings.json")
    qtbot.addWidget(window)
    assert window.open_project_folder(root)
    qtbot.waitUntil(lambda: window.session is not None, timeout=60000)
    qtbot.waitUntil(lambda: window.review.proposal is not None, timeout=60000)  # review goes on with what the project holds
    qtbot.waitUntil(lambda: "not identified with the current model" in window.statusBar().currentMessage(), timeout=10000)
    assert window.statusBar().currentMessage().startswith(f"{animals} animals")
    assert window.task is None  # nothing started behind the reviewer's back: identifying again is their call
    window.close()
