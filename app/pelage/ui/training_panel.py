"""The training tab: fine-tune (or adapt) the project's model in a worker process, watch it learn, decide with figures.

The panel only builds a :class:`~pelage.training.events.TrainingSpec`, starts a worker process and polls
its events on a timer; nothing here imports torch, so the window stays as quick as before. A model is
adopted only from the before/after table on held-out individuals; an unsupervised adaptation is offered
only when those figures improved. Adopting embeds the project in another worker and then switches.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pelage.training import events as ev

if TYPE_CHECKING:
    from pelage.training.registry import ModelEntry

FIGURES = (("map", "mAP"), ("rank1", "rank-1"), ("rank5", "rank-5"))


def describe_model(entry: ModelEntry) -> str:
    """A registry entry in one tooltip: where it came from and its held-out figures, to choose a start model by."""
    if entry.bundled or entry.parent is None:
        return f"{entry.id}\nbundled with Pelage (see its model card)"
    lines = [entry.id, f"fine-tuned from {entry.parent}" + (f" on {entry.created:%Y-%m-%d %H:%M}" if entry.created else "")]
    data = entry.data or {}
    if data.get("individuals"):
        lines.append(f"trained on {data['individuals']} individuals, {data.get('images', '?')} photos")
    metrics = entry.metrics or {}
    before, after = metrics.get("before") or {}, metrics.get("after") or {}
    figures = [f"{label} {before[key]:.3f} → {after[key]:.3f}" for key, label in FIGURES if key in before and key in after]
    if figures:
        lines.append("held out: " + ", ".join(figures))
    return "\n".join(lines)


class LivePlot(QWidget):
    """Training loss per step (left scale) and held-out mAP per epoch with the start model's as a dashed line (right scale)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(160)
        self.losses: list[float] = []
        self.validation: list[tuple[float, float]] = []  # (position in steps, mAP)
        self.before: float | None = None
        self.steps_per_epoch = 1

    def clear(self) -> None:
        self.losses, self.validation, self.before = [], [], None
        self.update()

    def add_loss(self, loss: float, steps_per_epoch: int) -> None:
        self.losses.append(loss)
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.update()

    def add_validation(self, epoch: int, value: float, before: float | None) -> None:
        self.validation.append((epoch * self.steps_per_epoch, value))
        self.before = before
        self.update()

    def map_range(self) -> tuple[float, float]:
        """The mAP scale: the figures with some room around them, so a change of 0.01 is visible (within 0–1)."""
        values = [value for _, value in self.validation] + ([self.before] if self.before is not None else [])
        if not values:
            return 0.0, 1.0
        room = max(0.02, 0.25 * (max(values) - min(values)))
        return max(0.0, min(values) - room), min(1.0, max(values) + room)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = self.rect().adjusted(36, 8, -36, -18)
        painter.fillRect(self.rect(), self.palette().base())
        painter.setPen(self.palette().mid().color())
        painter.drawRect(area)
        span = max(len(self.losses), max((x for x, _ in self.validation), default=0), 1)

        def point(x: float, y: float, low: float, high: float) -> QPointF:
            return QPointF(area.left() + area.width() * x / span, area.bottom() - area.height() * (y - low) / max(high - low, 1e-9))

        if self.losses:
            low, high = min(self.losses), max(self.losses)
            painter.setPen(QPen(QColor("#1f77b4"), 1.5))
            painter.drawPolyline([point(i + 1, value, low, high) for i, value in enumerate(self.losses)])
            painter.drawText(2, area.top() + 10, f"{high:.2f}")
            painter.drawText(2, area.bottom(), f"{low:.2f}")
        low, high = self.map_range()
        if self.before is not None:
            painter.setPen(QPen(QColor("#7f7f7f"), 1, Qt.PenStyle.DashLine))
            painter.drawLine(point(0, self.before, low, high), point(span, self.before, low, high))
        if self.validation:
            painter.setPen(QPen(QColor("#d62728"), 2))
            points = [point(x, y, low, high) for x, y in self.validation]
            painter.drawPolyline(points) if len(points) > 1 else painter.drawEllipse(points[0], 3, 3)
        if self.validation or self.before is not None:
            painter.setPen(QColor("#d62728"))
            painter.drawText(area.right() + 2, area.top() + 10, f"{high:.2f}")
            painter.drawText(area.right() + 2, area.bottom(), f"{low:.2f}")
        painter.setPen(self.palette().text().color())
        painter.drawText(area.left(), self.height() - 4, "loss (blue), held-out mAP (red; dashed: current model)")
        painter.end()


