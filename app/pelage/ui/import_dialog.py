"""Import a survey folder into the open project, on a worker thread, with progress, cancel and a list of
the files that failed (and why). A cancelled import keeps every image it finished; running it again
carries on where it stopped."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pelage.store import Project
from pelage.ui.settings import AppSettings
from pelage.ui.tasks import ImportOutcome, import_survey_task
from pelage.ui.workers import Progress, TaskRunner


class ImportDialog(QDialog):
    imported = Signal(object)  # ImportOutcome, when the import ended (finished or cancelled)

    def __init__(self, project: Project, settings: AppSettings, parent: QWidget | None = None, folder: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import a survey")
        self.setMinimumWidth(640)
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
        form.addRow("Detector", QLabel(f"{detector}, device {settings.device}, background removal "
                                       f"{'on' if settings.remove_background else 'off'} (change in Settings)"))

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
        layout.addWidget(self.progress)
        layout.addWidget(self.current)
        layout.addWidget(QLabel("Files that could not be imported:"))
        layout.addWidget(self.failures, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.buttons)

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Survey folder", self.folder.text() or str(Path.home()))
        if chosen:
            self.folder.setText(chosen)

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
        super().reject()
