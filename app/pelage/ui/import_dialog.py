"""Import a survey folder into the open project, on a worker thread, with progress, cancel and a list of
the files that failed (and why). A cancelled import keeps every image it finished; running it again
carries on where it stopped.

Before anything is imported, the dialog previews what the import will read (photos, stations, cameras and the
first capture times, from :func:`pelage.ingest.preview.preview_survey`), so a wrong folder or a name pattern
that reads nothing shows at once, not after an hour of detection."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pelage.store import Project
from pelage.ui.settings import AppSettings
from pelage.ui.tasks import ImportOutcome, import_survey_task
from pelage.ui.workers import Progress, TaskRunner

if TYPE_CHECKING:
    from pelage.ingest.preview import ImportPreview

PREVIEW_DELAY_MS = 300  # typing a path or a pattern previews once the user pauses
PREVIEW_COLUMNS = ("Photo", "Station", "Camera", "Capture time", "Time read from")
TIME_SOURCES = {"filename": "file name", "exif": "camera (EXIF)", "file_time": "file date (unreliable)"}


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def describe_preview(preview: ImportPreview) -> tuple[str, str]:
    """What the import will read, and what to worry about, in plain words (warning "" when all is well)."""
    stations = len(preview.stations)
    cameras = sum(1 for _, camera in preview.cameras if camera)
    head = (f"Will read {_plural(preview.photos, 'photo')} from {_plural(stations, 'station')}"
            f" ({_plural(cameras, 'camera')}): {', '.join(preview.stations[:12])}{'…' if stations > 12 else ''}."
            if stations else f"Will read {_plural(preview.photos, 'photo')}; no station name was found in their folders or names.")
    if not preview.photos:
        head = "Found no photos to import."
    if preview.other_files:
        head += f" {_plural(preview.other_files, 'other file')} (not photos) will be left alone."
    warnings = []
    if not preview.photos:
        warnings.append("There are no photos in this folder (JPEG, PNG, TIFF, BMP or WebP): check that it is the right one.")
    if preview.file_time_only:
        count = len(preview.file_time_only)
        warnings.append(f"{_plural(count, 'photo')} {'has' if count == 1 else 'have'} no capture time in the file name or in the "
                        f"camera's data (EXIF), e.g. {preview.file_time_only[0]}: the file's own date will be used, which is often "
                        "the day it was copied. Add a name pattern with the time, or check these files.")
    if preview.without_station and preview.stations:
        warnings.append(f"{_plural(len(preview.without_station), 'photo')} {'is' if len(preview.without_station) == 1 else 'are'} "
                        f"in no station's folder, e.g. {preview.without_station[0]}: they will have no station.")
    if preview.unreadable_folders:
        warnings.append(f"{_plural(len(preview.unreadable_folders), 'folder')} cannot be read: {', '.join(preview.unreadable_folders[:3])}.")
    return head, "\n".join(warnings)


class ImportDialog(QDialog):
    imported = Signal(object)  # ImportOutcome, when the import ended (finished or cancelled)

    def __init__(self, project: Project, settings: AppSettings, parent: QWidget | None = None, folder: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import a survey")
        self.setMinimumWidth(760)
        self.project, self.settings = project, settings
        self.runner: TaskRunner | None = None
        self.outcome: ImportOutcome | None = None
        self.error: str | None = None

        self.folder = QLineEdit(str(folder) if folder else "")
        self.folder.setPlaceholderText("the season's folder of camera-trap photos")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        self.survey_name = QLineEdit()
        self.survey_name.setPlaceholderText("default: the folder's name")
        self.pattern = QLineEdit()
        self.pattern.setPlaceholderText(r"optional regex with groups station, camera, year…second, e.g. (?P<station>BG-\d+)(?P<camera>[AB])-")
        form = QFormLayout()
        form.addRow("Survey folder", folder_row)
        form.addRow("Survey name", self.survey_name)
        form.addRow("Name pattern", self.pattern)
        detector = settings.detector + (f" ({Path(settings.detector_weights).name})" if settings.detector_weights else "")
        device = "automatic (CUDA when available)" if settings.device == "auto" else settings.device
        form.addRow("Detector", QLabel(f"{detector}, device {device}, background removal "
                                       f"{'on' if settings.remove_background else 'off'} (change in Settings)"))

        self.preview_label = QLabel("Choose the survey's folder to see what will be imported.")
        self.preview_label.setObjectName("importPreview")
        self.preview_label.setWordWrap(True)
        self.preview_warning = QLabel("")
        self.preview_warning.setObjectName("importWarning")
        self.preview_warning.setWordWrap(True)
        self.preview_warning.setStyleSheet("color: #b35c00;")
        self.preview_warning.hide()
        self.preview_table = QTableWidget(0, len(PREVIEW_COLUMNS))
        self.preview_table.setObjectName("importPreviewTable")
        self.preview_table.setHorizontalHeaderLabels(PREVIEW_COLUMNS)
        self.preview_table.verticalHeader().hide()
        self.preview_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.preview_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.preview_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.preview_table.setWordWrap(False)
        self.preview_table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # keep the file name, shorten the folders
        rows = self.preview_table.verticalHeader().defaultSectionSize() * 5
        self.preview_table.setFixedHeight(rows + self.preview_table.horizontalHeader().sizeHint().height() + 4)
        self.preview: ImportPreview | None = None
        self.preview_runner: TaskRunner | None = None
        # Every preview started, the dropped ones included: the dialog owns and outlives them (deleting a finished
        # preview's thread object from its own finished signal crashed the program now and then, in pytest-qt's teardown).
        self._preview_threads: list[TaskRunner] = []
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self.refresh_preview)
        self.folder.textChanged.connect(self._preview_timer.start)
        self.pattern.textChanged.connect(self._preview_timer.start)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("%v / %m images")
        self.current = QLabel("")
        self.current.setWordWrap(True)
        self.failures = QListWidget()
        self.failures.setObjectName("importFailures")
        self.failures.setMinimumHeight(100)
        self.failures.setWordWrap(True)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setObjectName("importSummary")

        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton("Import", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton("Cancel import", QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.cancel_button.setEnabled(False)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.preview_label)
        layout.addWidget(self.preview_warning)
        layout.addWidget(self.preview_table)
        layout.addWidget(self.progress)
        layout.addWidget(self.current)
        layout.addWidget(QLabel("Files that could not be imported:"))
        layout.addWidget(self.failures, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.buttons)
        if folder:
            self.refresh_preview()

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Survey folder", self.folder.text() or str(Path.home()))
        if chosen:
            self.folder.setText(chosen)

    # -- preview -----------------------------------------------------------------------------------
    def refresh_preview(self) -> None:
        """Preview the folder and pattern now typed, on a worker; a preview still running for older text is dropped."""
        self._preview_timer.stop()
        if self.preview_runner is not None:
            self.preview_runner.cancel()
        text = self.folder.text().strip()
        self.preview = None
        self.preview_table.setRowCount(0)
        self.preview_warning.hide()
        if not text:
            self.preview_label.setText("Choose the survey's folder to see what will be imported.")
            self.preview_runner = None
            return
        folder, pattern, exclude = Path(text).expanduser(), self.pattern.text().strip() or None, [self.project.root]

        def task(report, should_stop):
            from pelage.ingest.preview import preview_survey

            return preview_survey(folder, pattern, exclude=exclude, should_stop=should_stop)

        self.preview_label.setText("Looking at the folder…")
        runner = TaskRunner(task, "import-preview", self)
        runner.succeeded.connect(lambda preview, runner=runner: self._show_preview(runner, preview))
        runner.failed.connect(lambda message, runner=runner: self._preview_failed(runner, message))
        self.preview_runner = runner
        self._preview_threads.append(runner)
        runner.start()

    def _show_preview(self, runner: TaskRunner, preview: ImportPreview) -> None:
        if runner is not self.preview_runner or preview.cancelled:
            return  # the folder or pattern changed meanwhile
        self.preview_runner = None
        self.preview = preview
        head, warning = describe_preview(preview)
        self.preview_label.setText(head)
        self.preview_warning.setText(warning)
        self.preview_warning.setVisible(bool(warning))
        self.preview_table.setRowCount(len(preview.first))
        for row, photo in enumerate(preview.first):
            when = photo.time.strftime("%Y-%m-%d %H:%M:%S") if photo.time else "—"
            source = TIME_SOURCES.get(photo.source.value, photo.source.value) if photo.source else "—"
            for column, text in enumerate((photo.path, photo.station or "—", photo.camera or "—", when, source)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if column == 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.preview_table.setItem(row, column, item)

    def _preview_failed(self, runner: TaskRunner, message: str) -> None:
        if runner is not self.preview_runner:
            return
        self.preview_runner = None
        self.preview_label.setText(message)

    @property
    def previewing(self) -> bool:
        return self.preview_runner is not None or self._preview_timer.isActive()

    @property
    def running(self) -> bool:
        return self.runner is not None and self.runner.isRunning()

    def start(self) -> None:
        folder = Path(self.folder.text().strip()).expanduser()
        if not self.folder.text().strip() or not folder.is_dir():
            self.summary.setText(f"“{self.folder.text()}” is not a folder: choose the survey's folder of photos.")
            return
        self.failures.clear()
        self.outcome, self.error = None, None
        self.summary.setText("Loading the detector…")
        task = import_survey_task(self.project, folder, self.settings, self.pattern.text().strip() or None,
                                  self.survey_name.text().strip() or None)
        self.runner = TaskRunner(task, "import", self)
        self.runner.progress.connect(self._progress)
        self.runner.succeeded.connect(self._finished)
        self.runner.failed.connect(self._failed)
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.close_button.setEnabled(False)
        self.runner.start()

    def cancel(self) -> None:
        if self.runner is not None:
            self.runner.cancel()
            self.cancel_button.setEnabled(False)
            self.summary.setText("Cancelling after the image in progress…")

    def _progress(self, event: Progress) -> None:
        self.progress.setRange(0, max(event.total, 1))
        self.progress.setValue(event.done)
        self.current.setText(event.text)
        if event.error:
            self.failures.addItem(event.error)
        if not self.runner or not self.runner.cancelled:
            self.summary.setText("Importing…")

    def _done(self) -> None:
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.close_button.setEnabled(True)

    def _finished(self, outcome: ImportOutcome) -> None:
        self.outcome = outcome
        self._done()
        self.summary.setText(outcome.describe())
        if not outcome.cancelled:
            self.progress.setValue(self.progress.maximum())
        self.imported.emit(outcome)

    def _failed(self, message: str) -> None:
        self.error = message
        self._done()
        self.summary.setText(f"The import stopped: {message}")

    def reject(self) -> None:
        if self.running:  # closing the window must not leave a half-known import running
            self.cancel()
            self.runner.wait()
        self._preview_timer.stop()
        # A preview only reads: stop every one still running, including those a newer folder or pattern dropped (a
        # thread destroyed with the dialog while it runs aborts the program), and do not leave their threads behind.
        for runner in self._preview_threads:
            runner.cancel()
            runner.wait()
        super().reject()
