"""The training tab: teach the project's model its confirmed individuals in a worker process, then decide with figures.

The panel says in plain words what training does, how long it should take and what changes; methods and
knobs wait behind "Advanced". Before starting it asks :mod:`pelage.training.readiness` whether any
individuals can be set aside to check the result, and refuses when none can, offering only an explicit
"Adapt without checking" whose result is never called better or worse. It builds a
:class:`~pelage.training.events.TrainingSpec`, starts a worker process and polls its events on a timer
(nothing here imports torch); one bar shows the whole job. Pause keeps a checkpoint to resume; Cancel ends
the worker at once. Adopting embeds the project in another worker and only then switches models.
"""

from __future__ import annotations

from dataclasses import replace
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
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from pelage.training import events as ev
from pelage.training.progress import JobProgress
from pelage.ui.score_check import ScoreCheck

if TYPE_CHECKING:
    from pelage.training.readiness import ConfirmedPhotos, Readiness
    from pelage.training.registry import ModelEntry

FIGURES = (("map", "mAP"), ("rank1", "rank-1"), ("rank5", "rank-5"))
FIGURE_WORDS = ("ranking overall (mAP)", "right animal first (rank-1)", "right animal in the top 5 (rank-5)")

INTRO = ("<b>Training</b> teaches the identification model the animals of this survey, from the matches you confirmed "
         "in Review. A new model changes the similarity scores and the order of candidates shown in Review. "
         "Pelage keeps using the current model until you choose <i>Use the new model</i>; every model stays in the list "
         "below and can be chosen again.")


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
    """What training does and whether it can be checked, Start / Pause / Resume / Cancel, one progress bar, the
    before/after figures and Adopt; the method and its settings behind "Advanced"."""

    model_adopted = Signal(str)  # model id, once the project has been re-embedded with it

    def __init__(self, project_root: Path | str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project_root = Path(project_root)
        self.handle = None  # the running worker (training or adoption)
        self.finished_model: str | None = None
        self.readiness: Readiness | None = None
        self._confirmed: tuple[tuple, ConfirmedPhotos] | None = None  # (what was asked for, what the project held)
        self.pausing = False  # Pause pressed, the worker has not yet stopped
        self.job_progress = JobProgress()
        self._kind = ev.FINETUNE  # of the job running or last run
        self._embedding = False  # the running job is an adoption
        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._poll)
        self.refresh_models()

    # --- layout ---------------------------------------------------------------------------------------
    def _build(self) -> None:
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        self.readiness_label = QLabel()
        self.readiness_label.setWordWrap(True)

        self.start_model = QComboBox()
        self.start_model.currentIndexChanged.connect(lambda _: self.refresh_readiness(reread=True))
        self.use_button = QPushButton("Use this model")
        self.use_button.setToolTip("Describe every animal with the selected model and review with it (the current one stays in the list).")
        self.use_button.clicked.connect(lambda: self._embed(self.start_model.currentData()))
        models = QHBoxLayout()
        models.addWidget(QLabel("Model (training starts from it):"))
        models.addWidget(self.start_model, 1)
        models.addWidget(self.use_button)

        self.start_button = QPushButton("Start training")
        self.unchecked_button = QPushButton("Adapt without checking")
        self.unchecked_button.setToolTip("Train on every confirmed individual, with none set aside: nobody will be able to tell "
                                         "whether the new model is better.")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Stop after the current step and keep what was learnt; Resume carries on, even after a restart.")
        self.resume_button = QPushButton("Resume")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop now and throw this job away; the current model stays in use.")
        self.adopt_button = QPushButton("Use the new model")
        self.start_button.clicked.connect(lambda: self.start())
        self.unchecked_button.clicked.connect(self.start_unchecked)
        self.pause_button.clicked.connect(self.pause)
        self.resume_button.clicked.connect(self.resume)
        self.cancel_button.clicked.connect(self.cancel)
        self.adopt_button.clicked.connect(self.adopt)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.unchecked_button, self.pause_button, self.resume_button, self.cancel_button,
                       self.adopt_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.adopt_button.setEnabled(False)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setFormat("Not started")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.figures = QTableWidget(len(FIGURES), 3)
        self.figures.setHorizontalHeaderLabels(["current model", "new model", "change"])
        self.figures.setVerticalHeaderLabels(list(FIGURE_WORDS))
        self.figures.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.figures.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.figures.setFixedHeight(self.figures.horizontalHeader().sizeHint().height()
                                    + sum(self.figures.rowHeight(row) for row in range(len(FIGURES))) + 2 * self.figures.frameWidth())

        self.advanced_button = QToolButton()
        self.advanced_button.setText("Advanced: method and settings")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_button.toggled.connect(self._show_advanced)
        self.advanced = self._build_advanced()
        self.advanced.setVisible(False)
        self.score_check = ScoreCheck(self.project_root)

        content = QWidget()  # in a scroll area: with Advanced open the panel may be taller than the window
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        layout = QVBoxLayout(content)
        layout.addWidget(intro)
        layout.addLayout(models)
        layout.addWidget(self.readiness_label)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(QLabel("Measured on the animals set aside (never trained on):"))
        layout.addWidget(self.figures)
        layout.addWidget(self.score_check)
        layout.addWidget(self.advanced_button)
        layout.addWidget(self.advanced, 1)
        layout.addStretch(0)
        self._set_running(False)

    def _build_advanced(self) -> QWidget:
        box = QWidget()
        form = QFormLayout()
        self.kind = QComboBox()
        self.kind.addItem("Fine-tune on confirmed individuals", ev.FINETUNE)
        self.kind.addItem("Adapt to unconfirmed photos (unsupervised, FANCL)", ev.UNSUPERVISED)
        self.margin = QComboBox()
        self.margin.addItem("CosFace, adaptive margin", "adaptive")
        self.margin.addItem("CosFace, constant margin", "constant")
        self.triplet = QCheckBox("add batch-hard triplet loss")
        self.adaptive_l2 = QCheckBox("adaptive L2 (PGNet-AL2)")
        self.epochs = QSpinBox(minimum=1, maximum=200, value=8)
        self.learning_rate = QDoubleSpinBox(decimals=5, minimum=0.00001, maximum=0.01, singleStep=0.00005, value=1e-4)
        self.holdout = QDoubleSpinBox(minimum=0.1, maximum=0.5, singleStep=0.05, value=0.2)
        self.device = QComboBox()
        for label, value in (("automatic", None), ("CPU", "cpu"), ("CUDA", "cuda")):
            self.device.addItem(label, value)
        self.extra = QListWidget()
        self.extra.setMaximumHeight(48)
        add_extra = QPushButton("Add labelled folder…")
        add_extra.clicked.connect(self._add_extra_folder)
        for widget in (self.kind, self.holdout, self.epochs, self.device):
            signal = widget.currentIndexChanged if isinstance(widget, QComboBox) else widget.valueChanged
            signal.connect(lambda *_: self.refresh_readiness())
        form.addRow("Training", self.kind)
        form.addRow("Loss", self.margin)
        form.addRow("", self.triplet)
        form.addRow("", self.adaptive_l2)
        form.addRow("Epochs (passes)", self.epochs)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("Held-out share", self.holdout)
        form.addRow("Device", self.device)
        form.addRow(add_extra, self.extra)
        self.detail = QLabel()  # loss and speed of the running job
        self.plot = LivePlot()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(16, 0, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.detail)
        layout.addWidget(self.plot, 1)
        return box

    def _show_advanced(self, shown: bool) -> None:
        self.advanced.setVisible(shown)
        self.advanced_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def _add_extra_folder(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "labels.csv of a labelled folder", "", "CSV (*.csv)")
        if path:
            self.extra.addItem(f"{path}:{Path(path).parent}")

    # --- state ----------------------------------------------------------------------------------------
    def refresh_models(self) -> None:
        from pelage.store import open_project
        from pelage.training.registry import list_models

        self.start_model.blockSignals(True)
        self.start_model.clear()
        with open_project(self.project_root) as project, project.sessions() as session:
            entries = list_models(session)
        for entry in entries:
            label = f"{entry.name}{'  (in use)' if entry.active else ''}"
            self.start_model.addItem(label, entry.id)
            self.start_model.setItemData(self.start_model.count() - 1, describe_model(entry), Qt.ItemDataRole.ToolTipRole)
            if entry.active:
                self.start_model.setCurrentIndex(self.start_model.count() - 1)
        self.start_model.blockSignals(False)
        self.refresh_readiness(reread=True)

    def refresh_readiness(self, reread: bool = False) -> None:
        """Say whether the job the form describes can start and be checked, and roughly how long it takes.

        The project is read again only with ``reread`` (the tab shown, the models or the start model changed) or when
        the form asks for other photos; the form's other fields only change the split, computed here from what was read."""
        if self.handle is not None:
            return
        from pelage.training.readiness import read_confirmed

        spec = self.spec()
        key = (spec.parent, spec.min_images)
        try:
            if reread or self._confirmed is None or self._confirmed[0] != key:
                self._confirmed = (key, read_confirmed(spec))
            self.readiness = self._confirmed[1].readiness(spec)
        except ValueError as exc:  # a start model the registry no longer has, a project that cannot be read
            self.readiness = None
            self.readiness_label.setText(str(exc))
        else:
            self.readiness_label.setText(self.describe_readiness(self.readiness))
        self._set_running(False)

    def describe_readiness(self, ready: Readiness) -> str:
        from pelage.training.readiness import describe_duration, estimate_seconds, measured_speed

        if not ready.checked:
            text = "<b>Not enough confirmed individuals to check training.</b> " + ready.explain()
            if ready.can_start_unchecked:
                text += (" You can still choose <i>Adapt without checking</i>: it trains on all of them, and nobody will be able "
                         "to say whether the new model is better.")
            return text
        if self._spec_kind() == ev.UNSUPERVISED:
            return f"Ready: {ready.checkable} confirmed individuals will check whether adapting to the unconfirmed photos helps."
        text = (f"Ready: {ready.individuals} confirmed individuals ({ready.photos} photos); {ready.held_out} of them are set aside "
                "to check the result and never trained on.")
        speed = measured_speed(self.project_root, self.device.currentData())
        if speed is None:
            return text + " How long it takes is not known on this computer yet: the progress bar estimates it once training runs."
        return text + f" It should take {describe_duration(estimate_seconds(ready, self.spec(), speed))} on this computer."

    def _spec_kind(self) -> str:
        return self.kind.currentData()

    def _set_running(self, running: bool) -> None:
        ready = self.readiness
        finetune = self._spec_kind() == ev.FINETUNE
        self.start_button.setEnabled(not running and ready is not None and ready.checked and ready.can_start)
        self.unchecked_button.setVisible(finetune and ready is not None and not ready.checked and ready.can_start_unchecked)
        self.unchecked_button.setEnabled(not running)
        self.pause_button.setEnabled(running and not self.pausing)
        self.cancel_button.setEnabled(running)
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
                               learning_rate=self.learning_rate.value(), holdout_fraction=self.holdout.value(), extra_folders=extra)

    # --- actions --------------------------------------------------------------------------------------
    def start(self, spec: ev.TrainingSpec | None = None) -> bool:
        """Start the job if its result can be checked (or the spec says not to check); otherwise say why, start nothing."""
        from pelage.training.readiness import project_readiness
        from pelage.training.worker import start_job

        spec = spec or self.spec()
        try:
            ready = project_readiness(spec)
        except ValueError as exc:
            self.status.setText(f"Cannot start: {exc}")
            return False
        if not ready.can_start:
            self.status.setText(f"Not started. {ready.explain()}")
            return False
        self._kind = spec.kind
        self._begin(start_job(spec), "Starting the training process…")
        return True

    def start_unchecked(self, spec: ev.TrainingSpec | None = None) -> bool:
        """The user's explicit choice: fine-tune on every confirmed individual, with nothing set aside."""
        return self.start(replace(spec or self.spec(), kind=ev.FINETUNE, unchecked=True))

    def resume(self) -> None:
        from pelage.training.worker import resume_job

        paused = ev.resumable_jobs(self.project_root)
        if paused:
            self._kind = paused[-1].spec.kind
            self._begin(resume_job(str(self.project_root), paused[-1].job_id), "Resuming the paused training…")

    def pause(self) -> None:
        """Ask the worker to stop after its step; "Pausing…" shows until it says it has (and saved its checkpoint)."""
        if self.handle is not None:
            self.handle.cancel()
            self.pausing = True
            self.status.setText("Pausing… (saving what was learnt so far)")
            self.progress.setFormat("Pausing…")
            self.pause_button.setEnabled(False)

    def cancel(self) -> None:
        """End the worker now; the job is given up (not offered for Resume) and the previous model stays in use."""
        if self.handle is None:
            return
        handle, embedding = self.handle, self._embedding
        handle.stop()
        if not embedding:
            ev.mark_stopped(self.project_root, handle.job_id)
        self._stop(f"Cancelled. The project still uses {self._model_in_use()}.", done=False)

    def _model_in_use(self) -> str:
        for index in range(self.start_model.count()):
            if self.start_model.itemText(index).endswith("(in use)"):
                return self.start_model.itemText(index).removesuffix("(in use)").strip()
        return "the previous model"

    def adopt(self) -> None:
        if self.finished_model:
            self._embed(self.finished_model)

    def _embed(self, model_id: str | None) -> None:
        from pelage.training.worker import start_embedding

        if model_id:
            self._begin(start_embedding(str(self.project_root), model_id), f"Describing every animal with {model_id}…", embedding=True)

    def _begin(self, handle, message: str, embedding: bool = False) -> None:
        self.handle = handle
        self._embedding = embedding
        self.pausing = False
        self.job_progress = JobProgress()
        self.plot.clear()
        self.detail.clear()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setFormat(f"%p% · {self.job_progress.phase}")
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
        self.score_check.shutdown()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        """Matches confirmed in Review since the last visit change what training can do."""
        super().showEvent(event)
        self.refresh_readiness(reread=True)

    # --- events ---------------------------------------------------------------------------------------
    def _poll(self) -> None:
        if self.handle is None:
            return
        for event in self.handle.poll():
            self.handle_event(event)

    def _show_progress(self, event: object) -> None:
        self.job_progress.update(event)
        self.progress.setValue(round(self.job_progress.percent))
        if self.pausing:
            return  # "Pausing…" stays until the worker has stopped
        self.progress.setFormat(f"%p% · {self.job_progress.phase}")
        if isinstance(event, ev.Stage | ev.Progress):
            self.status.setText(self.job_progress.phase)

    def handle_event(self, event: object) -> None:
        self._show_progress(event)
        if isinstance(event, ev.Progress):
            self.detail.setText(f"epoch {event.epoch}, step {event.step}/{event.steps}: loss {event.loss:.3f}, "
                                f"{event.images_per_s:.1f} images/s")
            self.plot.add_loss(event.loss, event.steps)
        elif isinstance(event, ev.Validation):
            self.plot.add_validation(event.epoch, event.metrics.get("map", 0.0), event.before.get("map"))
            self.show_figures(event.before, event.metrics)
        elif isinstance(event, ev.Finished):
            self._finished(event)
        elif isinstance(event, ev.Cancelled):
            self._stop(f"Paused in pass {event.epoch} after step {event.step}; Resume carries on from there. "
                       "The current model stays in use.", done=False)
        elif isinstance(event, ev.Failed):
            self._stop(f"Training stopped: {event.message}", done=False)
        elif isinstance(event, ev.Embedded):
            if event.cancelled:
                self._stop("Paused before every animal was described; the previous model stays in use.", done=False)
            else:
                self._stop(f"Now using {event.model_id}: {event.embedded} animals described again, ready for Review.")
                self.model_adopted.emit(event.model_id)

    def _finished(self, event: ev.Finished) -> None:
        from pelage.training.readiness import BETTER, NOT_CHECKED, verdict

        self.show_figures(event.metrics.get("before") or {}, event.metrics.get("after") or {})
        self.finished_model = event.model_id
        outcome = verdict(event.metrics)
        # Unsupervised adaptation is only offered where it helps; a fine-tune is the user's call, figures in view.
        self.adopt_button.setEnabled(outcome == BETTER or self._kind == ev.FINETUNE)
        if outcome == NOT_CHECKED:
            message = ("Finished, not checked: no animals were set aside, so nobody can say whether the new model is better. "
                       "Use it only if you want to try it; the current model stays in the list and can be chosen again.")
        elif self.adopt_button.isEnabled():
            message = (f"Finished: the new model is {outcome} on the animals set aside. Choose Use the new model to review with it; "
                       "the current model can be chosen again.")
        else:
            message = f"Finished: the new model is {outcome} on the animals set aside. It is kept in the list."
        self._stop(message)

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

    def _stop(self, message: str, done: bool = True) -> None:
        self._timer.stop()
        if self.handle is not None:
            self.handle.join(5)
        self.handle = None
        self.pausing = False
        if done:
            self.progress.setValue(100)
        self.progress.setFormat("%p% · " + ("Done" if done else "Stopped"))
        self.status.setText(message)
        self.refresh_models()
        self._set_running(False)
