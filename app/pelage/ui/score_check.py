"""Training tab: do the "% same animal" scores fit this project's decisions? Check them, and adjust them if not.

A thin view over :func:`pelage.review.calibration.calibrate_project` (run on a worker thread: it verifies the
spots of every decided pair): the figures in words, and a reliability curve — for each band of shown scores, how
often the pairs in it really were the same animal. The refit is saved in the project and ``refitted`` tells the
window to reopen the review with it.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from pelage.reid.calibration import MIN_EACH, CalibrationCheck
from pelage.ui.workers import TaskRunner

INTRO = ('<b>Do the scores fit your animals?</b> The "% same animal" shown in review was learnt on nyala photos. Once you '
         f"have confirmed {MIN_EACH} matches and rejected {MIN_EACH} candidates, Pelage can check the scores against your own "
         "decisions and adjust them for this project.")


class ReliabilityPlot(QWidget):
    """Shown score (x) against how often it came true (y) on decisions each fit did not see; on the diagonal is perfect."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(250, 250)
        self.check: CalibrationCheck | None = None

    def show_check(self, check: CalibrationCheck | None) -> None:
        self.check = check
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        side = min(self.width() - 54, self.height() - 62)
        frame = QRectF(40, 12, side, side)
        area = frame.adjusted(8, 8, -8, -8)  # room for the dots at 0 % and 100 %
        painter.setPen(self.palette().mid().color())
        painter.drawRect(frame)

        def point(x: float, y: float) -> QPointF:
            return QPointF(area.left() + area.width() * x, area.bottom() - area.height() * y)

        painter.setPen(QPen(QColor("#7f7f7f"), 1, Qt.PenStyle.DashLine))
        painter.drawLine(point(0, 0), point(1, 1))
        if self.check is not None and self.check.bins:
            largest = max(b.count for b in self.check.bins)
            painter.setPen(QPen(QColor("#1f77b4"), 2))
            painter.drawPolyline([point(b.predicted, b.observed) for b in self.check.bins])
            painter.setBrush(QColor("#1f77b4"))
            for b in self.check.bins:
                radius = 2.0 + 5.0 * (b.count / largest) ** 0.5
                painter.drawEllipse(point(b.predicted, b.observed), radius, radius)
        painter.setPen(self.palette().text().color())
        metrics = painter.fontMetrics()
        painter.drawText(int(frame.left()) - metrics.horizontalAdvance("100%") - 4, int(point(0, 1).y()) + 4, "100%")
        painter.drawText(int(frame.left()) - metrics.horizontalAdvance("0%") - 4, int(point(0, 0).y()) + 4, "0%")
        below = int(frame.bottom()) + metrics.height()
        painter.drawText(int(point(0, 0).x()) - 6, below, "0%")
        painter.drawText(int(point(1, 0).x()) - metrics.horizontalAdvance("100%") + 6, below, "100%")
        painter.drawText(int(frame.left()), below + metrics.height(), "score shown →")
        painter.drawText(int(frame.left()), below + 2 * metrics.height(), "↑ how often it was right")
        painter.end()


def describe(check: CalibrationCheck, matches: int, rejections: int, saved: bool) -> str:
    """The check in plain words first, the figures after."""
    # Compared as shown (three decimals), so the words never claim a gain the figures below do not show.
    better = round(check.ece, 3) < round(check.prior_ece, 3)
    verdict = ("Adjusted to your decisions, the scores fit them better than the nyala ones." if better
               else "The nyala scores already fit your decisions about as well as an adjustment would.")
    return (f"{verdict}{' Review now shows the adjusted scores.' if saved else ''}\n\n"
            f"Checked on {matches} confirmed matches and {rejections} rejections, each time on decisions the adjustment had not "
            f'seen. Calibration error {check.ece:.3f} adjusted, {check.prior_ece:.3f} before (0 is perfect: "80 %" comes true 4 '
            f"times in 5). A true match scores above a non-match {100 * check.auc:.0f} % of the time ({100 * check.prior_auc:.0f} % "
            "before). On the curve, dots on the dashed line are scores that came true as often as they said.")


class ScoreCheck(QWidget):
    refitted = Signal()  # the project's scores were adjusted: reopen the review with them

    def __init__(self, project_root: Path | str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project_root = Path(project_root)
        self._runner: TaskRunner | None = None
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        self.button = QPushButton("Check and adjust the scores")
        self.button.setToolTip("Scores every pair you decided as review does (a few seconds per hundred pairs), checks the fit "
                               "by cross-validation, and keeps the adjustment in the project.")
        self.button.clicked.connect(self.run_check)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.plot = ReliabilityPlot()
        self.plot.setVisible(False)
        row = QHBoxLayout()
        row.addWidget(self.result, 1, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(intro)
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addLayout(row)

    def run_check(self) -> None:
        if self._runner is not None:
            return
        root = self.project_root

        def task(_report, _should_stop):
            from pelage.review.calibration import calibrate_project
            from pelage.review.model import resolve_review_model
            from pelage.store import open_project

            with open_project(root) as project:
                model = resolve_review_model(project, project_calibration=False)
                return calibrate_project(project, model.model_id, model.calibration)

        self.button.setEnabled(False)
        self.result.setText("Checking the scores of every pair you decided…")
        self._runner = TaskRunner(task, name="score-check", parent=self)
        self._runner.succeeded.connect(self._show)
        self._runner.failed.connect(lambda message: self._done(f"Could not check the scores: {message}"))
        self._runner.start()

    def _show(self, outcome) -> None:
        if outcome.check is None:
            self._done(f"Not enough decisions yet: {outcome.matches} confirmed matches and {outcome.rejections} rejections; "
                       f"it needs {MIN_EACH} of each. Review goes on with the nyala scores.")
            self.plot.setVisible(False)
            return
        self.plot.show_check(outcome.check)
        self.plot.setVisible(True)
        self._done(describe(outcome.check, outcome.matches, outcome.rejections, outcome.path is not None))
        if outcome.path is not None:
            self.refitted.emit()

    def _done(self, text: str) -> None:
        self.result.setText(text)
        self.button.setEnabled(True)
        if self._runner is not None:
            self._runner.wait()
            self._runner = None

    def shutdown(self) -> None:
        if self._runner is not None:
            self._runner.wait()
