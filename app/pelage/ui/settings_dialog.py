"""Edit the application settings: detector and its weights, thresholds, device, identification model.

It also shows whether MegaDetector is installed and installs it (``Install…``) with the same download as
``pelage models install megadetector``: progress, a checksum check, Cancel, and nothing left behind when it fails.
CUDA is offered only when torch sees a GPU here; "auto" (the default) means CUDA when available, else the CPU.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pelage.ui.settings import DETECTORS, AppSettings
from pelage.ui.workers import Progress, TaskRunner
from pelage.weights import KNOWN_WEIGHTS, WeightsSpec, WeightsState, download_weights, installed_weights

TIPS = {
    "detector": "Which detector finds the animals in each photo. auto: MegaDetector when it is installed, otherwise the "
                "offline detector that comes with Pelage. yolo: the weights file below.",
    "weights": "A YOLO detector file (.onnx, or MegaDetector's .pt). Empty: the installed MegaDetector.",
    "confidence": "How sure the detector must be before a box counts as an animal (0 to 1). Lower finds more animals, "
                  "and more rocks and grass; higher misses faint or partly hidden animals. Used by MegaDetector and YOLO "
                  "files; photos where it finds nothing are listed under “Photos to check”, where you can draw a box.",
    "background": "Cut each animal out of its background before comparing coats, so grass and rocks do not count as spots. "
                  "Slower on import; turn off only for studio-like photos.",
    "device": "Where detection and identification run. CUDA (an NVIDIA graphics card) is many times faster; it is offered "
              "only when this computer has one that PyTorch can use.",
    "model": "The identification model that compares coats. Empty: the model bundled with Pelage, or the one you trained "
             "and adopted for this project.",
    "same_flank": "Propose only photos that show the same side of the animal as the one under review (or whose side is "
                  "unknown): left and right flanks of one animal have different patterns.",
    "threads": "How many processor cores the models may use. 0: all of them; fewer keeps the computer usable for other work.",
}


@functools.cache
def cuda_device_name() -> str | None:
    """The first CUDA device's name when torch sees one, else None (torch is imported once, on first ask)."""
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def cuda_available() -> bool:
    return cuda_device_name() is not None


def megadetector_status(spec: WeightsSpec, models_dir: Path) -> tuple[str, bool]:
    """A line on MegaDetector's state, and whether installing it would do anything."""
    state = installed_weights(spec, models_dir)
    if state.state == WeightsState.INSTALLED:
        return f"Installed ({spec.filename}); imports with the “auto” detector use it.", False
    if state.state == WeightsState.DAMAGED:
        return f"Damaged ({spec.filename} does not match its checksum): install it again.", True
    return "Not installed: imports use the offline detector. MegaDetector finds more animals (6 MB download).", True


def install_task(spec: WeightsSpec, models_dir: Path):
    """The download as a :class:`TaskRunner` task: progress in bytes, Cancel between chunks, checksum checked."""

    def task(report, should_stop) -> Path:
        def progress(done: int, total: int | None) -> None:
            report(Progress(done, total or 0, f"{done / 1e6:.1f} of {total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"))

        return download_weights(spec, models_dir, progress=progress, should_stop=should_stop)

    return task


