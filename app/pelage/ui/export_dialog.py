"""File ▸ Export…: every format of ``pelage export``, its options in plain words, a preview of the capture
matrix and of what is left out and why, and a folder chosen under the command line's rules.

The export itself is the CLI's call (:func:`pelage.export.export_project`) run as the window's background
task; where it may be written is decided by :func:`pelage.export.target.check_export_target`, so the window
refuses what ``pelage export`` refuses and asks where the CLI wants ``--force``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pelage.export import FORMATS, ExportError, ExportOptions, FlankMode, load_export_settings
from pelage.export.registry import protected_folders
from pelage.export.target import check_export_target
from pelage.ui.tasks import export_task
from pelage.ui.workers import JobQueue

if TYPE_CHECKING:
    from pelage.export.preview import ExportPreview
    from pelage.store import Project

Runner = Callable[[str, object, Callable[[object], None]], bool]  # MainWindow.run_task
FORMAT_WORDS = {
    "secr": "secr (R): capture and trap files for read.capthist",
    "camtrapdp": "Camtrap DP: a data package for GBIF and other archives",
    "camtrapr": "camtrapR (R): record table and camera-trap table",
    "occasions": "Capture history: individuals × occasions 0/1 table with effort",
    "mark": "Program MARK: encounter histories (.inp)",
    "individuals": "Individuals: one row per photo of an animal (for spreadsheets)",
}
FLANK_WORDS = {
    FlankMode.LINKED: "Linked: an animal's left and right sides are one individual",
    FlankMode.SEPARATE: "Separate: count each side as its own individual",
    FlankMode.LEFT: "Left sides only",
    FlankMode.RIGHT: "Right sides only",
}
SHOWN_ITEMS = 6  # ids or photos listed per left-out reason


class ExportDialog(QDialog):
    exported = Signal(object)  # the manifest, once the export is in its folder

    def __init__(self, project: Project, queue: JobQueue, runner: Runner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Export — {project.root.name}")
        self.resize(1100, 720)
        self.project, self.queue, self.runner = project, queue, runner
        self.preview: ExportPreview | None = None
        self.manifest: dict | None = None
        settings_problem = ""
        try:
            self.saved = load_export_settings(project.root)
        except ExportError as exc:  # a wrong value in export-settings.json: said, and the defaults used
            self.saved, settings_problem = {}, f"<b>Note:</b> {exc}"
        self._build(ExportOptions(**self.saved))
        self.result_label.setText(settings_problem)
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(250)
        self._preview_timer.timeout.connect(self.refresh_preview)
        for signal in (self.format.currentIndexChanged, self.flanks.currentIndexChanged, self.occasion_days.valueChanged,
                       self.independence.valueChanged, self.species.textChanged, self.utc_offset.textChanged):
            signal.connect(self._options_changed)
        self.refresh_preview()

    # -- layout ----------------------------------------------------------------------------------
    def _build(self, defaults: ExportOptions) -> None:
        self.format = QComboBox()
        for name in FORMATS:
            self.format.addItem(FORMAT_WORDS.get(name, name), name)
        self.flanks = QComboBox()
        for mode, words in FLANK_WORDS.items():
            self.flanks.addItem(words, mode.value)
        self.flanks.setCurrentIndex(list(FLANK_WORDS).index(defaults.flanks))
        self.occasion_days = QSpinBox()
        self.occasion_days.setRange(1, 365)
        self.occasion_days.setValue(defaults.occasion_days)
        self.occasion_days.setSuffix(" day(s)")
        self.independence = QDoubleSpinBox()
        self.independence.setRange(0, 100000)
        self.independence.setDecimals(0)
        self.independence.setValue(defaults.independence_minutes)
        self.independence.setSuffix(" minutes")
        self.species = QLineEdit(defaults.species)
        self.utc_offset = QLineEdit(defaults.utc_offset or "")
        self.utc_offset.setPlaceholderText("e.g. +02:00 (Camtrap DP needs it)")
        self.folder = QLineEdit()
        self.folder.setObjectName("exportFolder")
        self.folder.setPlaceholderText("a new folder for the files")
        choose = QPushButton("Choose…")
        choose.clicked.connect(self.choose_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(choose)

        form = QFormLayout()
        form.addRow("Export for", self.format)
        form.addRow("Occasion length", self.occasion_days)
        form.addRow("Photos of one animal at one station count once within", self.independence)
        form.addRow("Flanks", self.flanks)
        form.addRow("Species", self.species)
        form.addRow("Camera clock, offset from UTC", self.utc_offset)
        form.addRow("Write into", folder_row)

        self.matrix_label = QLabel("Captures per occasion (individuals × occasions):")
        self.matrix = QTableWidget()
        self.matrix.setObjectName("exportMatrix")
        self.matrix.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.left_out_label = QLabel("Left out, and why:")
        self.left_out = QListWidget()
        self.left_out.setObjectName("exportLeftOut")
        self.left_out.setWordWrap(True)
        preview = QSplitter(Qt.Orientation.Vertical)
        for label, widget in ((self.matrix_label, self.matrix), (self.left_out_label, self.left_out)):
            box = QWidget()
            box_layout = QVBoxLayout(box)
            box_layout.setContentsMargins(0, 0, 0, 0)
            box_layout.addWidget(label)
            box_layout.addWidget(widget, 1)
            preview.addWidget(box)

        self.result_label = QLabel("")
        self.result_label.setObjectName("exportResult")
        self.result_label.setWordWrap(True)
        self.export_button = QPushButton("Export")
        self.export_button.setObjectName("exportButton")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start_export)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.result_label, 1)
        buttons.addWidget(close)
        buttons.addWidget(self.export_button)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(preview, 1)
        layout.addLayout(buttons)

    # -- options and preview ---------------------------------------------------------------------
    @property
    def format_name(self) -> str:
        return self.format.currentData()

    def set_format(self, name: str) -> None:
        self.format.setCurrentIndex(self.format.findData(name))

    def options(self) -> ExportOptions:
        """The export's options as ``pelage export`` builds them: export-settings.json, then what is chosen here."""
        given = {"species": self.species.text().strip() or "unknown", "flanks": self.flanks.currentData(),
                 "occasion_days": self.occasion_days.value(), "independence_minutes": self.independence.value(),
                 "utc_offset": self.utc_offset.text().strip() or None}
        return ExportOptions(**{**self.saved, **{key: value for key, value in given.items() if value is not None}})

    def _options_changed(self) -> None:
        self._preview_timer.start()

    def refresh_preview(self) -> None:
        from pelage.export.preview import preview_export

        try:
            options = self.options()
        except ExportError as exc:
            self._show_problem(str(exc))
            return
        project, format_name = self.project, self.format_name
        self.matrix_label.setText("Working out the preview…")
        self.queue.submit(lambda: preview_export(project, format_name, options), self._show_preview, self._show_problem,
                          "Previewing the export…")

    def _show_problem(self, message: str) -> None:
        self.matrix_label.setText(f"<b>Cannot export with these options:</b> {message}")
        self.matrix.clear()
        self.matrix.setRowCount(0)
        self.matrix.setColumnCount(0)

    def _show_preview(self, preview: ExportPreview) -> None:
        self.preview = preview
        self.matrix.clear()
        self.matrix.setRowCount(len(preview.rows))
        self.matrix.setColumnCount(len(preview.occasions))
        self.matrix.setHorizontalHeaderLabels([day[5:] for day in preview.occasions])  # MM-DD: the year is in the tooltip
        for column, day in enumerate(preview.occasions):
            self.matrix.horizontalHeaderItem(column).setToolTip(f"occasion {column + 1}, from {day}")
        self.matrix.setVerticalHeaderLabels([entity for entity, _ in preview.rows])
        for row, (_entity, counts) in enumerate(preview.rows):
            for column, count in enumerate(counts):
                item = QTableWidgetItem(str(count) if count else "·")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.matrix.setItem(row, column, item)
        self.matrix.resizeColumnsToContents()
        if preview.matrix_problem:
            self.matrix_label.setText(f"<b>No capture history yet:</b> {preview.matrix_problem}")
        else:
            captures = sum(sum(counts) for _, counts in preview.rows)
            self.matrix_label.setText(f"Captures per occasion: {len(preview.rows)} individuals × {len(preview.occasions)} occasions "
                                      f"of {self.occasion_days.value()} day(s), {captures} independent captures")
        self.left_out.clear()
        for entry in preview.left_out:
            more = len(entry.items) - SHOWN_ITEMS
            shown = ", ".join(entry.items[:SHOWN_ITEMS]) + (f" and {more} more" if more > 0 else "")
            self.left_out.addItem(f"{entry.reason} — {len(entry.items)}: {shown}")
        self.left_out_label.setText(f"Left out of this export, and why ({preview.left_out_count}):" if preview.left_out else
                                    "Nothing is left out: every photo is in this export.")

    # -- where and export ------------------------------------------------------------------------
    def choose_folder(self) -> None:
        start = self.folder.text() or str(self.project.root.parent / f"{self.project.root.name}-{self.format_name}")
        chosen, _ = QFileDialog.getSaveFileName(self, "Export into a new folder", start, "",
                                                options=QFileDialog.Option.DontConfirmOverwrite)
        if chosen:
            self.folder.setText(chosen)

    def confirm_replace(self, target: Path) -> bool:
        answer = QMessageBox.question(self, "Replace the earlier export?",
                                      f"{target} holds an earlier Pelage export (and nothing else). Replace it with this one?")
        return answer == QMessageBox.StandardButton.Yes

    def may_write(self, out: Path) -> bool | None:
        """Whether to write with ``force`` (an earlier export the user agreed to replace); None: refused or declined."""
        protected = protected_folders(self.project)
        try:
            check_export_target(out, protected, force=False)
            return False
        except ExportError as refused:
            try:
                check_export_target(out, protected, force=True)
            except ExportError:
                self.result_label.setText(f"<b>Not written:</b> {refused}")
                return None
        return True if self.confirm_replace(out) else None

    def start_export(self) -> bool:
        text = self.folder.text().strip()
        if not text:
            self.result_label.setText("Choose a folder to write into first.")
            return False
        try:
            options = self.options()
        except ExportError as exc:
            self.result_label.setText(f"<b>Not written:</b> {exc}")
            return False
        out = Path(text).expanduser()
        force = self.may_write(out)
        if force is None:
            return False
        format_name = self.format_name
        started = self.runner("export", export_task(self.project, format_name, out, options, force),
                              lambda manifest: self._exported(out, manifest))
        if started:
            self.export_button.setEnabled(False)
            self.result_label.setText(f"Writing the {format_name} export into {out}…")
        else:
            self.result_label.setText("Another task is running; export when it is finished.")
        return started

    def _exported(self, out: Path, manifest: dict) -> None:
        self.manifest = manifest
        self.export_button.setEnabled(True)
        animals = sum(len(ids) for ids in manifest.get("left_out", {}).values())
        photos = sum(len(names) for names in manifest.get("photos_left_out", {}).values())
        self.result_label.setText(f"Wrote {', '.join(manifest['files'])} into {out}. Left out: {animals} animal(s) and {photos} "
                                  "photo(s) without one, each with its reason in pelage-export.json.")
        self.exported.emit(manifest)

    def export_ended(self) -> None:
        self.export_button.setEnabled(True)

    def task_finished(self, name: str, _result: object) -> None:
        """The window's background task ended; an export (ours or not) frees the Export button."""
        if name == "export":
            self.export_ended()
