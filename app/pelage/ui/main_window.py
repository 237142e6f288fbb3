"""The main window: open or create a project, import a season, identify its animals, review, individuals.

The window owns three things that outlive a tab: the project, the review worker (a
:class:`~pelage.ui.workers.JobQueue` that owns the :class:`~pelage.review.session.ReviewSession`) and at most
one long task (identification) shown in the status bar with its progress and a cancel button.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from pelage.store import Project, ProjectError, SchemaError, open_project
from pelage.store.project import is_project
from pelage.ui.conflicts_view import ConflictsView
from pelage.ui.import_dialog import ImportDialog
from pelage.ui.individuals_view import IndividualsView
from pelage.ui.overlays import FullResolutionDialog, HelpOverlay
from pelage.ui.photos_view import PhotosView
from pelage.ui.resources import icon_path
from pelage.ui.review_view import ReviewView
from pelage.ui.settings import AppSettings, default_settings_path, load_settings, save_settings
from pelage.ui.settings_dialog import SettingsDialog
from pelage.ui.tasks import ImportOutcome, add_box_task, embed_task, redraw_box_task
from pelage.ui.welcome import WelcomeView
from pelage.ui.workers import JobQueue, Progress, TaskRunner

if TYPE_CHECKING:
    from pelage.review.session import ReviewSession

APP_TITLE = "Pelage"
QUIT_PROCESS_GRACE_S = 0.5  # on Quit, a worker process's time to save its checkpoint before it is ended
TASK_LABELS = {"identify": "Identifying animals", "export": "Exporting", "add-box": "Adding the animal you drew",
               "redraw": "Drawing the box again"}


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def open_session(project: Project, settings: AppSettings) -> ReviewSession:
    """A review session for ``project`` (runs on the review worker: it reads every vector once)."""
    from pelage.review.session import ReviewSession

    return ReviewSession(project, model=settings.model or None, same_flank=settings.same_flank_only)


def identify_model_id(project: Project, settings: AppSettings) -> str | None:
    """The id of the model File ▸ Identify animals embeds with (the settings' choice, else the project's active model),
    read from its config without loading it; None when there is no readable one."""
    from pelage.reid.errors import ModelFolderError
    from pelage.reid.folders import read_model_config, resolve_model_dir
    from pelage.training.registry import RegistryError, active_model_dir

    try:
        directory = resolve_model_dir(settings.model) if settings.model else active_model_dir(project)
        return str(read_model_config(directory)["model_id"])
    except (ModelFolderError, RegistryError, KeyError, OSError, ValueError):
        return None


def count_unembedded(project: Project, settings: AppSettings) -> int:
    """Animals that the model identification uses has not embedded yet (every animal with a crop when there is none).

    Counted against that model, not the one the review reads: a project identified before Pelage's bundled model
    changed is reviewed on its old vectors, and this count is what tells its user that identifying again helps."""
    from pelage.store import queries

    model_id = identify_model_id(project, settings)
    with project.sessions() as session:
        return queries.count_unembedded(session, model_id)


class MainWindow(QMainWindow):
    session_ready = Signal(object)  # ReviewSession | None, after a project was (re)loaded
    task_finished = Signal(str, object)  # task name, result (None after a failure)

    def __init__(self, settings_path: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(APP_TITLE)
        icon = icon_path()
        if icon is not None:
            self.setWindowIcon(QIcon(str(icon)))
        self.resize(1440, 900)
        self.settings_path = settings_path or default_settings_path()
        loaded = load_settings(self.settings_path)
        self.settings = loaded.settings
        self.settings_problems = loaded.problems
        self.project: Project | None = None
        self.session: ReviewSession | None = None
        self.task: TaskRunner | None = None
        self.task_name = ""
        self.review_next: int | None = None  # an animal just drawn or redrawn: shown in review once identified
        self.queue = self._wire_queue(JobQueue(self))

        self.review = ReviewView(self.queue)
        self.individuals = IndividualsView(self.queue)
        self.conflicts = ConflictsView(self.queue)
        self.photos = PhotosView(self.queue)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.addTab(self.review, "Review")
        self.tabs.addTab(self.individuals, "Individuals")
        self.tabs.addTab(self.conflicts, "Conflicts")
        self.tabs.addTab(self.photos, "Photos to check")
        self.training_tab: QWidget | None = None
        self.training_panel: QWidget | None = None
        if _module_exists("pelage.ui.training_panel"):
            self.training_tab = QWidget()
            QVBoxLayout(self.training_tab)
            self.tabs.addTab(self.training_tab, "Training")
        self.tabs.currentChanged.connect(self._tab_changed)
        self.welcome = WelcomeView()
        self.welcome.new_requested.connect(self.new_project_dialog)
        self.welcome.open_requested.connect(self.open_project_dialog)
        self.welcome.import_requested.connect(self.import_photos)
        self.welcome.recent_requested.connect(lambda path: self.open_project_folder(Path(path)))
        self.pages = QStackedWidget()  # the welcome page without a project, the tabs with one
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(self.tabs)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.pages)
        self.setCentralWidget(central)
        self.help_overlay = HelpOverlay(central)
        self.full_resolution: FullResolutionDialog | None = None
        self.export_window: QWidget | None = None  # the newest File ▸ Export… dialog, listening to task_finished
        self.guide: QWidget | None = None  # Help ▸ User guide, kept to show again

        for view in (self.review, self.individuals, self.conflicts, self.photos):
            view.status_message.connect(self.show_status)
        self.photos.add_box_requested.connect(self.add_box)
        self.photos.animals_changed.connect(self.reload_session)
        for view in (self.review, self.individuals):
            view.redraw_requested.connect(self.redraw_dialog)
            view.animals_changed.connect(self.photos.refresh)
        self.review.decisions_changed.connect(self.conflicts.refresh)
        self.review.help_requested.connect(self.help_overlay.toggle)
        self.review.full_resolution_requested.connect(self.show_full_resolution)
        self.individuals.decisions_changed.connect(self.conflicts.refresh)
        self.conflicts.decisions_changed.connect(self.individuals.refresh)
        # The session's own events (whichever view made the change): a view on screen follows it; a hidden one
        # refreshes when its tab is chosen.
        self.review.events.individuals_changed.connect(lambda: self.individuals.refresh() if self.individuals.isVisible() else None)
        self.review.events.animals_changed.connect(lambda: self.photos.refresh() if self.photos.isVisible() else None)
        self.conflicts.count_changed.connect(self._conflict_count)

        self._build_status_bar()
        self._build_menus()
        self._update_title()
        if self.settings_problems:  # told once, in plain words; the file is set aside before it is next written
            more = len(self.settings_problems) - 1
            self.show_status(self.settings_problems[0] + (f" (and {more} more)" if more else ""))

    # -- chrome ----------------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.busy_label = QLabel("")
        self.busy_label.setObjectName("busyLabel")
        self.task_label = QLabel("")
        self.task_progress = QProgressBar()
        self.task_progress.setMaximumWidth(240)
        self.task_cancel = QPushButton("Cancel")
        self.task_cancel.clicked.connect(self.cancel_task)
        for widget in (self.busy_label, self.task_label, self.task_progress, self.task_cancel):
            bar.addPermanentWidget(widget)
        for widget in (self.task_label, self.task_progress, self.task_cancel):
            widget.hide()

    def _action(self, menu, text: str, slot, shortcut: str | QKeySequence.StandardKey | None = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        self._action(file_menu, "&New project…", self.new_project_dialog, QKeySequence.StandardKey.New, "Create a project folder")
        self._action(file_menu, "&Open project…", self.open_project_dialog, QKeySequence.StandardKey.Open, "Open a project folder")
        self.recent_menu = file_menu.addMenu("Open &recent")
        self._fill_recent()
        file_menu.addSeparator()
        self.import_action = self._action(file_menu, "&Import survey…", self.import_dialog, "Ctrl+I",
                                          "Import a season's folder of camera-trap photos")
        self.identify_action = self._action(file_menu, "I&dentify animals", self.start_identification, "Ctrl+E",
                                            "Embed the animals not yet identified, so they can be reviewed")
        self.export_action = self._action(file_menu, "E&xport…", self.export_dialog, "Ctrl+Shift+E",
                                          "Capture histories for secr, camtrapR, MARK, or a Camtrap DP package")
        file_menu.addSeparator()
        self._action(file_menu, "&Settings…", self.settings_dialog, QKeySequence.StandardKey.Preferences, "Detector, thresholds, device")
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        self.review_menu = review_menu = menus.addMenu("&Review")
        for name in ("match_selected", "nonmatch", "nonmatch_all", "notcomparable", "skip", "next_anchor", None, "undo", "redo", None,
                     "flank_left", "flank_right", "flank_unknown", None, "view_photo", "view_masked", "view_edge", "full_resolution"):
            if name is None:
                review_menu.addSeparator()
            else:
                review_menu.addAction(self.review.actions_by_name[name])  # shows the key beside each entry

        tools = menus.addMenu("&Tools")
        self.stations_action = self._action(tools, "&Stations…", self.stations_dialog, None, "Station coordinates and operation dates")
        self.refresh_action = self._action(tools, "&Refresh from the store", self.reload_session, "F5",
                                           "Re-read the project (after another program changed it)")

        help_menu = menus.addMenu("&Help")
        self._action(help_menu, "&User guide", self.show_user_guide, "Shift+F1",  # F1 is the review's list of keys
                     "A season step by step, from memory card to export")
        self._action(help_menu, "&Keyboard shortcuts", self.help_overlay.toggle, None, "F1 or ? in the review view")
        self._action(help_menu, "&About Pelage", self._about)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent_projects:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_project_folder(Path(p)))
        self.recent_menu.setEnabled(bool(self.settings.recent_projects))
        self.welcome.set_recent(self.settings.recent_projects)

    def show_user_guide(self):
        """Help ▸ User guide: the illustrated guide, beside the window (it may stay open while the user works)."""
        from pelage.ui.help import UserGuideDialog

        if self.guide is None:
            self.guide = UserGuideDialog(self)
        self.guide.show()
        self.guide.raise_()
        return self.guide

    def _about(self) -> None:
        from pelage import __version__

        QMessageBox.about(self, "About Pelage", f"<b>Pelage {__version__}</b><br>Identify individual patterned animals in "
                                                "camera-trap photos, offline.")

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.project.root.name} — {APP_TITLE}" if self.project else APP_TITLE)
        has_project = self.project is not None
        # Without a project there is nothing to review, import into or export: the welcome page says where to start.
        for action in (self.import_action, self.identify_action, self.export_action, self.refresh_action,
                       *self.review.actions_by_name.values()):
            action.setEnabled(has_project)
        self.stations_action.setEnabled(has_project and _module_exists("pelage.ui.stations_dialog"))
        self.tabs.setEnabled(has_project)
        self.pages.setCurrentWidget(self.tabs if has_project else self.welcome)

    def show_status(self, message: str) -> None:
        self.statusBar().showMessage(message, 8000)

    def _busy(self, label: str) -> None:
        self.busy_label.setText(label)

    def _conflict_count(self, count: int) -> None:
        index = self.tabs.indexOf(self.conflicts)
        self.tabs.setTabText(index, f"Conflicts ({count})" if count else "Conflicts")
        self.tabs.tabBar().setTabTextColor(index, Qt.GlobalColor.red if count else self.tabs.tabBar().palette().text().color())

    def _tab_changed(self, index: int) -> None:
        widget = self.tabs.widget(index)
        if widget is self.review:
            self.review.setFocus()
        elif widget is self.individuals and self.session is not None:
            self.individuals.refresh()
        elif widget is self.conflicts and self.session is not None:
            self.conflicts.refresh()
        elif widget is self.photos:
            self.photos.refresh()
        elif widget is self.training_tab and self.training_tab is not None:
            self._ensure_training_panel()

    # -- project ---------------------------------------------------------------------------------
    def new_project_dialog(self) -> bool:
        """Choose (or make, with the dialog's New Folder button) an empty folder and create the project in it."""
        chosen = QFileDialog.getExistingDirectory(self, "Choose an empty folder for the new project", str(Path.home()))
        if not chosen:
            return False
        return self.open_project_folder(Path(chosen), create=not is_project(Path(chosen)))

    def import_photos(self) -> ImportDialog | None:
        """The welcome page's Import photos: a project to hold them first when none is open, then the import dialog."""
        if self.project is None and not self.new_project_dialog():
            return None
        return self.import_dialog()

    def reopen_last_project(self) -> bool:
        """At start: open the project used last; if its folder is gone, stay on the welcome page and say so in one line."""
        if not self.settings.recent_projects:
            return False
        last = Path(self.settings.recent_projects[0])
        if not is_project(last):
            self.statusBar().showMessage(f"The last project, {last}, is not there any more "
                                         "(moved, deleted, or on a drive that is not plugged in).")  # stays until replaced
            return False
        return self.open_project_folder(last)

    def open_project_dialog(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Open a Pelage project", str(Path.home()))
        if chosen:
            self.open_project_folder(Path(chosen))

    def open_project_folder(self, root: Path, create: bool = False) -> bool:
        """Open (or create) a project; on failure the current project stays open and the reason is shown.

        Running work is asked about first, so answering No leaves no new project files behind."""
        work = self.running_work() if self.project is not None else []
        if work and not self.confirm_stop(work, "Open another project?", f"Stop it and open {root.resolve().name}?"):
            return False
        try:
            project = open_project(root, create=create)
        except (ProjectError, SchemaError, OSError) as exc:
            QMessageBox.warning(self, "Cannot open the project", str(exc))
            self.show_status(f"Cannot open {root}: {exc}")
            return False
        self.close_project()
        self.project = project
        self.settings.remember_project(str(project.root))
        save_settings(self.settings_path, self.settings)
        self._fill_recent()
        self._update_title()
        self.show_status(f"Opened {project.root}")
        self.photos.set_project(project)
        self.reload_session()
        if self.training_tab is not None and self.tabs.currentWidget() is self.training_tab:
            self._ensure_training_panel()
        return True

    def close_project(self) -> None:
        self.stop_work()
        for dialog in self.findChildren(ImportDialog):  # each imports into this project only
            dialog.close()
            dialog.deleteLater()
        self._drop_training_panel()
        self._set_session(None, "")
        self.queue.stop()  # finish writes in flight before the project's engine goes
        self.queue = self._wire_queue(JobQueue(self))
        for view in (self.review, self.individuals, self.conflicts, self.photos):
            view.queue = self.queue
        self.photos.set_project(None)
        if self.project is not None:
            self.project.close()
            self.project = None
        self._update_title()

    def _wire_queue(self, queue: JobQueue) -> JobQueue:
        queue.busy_changed.connect(self._busy)
        queue.error.connect(lambda message: self.show_status(f"Error: {message}"))
        return queue

    def reload_session(self) -> None:
        """(Re)build the review session from the store, on the review worker."""
        if self.project is None:
            return
        project, settings = self.project, self.settings
        self._set_session(None, "Loading the project…")

        def build():
            from pelage.review.model import ReviewModelError

            try:
                return open_session(project, settings)
            except ReviewModelError as exc:
                return exc

        self.queue.submit(build, self._session_built, lambda message: self._set_session(None, f"Cannot review: {message}"),
                          "Loading the project…")

    def _session_built(self, result) -> None:
        waiting = count_unembedded(self.project, self.settings) if self.project is not None else 0
        if isinstance(result, Exception):
            if waiting:
                self._set_session(None, f"{waiting} animals are not identified yet; identifying them now (see the status bar)…")
                self.start_identification()
            else:
                self._set_session(None, "This project has no animals to review yet: import a survey (File ▸ Import survey…, Ctrl+I); "
                                        "its animals are identified right after.")
            return
        self._set_session(result, "")
        self._show_in_review(result)
        if waiting:
            self.show_status(f"{waiting} animals are not identified with the current model yet: File ▸ Identify animals (Ctrl+E) "
                             "adds them to the review.")

    def _set_session(self, session: ReviewSession | None, message: str) -> None:
        if self.session is not None and session is not self.session:
            old = self.session
            self.queue.submit(old.close)
        self.session = session
        self.review.set_session(session, message)
        self.individuals.set_session(session)
        self.conflicts.set_session(session)
        self.session_ready.emit(session)
        if session is not None and self.tabs.currentWidget() is self.review:
            self.review.setFocus()

    # -- long tasks ------------------------------------------------------------------------------
    def import_dialog(self, folder: Path | None = None) -> ImportDialog | None:
        if self.project is None:
            self.show_status("Open or create a project first (File ▸ New project).")
            return None
        dialog = ImportDialog(self.project, self.settings, self, folder)
        dialog.imported.connect(self._imported)
        dialog.show()
        return dialog

    def _imported(self, outcome: ImportOutcome) -> None:
        self.show_status(outcome.describe())
        self.photos.refresh()
        if outcome.imported:
            self.start_identification()

    def start_identification(self) -> bool:
        """Embed new animals on a worker, with progress in the status bar; the review reloads after."""
        if self.project is None or self.task is not None:
            return False
        return self.run_task("identify", embed_task(self.project, self.settings), self._identified)

    def run_task(self, name: str, task, on_success) -> bool:
        """Run one long task off the GUI thread, with progress and cancel in the status bar; False if one is running."""
        if self.task is not None:
            self.show_status(f"Wait until {TASK_LABELS.get(self.task_name, self.task_name).lower()} is finished.")
            return False
        self.task_name = name
        self.task = TaskRunner(task, name, self)
        self.task.progress.connect(self._task_progress)
        self.task.succeeded.connect(lambda result: self._task_done(result, on_success))
        self.task.failed.connect(self._task_failed)
        self.task_label.setText(TASK_LABELS.get(name, name))
        self.task_progress.setRange(0, 0)
        for widget in (self.task_label, self.task_progress, self.task_cancel):
            widget.show()
        self.task_cancel.setEnabled(True)
        self.task.start()
        return True

    def cancel_task(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task_cancel.setEnabled(False)
            self.show_status("Cancelling; what is finished is kept.")

    def _task_progress(self, event: Progress) -> None:
        if event.total:
            self.task_progress.setRange(0, event.total)
            self.task_progress.setValue(event.done)
        if event.text:
            self.task_label.setText(event.text)

    def _end_task(self) -> None:
        if self.task is not None:
            self.task.wait()
            self.task.deleteLater()
        self.task = None
        for widget in (self.task_label, self.task_progress, self.task_cancel):
            widget.hide()

    def _task_done(self, result, on_success) -> None:
        name = self.task_name
        self._end_task()
        on_success(result)
        self.task_finished.emit(name, result)

    def _task_failed(self, message: str) -> None:
        name = self.task_name
        self._end_task()
        what = TASK_LABELS.get(name, name)  # the task in words: "Adding the animal you drew failed", not "Add-box failed"
        self.show_status(f"{what} failed: {message}")
        QMessageBox.warning(self, "Pelage", f"{what} failed: {message}")
        self.task_finished.emit(name, None)

    def _identified(self, summary) -> None:
        failed = f", {len(summary.failed)} failed" if summary.failed else ""
        state = "cancelled" if summary.cancelled else "done"
        flanks = summary.flanks
        guessed = f"; flank guessed for {flanks.guessed}, {flanks.unsure} too unsure" if flanks.guessed or flanks.unsure else ""
        self.show_status(f"Identification {state}: {summary.embedded} animals embedded now, {summary.already} before{failed}{guessed}.")
        self.reload_session()

    # -- boxes drawn by the user ----------------------------------------------------------------
    def add_box(self, image_id: int, box: tuple[float, float, float, float]) -> bool:
        """Record an animal drawn on a photo (as `pelage add-box` does), identify it and show it in review."""
        if self.project is None:
            return False
        return self.run_task("add-box", add_box_task(self.project, image_id, box), self._box_recorded)

    def redraw_box(self, animal_id: int, box: tuple[float, float, float, float]) -> bool:
        """Replace an animal's box (as `pelage redraw-box` does), identify its new crop and show it in review."""
        if self.project is None:
            return False
        return self.run_task("redraw", redraw_box_task(self.project, animal_id, box), self._box_recorded)

    def _box_recorded(self, animal_id: int) -> None:
        self.show_status(f"Animal #{animal_id} cut out; identifying it, then it is shown in the Review tab.")
        self.review_next = animal_id
        self.photos.refresh()
        self.start_identification()

    def _show_in_review(self, session: ReviewSession) -> None:
        animal, self.review_next = self.review_next, None
        if animal is None:
            return
        try:
            session.record(animal)
        except KeyError:
            self.show_status(f"Animal #{animal} could not be identified (see the status bar messages).")
            return
        self.tabs.setCurrentWidget(self.review)
        self.review.load(animal)

    def redraw_dialog(self, animal_id: int) -> None:
        """Show the animal's whole photo to draw its box again (loaded on the worker)."""
        project = self.project
        if project is None:
            return

        def load():
            from pelage.ui.images import animal_files, load_original

            files = animal_files(project, [animal_id])[animal_id]
            return load_original(files), files.box

        def show(loaded) -> None:
            from pelage.ui.box_dialogs import RedrawDialog

            image, box = loaded
            dialog = RedrawDialog(animal_id, image, box, self)
            if dialog.exec() and dialog.box is not None:
                self.redraw_box(animal_id, dialog.box)

        self.queue.submit(load, show, lambda message: self.show_status(f"Cannot open the photo: {message}"), "Loading the photo…")

    # -- dialogs ---------------------------------------------------------------------------------
    def export_dialog(self):
        """File ▸ Export…: the formats of `pelage export`, with a preview; the export runs as a background task."""
        if self.project is None:
            self.show_status("Open a project first.")
            return None
        from pelage.ui.export_dialog import ExportDialog

        dialog = ExportDialog(self.project, self.queue, self.run_task, self)
        if self.export_window is not None:  # one listener at a time: earlier dialogs do not pile up on the signal
            self.task_finished.disconnect(self.export_window.task_finished)
        self.task_finished.connect(dialog.task_finished)
        self.export_window = dialog
        dialog.show()
        return dialog

    def settings_dialog(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec():
            self.apply_settings(dialog.values())

    def apply_settings(self, settings: AppSettings) -> None:
        reload = (settings.model, settings.same_flank_only) != (self.settings.model, self.settings.same_flank_only)
        self.settings = settings
        save_settings(self.settings_path, settings)
        self.show_status("Settings saved.")
        if reload:
            self.reload_session()

    def stations_dialog(self) -> None:
        if self.project is None:
            self.show_status("Open a project first.")
            return
        from pelage.ui.stations_dialog import StationsDialog

        StationsDialog(self.project, self).exec()

    def _ensure_training_panel(self) -> None:
        """Build the training tab's panel (another module, loaded on first visit) for the open project."""
        layout = self.training_tab.layout()
        if self.training_panel is not None or self.project is None:
            return
        from pelage.ui.training_panel import TrainingPanel

        self.training_panel = TrainingPanel(self.project.root)
        if hasattr(self.training_panel, "model_adopted"):
            self.training_panel.model_adopted.connect(lambda _model: self.reload_session())  # re-embedded: review with it
            self.training_panel.score_check.refitted.connect(self.reload_session)  # the project's own scores: review with them
        layout.addWidget(self.training_panel)

    def _drop_training_panel(self) -> None:
        panel, self.training_panel = self.training_panel, None
        if panel is not None:
            if hasattr(panel, "shutdown"):
                panel.shutdown()
            panel.setParent(None)
            panel.deleteLater()

    def show_full_resolution(self, anchor_id: int, candidate_id: int) -> None:
        session = self.session
        if session is None:
            return
        ids = [anchor_id] + ([candidate_id] if candidate_id else [])

        def load():
            from pelage.ui.cards import describe_record
            from pelage.ui.images import animal_files, load_original

            files = animal_files(session.project, ids)
            photos = []
            for i in ids:
                try:
                    image = load_original(files[i])
                except (OSError, ValueError):
                    image = None
                title = f"<b>{'Anchor' if i == anchor_id else 'Candidate'}</b> #{i} — {files[i].original.name}"
                photos.append((i, title, describe_record(session.record(i), session.flank(i)), image, files[i].box))
            return photos

        def show(photos) -> None:
            if self.full_resolution is None:
                self.full_resolution = FullResolutionDialog(self)
            self.full_resolution.show_photos(photos)
            self.full_resolution.show()
            self.full_resolution.raise_()

        self.queue.submit(load, show, lambda message: self.show_status(f"Cannot open the photo: {message}"), "Loading the originals…")

    # -- closing ---------------------------------------------------------------------------------
    def running_work(self) -> list[str]:
        """The long work running now, in plain words (what Quit has to stop)."""
        work = [TASK_LABELS.get(self.task_name, self.task_name)] if self.task is not None else []
        work += ["Importing photos" for dialog in self.findChildren(ImportDialog) if dialog.running]
        handle = getattr(self.training_panel, "handle", None)
        if handle is not None and handle.running:
            work.append("Training a model")
        return work

    def confirm_stop(self, work: list[str], title: str = "Quit Pelage?", question: str = "Stop it and quit?") -> bool:
        """Ask before stopping running work (No is the default: nothing is stopped by a stray Enter)."""
        text = (f"Still running: {', '.join(work).lower()}.\n\n{question} Everything finished so far is kept, "
                "and the rest can be carried on later.")
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def stop_work(self) -> None:
        """Cancel every long job at once, then wait for each to reach its safe point. A training or embedding
        process gets a moment to save its checkpoint and is then ended (the last epoch's checkpoint stays);
        every worker process is reaped, none is left behind."""
        dialogs = [dialog for dialog in self.findChildren(ImportDialog) if dialog.running]
        for dialog in dialogs:
            dialog.imported.disconnect(self._imported)  # no identification starts behind a closing window
            dialog.cancel()
        if self.task is not None:
            self.task.succeeded.disconnect()
            self.task.failed.disconnect()
            self.task.cancel()
        panel = self.training_panel
        if panel is not None and hasattr(panel, "shutdown"):
            panel.shutdown(QUIT_PROCESS_GRACE_S)
        for dialog in dialogs:
            dialog.runner.wait()
        name, stopped = self.task_name, self.task is not None
        self._end_task()
        if stopped:
            self.task_finished.emit(name, None)  # an export dialog waiting on it stops waiting

    def closeEvent(self, event: QCloseEvent) -> None:
        work = self.running_work()
        if work and not self.confirm_stop(work):
            event.ignore()
            return
        self.stop_work()
        self.close_project()
        self.queue.stop()
        save_settings(self.settings_path, self.settings)
        super().closeEvent(event)