class TrainingPanel(QWidget):
    """Recipe form, start/pause/resume, progress, live plot, before/after figures and Adopt."""

    model_adopted = Signal(str)  # model id, once the project has been re-embedded with it

    def __init__(self, project_root: Path | str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project_root = Path(project_root)
        self.handle = None  # the running worker (training or adoption)
        self.finished_model: str | None = None
        self._kind = ev.FINETUNE  # of the job running or last run
        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._poll)
        self.refresh_models()

    # --- layout ---------------------------------------------------------------------------------------
    def _build(self) -> None:
        form = QFormLayout()
        self.start_model = QComboBox()
        self.kind = QComboBox()
        self.kind.addItem("Fine-tune on confirmed individuals", ev.FINETUNE)
        self.kind.addItem("Adapt to unconfirmed photos (unsupervised)", ev.UNSUPERVISED)
        self.margin = QComboBox()
        self.margin.addItem("CosFace, adaptive margin", "adaptive")
        self.margin.addItem("CosFace, constant margin", "constant")
        self.triplet = QCheckBox("add batch-hard triplet loss")
        self.adaptive_l2 = QCheckBox("adaptive L2 (PGNet-AL2)")
        self.epochs = QSpinBox(minimum=1, maximum=200, value=8)
        self.holdout = QDoubleSpinBox(minimum=0.1, maximum=0.5, singleStep=0.05, value=0.2)
        self.device = QComboBox()
        for label, value in (("automatic", None), ("CPU", "cpu"), ("CUDA", "cuda")):
            self.device.addItem(label, value)
        self.extra = QListWidget()
        self.extra.setMaximumHeight(48)
        add_extra = QPushButton("Add labelled folder…")
        add_extra.clicked.connect(self._add_extra_folder)
        form.addRow("Start from", self.start_model)
        form.addRow("Training", self.kind)
        form.addRow("Loss", self.margin)
        form.addRow("", self.triplet)
        form.addRow("", self.adaptive_l2)
        form.addRow("Epochs", self.epochs)
        form.addRow("Held-out share", self.holdout)
        form.addRow("Device", self.device)
        form.addRow(add_extra, self.extra)

        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.adopt_button = QPushButton("Adopt new model")
        self.use_button = QPushButton("Use selected start model")
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.pause)
        self.resume_button.clicked.connect(self.resume)
        self.adopt_button.clicked.connect(self.adopt)
        self.use_button.clicked.connect(lambda: self._embed(self.start_model.currentData()))
        buttons = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.resume_button, self.adopt_button, self.use_button):
            buttons.addWidget(button)

        self.progress = QProgressBar()
        self.status = QLabel("Idle.")
        self.status.setWordWrap(True)
        self.plot = LivePlot()
        self.figures = QTableWidget(len(FIGURES), 3)
        self.figures.setHorizontalHeaderLabels(["current model", "new model", "change"])
        self.figures.setVerticalHeaderLabels([label for _, label in FIGURES])
        self.figures.setMaximumHeight(120)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 1)
        layout.addWidget(QLabel("Held-out individuals (never trained on):"))
        layout.addWidget(self.figures)
        self._set_running(False)

    def _add_extra_folder(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "labels.csv of a labelled folder", "", "CSV (*.csv)")
        if path:
            self.extra.addItem(f"{path}:{Path(path).parent}")

    # --- state ----------------------------------------------------------------------------------------
    def refresh_models(self) -> None:
        from pelage.store import open_project
        from pelage.training.registry import list_models

        self.start_model.clear()
        with open_project(self.project_root) as project, project.sessions() as session:
            entries = list_models(session)
        for entry in entries:
            label = f"{entry.name}{'  (in use)' if entry.active else ''}"
            self.start_model.addItem(label, entry.id)
            self.start_model.setItemData(self.start_model.count() - 1, describe_model(entry), Qt.ItemDataRole.ToolTipRole)
            if entry.active:
                self.start_model.setCurrentIndex(self.start_model.count() - 1)
        self.resume_button.setEnabled(self.handle is None and bool(ev.resumable_jobs(self.project_root)))

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.resume_button.setEnabled(not running and bool(ev.resumable_jobs(self.project_root)))
        self.use_button.setEnabled(not running)
        if running:
            self.adopt_button.setEnabled(False)

    def spec(self) -> ev.TrainingSpec:
        """The job the form describes."""
        extra = tuple(tuple(self.extra.item(i).text().rsplit(":", 1)) for i in range(self.extra.count()))
        return ev.TrainingSpec(project_root=str(self.project_root), kind=self.kind.currentData(), parent=self.start_model.currentData(),
                               epochs=self.epochs.value(), device=self.device.currentData(), margin_function=self.margin.currentData(),
                               triplet_weight=0.5 if self.triplet.isChecked() else 0.0, adaptive_l2=self.adaptive_l2.isChecked(),
                               holdout_fraction=self.holdout.value(), extra_folders=extra)

    # --- actions --------------------------------------------------------------------------------------
    def start(self, spec: ev.TrainingSpec | None = None) -> None:
        from pelage.training.worker import start_job

        spec = spec or self.spec()
        self._kind = spec.kind
        self._begin(start_job(spec), "Starting the training process…")

    def resume(self) -> None:
        from pelage.training.worker import resume_job

        paused = ev.resumable_jobs(self.project_root)
        if paused:
            self._kind = paused[-1].spec.kind
            self._begin(resume_job(str(self.project_root), paused[-1].job_id), f"Resuming {paused[-1].job_id}…")

    def pause(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.status.setText("Pausing after the current step…")
            self.pause_button.setEnabled(False)

    def adopt(self) -> None:
        if self.finished_model:
            self._embed(self.finished_model)

    def _embed(self, model_id: str | None) -> None:
        from pelage.training.worker import start_embedding

        if model_id:
            self._begin(start_embedding(str(self.project_root), model_id), f"Embedding the project with {model_id}…")

    def _begin(self, handle, message: str) -> None:
        self.handle = handle
        self.plot.clear()
        self.progress.setRange(0, 0)
        self.status.setText(message)
        self._set_running(True)
        self._timer.start()

    def shutdown(self, timeout: float = 20.0) -> None:
        """Pause a running job and wait for its checkpoint (call when the window closes)."""
        if self.handle is not None and self.handle.running:
            self.handle.cancel()
            self.handle.join(timeout)
            self.handle.kill()
        self._timer.stop()

    # --- events ---------------------------------------------------------------------------------------
    def _poll(self) -> None:
        if self.handle is None:
            return
        for event in self.handle.poll():
            self.handle_event(event)

    def handle_event(self, event: object) -> None:
        if isinstance(event, ev.Stage):
            if event.total:
                self.progress.setRange(0, event.total)
                self.progress.setValue(event.done)
            self.status.setText(f"{event.stage}…")
        elif isinstance(event, ev.Progress):
            self.progress.setRange(0, event.steps)
            self.progress.setValue(event.step)
            self.status.setText(f"Epoch {event.epoch}, step {event.step}/{event.steps}: loss {event.loss:.3f}, "
                                f"{event.images_per_s:.1f} images/s, about {event.eta_s / 60:.1f} min left")
            self.plot.add_loss(event.loss, event.steps)
        elif isinstance(event, ev.Validation):
            self.plot.add_validation(event.epoch, event.metrics.get("map", 0.0), event.before.get("map"))
            self.show_figures(event.before, event.metrics)
        elif isinstance(event, ev.Finished):
            self.show_figures(event.metrics["before"], event.metrics["after"])
            self.finished_model = event.model_id
            kind = self._kind
            better = bool(event.metrics.get("improved"))
            # Unsupervised adaptation is only offered where it helps; a fine-tune is the user's call, figures in view.
            self.adopt_button.setEnabled(better or kind == ev.FINETUNE)
            self._stop("Finished: the new model is " + ("better" if better else "NOT better") + " on held-out individuals. "
                       + ("Adopt it to re-embed the project." if self.adopt_button.isEnabled() else "It is kept in the registry."))
        elif isinstance(event, ev.Cancelled):
            self._stop(f"Paused in epoch {event.epoch} after step {event.step}; Resume carries on from there.")
        elif isinstance(event, ev.Failed):
            self._stop(f"Training stopped: {event.message}")
        elif isinstance(event, ev.Embedded):
            if event.cancelled:
                self._stop("Embedding paused; the previous model stays in use.")
            else:
                self._stop(f"Now using {event.model_id}: {event.embedded} animals embedded, index rebuilt.")
                self.model_adopted.emit(event.model_id)

    def show_figures(self, before: dict, after: dict) -> None:
        for row, (key, _) in enumerate(FIGURES):
            for column, figures in enumerate((before, after)):
                value = figures.get(key)
                self.figures.setItem(row, column, QTableWidgetItem("–" if value is None else f"{value:.3f}"))
            change = QTableWidgetItem("–")
            if before.get(key) is not None and after.get(key) is not None:
                delta = after[key] - before[key]
                change.setText(f"{delta:+.3f}")
                if round(delta, 3) != 0:
                    change.setForeground(QColor("#2ca02c" if delta > 0 else "#d62728"))
            self.figures.setItem(row, 2, change)

    def _stop(self, message: str) -> None:
        self._timer.stop()
        if self.handle is not None:
            self.handle.join(5)
        self.handle = None
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.status.setText(message)
        self._set_running(False)
        self.refresh_models()