class SettingsDialog(QDialog):
    def __init__(self, settings: AppSettings, parent: QWidget | None = None, models_dir: Path | None = None,
                 megadetector: WeightsSpec | None = None, gpu_name: Callable[[], str | None] = cuda_device_name) -> None:
        """``models_dir`` and ``megadetector`` default to the user's model folder and the published file; ``gpu_name``
        says which CUDA GPU torch sees (None: none)."""
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(640)
        self._original = settings
        if models_dir is None:
            from pelage.paths import resolve_user_paths

            models_dir = resolve_user_paths().models
        self.models_dir, self.spec = models_dir, megadetector or KNOWN_WEIGHTS["megadetector"]
        self.cuda_name = gpu_name()
        self.installer: TaskRunner | None = None
        # The last download's thread, kept until the dialog closes: its result arrives before the thread has ended, and a
        # QThread destroyed with its dialog while still running aborts the program (see done).
        self._install_thread: TaskRunner | None = None
        self.install_error: str | None = None

        self.detector = QComboBox()
        self.detector.addItems(DETECTORS)
        self.detector.setCurrentText(settings.detector)
        self.weights = QLineEdit(settings.detector_weights)
        self.weights.setPlaceholderText("the installed MegaDetector")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_weights)
        weights_row = QHBoxLayout()
        weights_row.addWidget(self.weights, 1)
        weights_row.addWidget(browse)
        self.md_status = QLabel("")
        self.md_status.setObjectName("megadetectorStatus")
        self.md_status.setWordWrap(True)
        self.install_button = QPushButton("Install…")
        self.install_button.setToolTip(f"Download {self.spec.description} ({self.spec.licence}) and check it against "
                                       "its published checksum")
        self.install_button.clicked.connect(self.install_megadetector)
        self.install_cancel = QPushButton("Cancel download")
        self.install_cancel.clicked.connect(self.cancel_install)
        self.install_cancel.hide()
        self.install_progress = QProgressBar()
        self.install_progress.setObjectName("megadetectorProgress")
        self.install_progress.hide()
        md_row = QHBoxLayout()
        md_row.addWidget(self.md_status, 1)
        md_row.addWidget(self.install_button)
        md_row.addWidget(self.install_cancel)
        self.confidence = QDoubleSpinBox()
        self.confidence.setRange(0.0, 1.0)
        self.confidence.setSingleStep(0.05)
        self.confidence.setDecimals(2)
        self.confidence.setValue(settings.confidence)
        self.remove_background = QCheckBox("Remove the background (U²-Net-p masks)")
        self.remove_background.setChecked(settings.remove_background)
        self.device = QComboBox()
        self._fill_devices(settings.device)
        self.model = QLineEdit(settings.model)
        self.model.setPlaceholderText("the bundled model (nyala-lite0)")
        model_browse = QPushButton("Browse…")
        model_browse.clicked.connect(self._browse_model)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(model_browse)
        self.same_flank = QCheckBox("Propose only candidates of the anchor's flank")
        self.same_flank.setChecked(settings.same_flank_only)
        self.threads = QSpinBox()
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("all cores")
        self.threads.setValue(settings.threads)
        for widget, tip in ((self.detector, "detector"), (self.weights, "weights"), (self.confidence, "confidence"),
                            (self.remove_background, "background"), (self.device, "device"), (self.model, "model"),
                            (self.same_flank, "same_flank"), (self.threads, "threads")):
            widget.setToolTip(TIPS[tip])

        form = QFormLayout()
        form.addRow(QLabel("<b>Import</b>"))
        form.addRow("MegaDetector", md_row)
        form.addRow("", self.install_progress)
        form.addRow("Detector", self.detector)
        form.addRow("Detector weights", weights_row)
        form.addRow("Detection threshold", self.confidence)
        form.addRow("", self.remove_background)
        form.addRow(QLabel("<b>Identification and review</b>"))
        form.addRow("Model", model_row)
        form.addRow("", self.same_flank)
        form.addRow(QLabel("<b>Computing</b>"))
        form.addRow("Device", self.device)
        form.addRow("CPU threads", self.threads)
        for field in (self.detector, self.confidence, self.device, self.threads):  # the label explains as the field does
            label = form.labelForField(field)
            if label is not None:
                label.setToolTip(field.toolTip())
        self.note = QLabel("")
        self.note.setObjectName("settingsNote")
        self.note.setWordWrap(True)
        self.note.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)
        self.refresh_megadetector()
        if settings.device == "cuda" and self.cuda_name is None:
            self._say("CUDA was chosen, but PyTorch sees no NVIDIA GPU on this computer: “Automatic” is shown instead, "
                              "which uses the CPU here and CUDA on a computer that has a GPU.")

    def _say(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    # -- device ----------------------------------------------------------------------------------
    def _fill_devices(self, current: str) -> None:
        """auto and CPU always; CUDA only when torch sees a GPU. A saved "cuda" without one shows as auto."""
        best = f"CUDA — {self.cuda_name}" if self.cuda_name else "CPU (no CUDA GPU here)"
        self.device.addItem(f"Automatic: {best}", "auto")
        self.device.addItem("CPU", "cpu")
        if self.cuda_name:
            self.device.addItem(f"CUDA — {self.cuda_name}", "cuda")
        index = self.device.findData(current)
        self.device.setCurrentIndex(index if index >= 0 else 0)

    @property
    def devices(self) -> list[str]:
        return [self.device.itemData(i) for i in range(self.device.count())]

    # -- MegaDetector ----------------------------------------------------------------------------
    def refresh_megadetector(self) -> None:
        text, installable = megadetector_status(self.spec, self.models_dir)
        self.md_status.setText(text)
        self.install_button.setVisible(installable)
        self.install_button.setEnabled(installable and not self.installing)

    @property
    def installing(self) -> bool:
        return self.installer is not None

    def install_megadetector(self) -> None:
        if self.installing:
            return
        self.install_error = None
        runner = TaskRunner(install_task(self.spec, self.models_dir), "install-megadetector", self)
        runner.progress.connect(self._install_progress)
        runner.succeeded.connect(self._installed)
        runner.failed.connect(self._install_failed)
        if self._install_thread is not None:  # an earlier download's thread: its result came, so it is ending
            self._install_thread.wait()
            self._install_thread.deleteLater()
        self.installer = self._install_thread = runner
        self.install_button.setEnabled(False)
        self.install_cancel.setEnabled(True)
        self.install_cancel.show()
        self.install_progress.setRange(0, 0)  # busy until the server says how much
        self.install_progress.setFormat("connecting…")
        self.install_progress.show()
        self.md_status.setText(f"Downloading {self.spec.filename}…")
        runner.start()

    def cancel_install(self) -> None:
        if self.installer is not None:
            self.installer.cancel()
            self.install_cancel.setEnabled(False)
            self.md_status.setText("Cancelling the download…")

    def _install_progress(self, event: Progress) -> None:
        if event.total:
            self.install_progress.setRange(0, event.total)
            self.install_progress.setValue(event.done)
        self.install_progress.setFormat(event.text)

    def _install_ended(self) -> None:
        self.installer = None
        self.install_cancel.hide()
        self.install_progress.hide()
        self.refresh_megadetector()

    def _installed(self, path: Path) -> None:
        self._install_ended()
        self._say(f"MegaDetector installed and checked ({path}).")

    def _install_failed(self, message: str) -> None:
        cancelled = self.installer is not None and self.installer.cancelled
        self._install_ended()
        self.install_error = message
        self._say("Download cancelled; nothing was installed." if cancelled else f"MegaDetector was not installed: {message}")

    def done(self, result: int) -> None:
        """Closing the dialog stops a download (the partial file is removed) rather than leaving it running, and waits for
        the download's thread even when its result has come: the thread may still be returning."""
        if self.installer is not None:
            self.installer.cancel()
        if self._install_thread is not None:
            self._install_thread.wait()
        super().done(result)

    # -- files -----------------------------------------------------------------------------------
    def _browse_weights(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self, "Detector weights", self.weights.text(),
                                                "YOLO detector exported to ONNX (*.onnx);;All files (*)")
        if chosen:
            self.weights.setText(chosen)

    def _browse_model(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Identification model folder", self.model.text())
        if chosen:
            self.model.setText(chosen)

    def values(self) -> AppSettings:
        return replace(self._original, detector=self.detector.currentText(), detector_weights=self.weights.text().strip(),
                       confidence=float(self.confidence.value()), remove_background=self.remove_background.isChecked(),
                       device=self.device.currentData(), model=self.model.text().strip(), same_flank_only=self.same_flank.isChecked(),
                       threads=int(self.threads.value()))
