"""Edit the application settings: detector and its weights, thresholds, device, identification model."""

from __future__ import annotations

from dataclasses import replace

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
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pelage.ui.settings import DETECTORS, DEVICES, AppSettings


def cuda_available() -> bool:
    """Whether torch sees a CUDA device; False without importing torch when it is not loaded yet."""
    import sys

    torch = sys.modules.get("torch")
    return bool(torch is not None and torch.cuda.is_available())


class SettingsDialog(QDialog):
    def __init__(self, settings: AppSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self._original = settings

        self.detector = QComboBox()
        self.detector.addItems(DETECTORS)
        self.detector.setCurrentText(settings.detector)
        self.detector.setToolTip("auto: MegaDetector when installed, else the offline saliency detector")
        self.weights = QLineEdit(settings.detector_weights)
        self.weights.setPlaceholderText("the installed MegaDetector")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_weights)
        weights_row = QHBoxLayout()
        weights_row.addWidget(self.weights, 1)
        weights_row.addWidget(browse)
        self.confidence = QDoubleSpinBox()
        self.confidence.setRange(0.0, 1.0)
        self.confidence.setSingleStep(0.05)
        self.confidence.setDecimals(2)
        self.confidence.setValue(settings.confidence)
        self.remove_background = QCheckBox("Remove the background (U²-Net-p masks)")
        self.remove_background.setChecked(settings.remove_background)
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.device.setCurrentText(settings.device)
        self.device.setToolTip("cuda needs an NVIDIA GPU and a CUDA build of PyTorch")
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

        form = QFormLayout()
        form.addRow(QLabel("<b>Import</b>"))
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
        self.note = QLabel("")
        self.note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self.device.currentTextChanged.connect(self._device_note)

    def _device_note(self, device: str) -> None:
        self.note.setText("" if device != "cuda" or cuda_available() else
                          "No CUDA device was seen yet; if there is none, imports and identification will say so and stop.")

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
                       device=self.device.currentText(), model=self.model.text().strip(), same_flank_only=self.same_flank.isChecked(),
                       threads=int(self.threads.value()))
