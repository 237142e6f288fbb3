"""One animal on screen: an image pane with what a reviewer needs beside it (score, station, camera, time)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFrame, QGraphicsOpacityEffect, QLabel, QSizePolicy, QVBoxLayout, QWidget

from pelage.store.queries import AnimalRecord
from pelage.ui.image_view import ImagePane

DECISION_BADGES = {
    "match": ("✓ Same animal", "match"),
    "nonmatch": ("✗ Different animal", "nonmatch"),
    "notcomparable": ("≈ Not comparable", "notcomparable"),
    "skipped": ("→ Skipped", "skipped"),
    "saving": ("… saving", "saving"),
}
ANSWERED = ("match", "nonmatch", "notcomparable")  # an answer in force: the card is greyed, its slot kept
ANSWERED_OPACITY = 0.35


def describe_record(record: AnimalRecord, flank: object = None) -> str:
    """'ST01 · CAM-A · 2024-03-01 19:49:36 · left flank · #12' (unknowns are said, not hidden)."""
    when = record.time.strftime("%Y-%m-%d %H:%M:%S") if record.time else "time unknown"
    side = getattr(flank, "value", flank)
    parts = [record.station or "station unknown", record.camera or "camera ?", when, flank_words(record, side), f"#{record.id}"]
    return " · ".join(parts)


def flank_words(record: AnimalRecord, side: str | None) -> str:
    """'left flank, predicted 93 %', 'left flank, set by reviewer', 'flank unknown, too unsure to guess'."""
    said = f"{side} flank" if side else "flank unknown"
    source = record.flank_source
    if side != record.flank or source == "user":  # a reviewer's word, or one given since the record was read
        return f"{said}, set by reviewer" if source or side else said
    if source == "predicted" and record.flank_confidence is not None:
        return f"{said}, predicted {record.flank_confidence:.0%}".replace("%", " %") if side else f"{said}, too unsure to guess"
    return said


class AnimalCard(QFrame):
    """A titled image pane; ``selected`` and ``decision`` are styled by the stylesheet."""

    clicked = Signal(object)

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("animalCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = QLabel(title)
        self.title.setObjectName("cardTitle")
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)  # a long title wraps rather than widening the window
        self.badge = QLabel("")
        self.badge.setObjectName("decisionBadge")
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.badge.hide()
        self.pane = ImagePane(self)
        self.info = QLabel("")
        self.info.setObjectName("cardInfo")
        self.info.setWordWrap(True)
        self.info.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addWidget(self.title)
        layout.addWidget(self.pane, 1)
        layout.addWidget(self.badge)
        layout.addWidget(self.info)
        self.animal_id: int | None = None
        self.fade = QGraphicsOpacityEffect(self.pane)
        self.fade.setOpacity(ANSWERED_OPACITY)
        self.fade.setEnabled(False)
        self.pane.setGraphicsEffect(self.fade)
        self.pane.viewport().installEventFilter(self)  # the pane takes the press (to pan): a click on the photo selects too
        self.set_selected(False)

    def show_animal(self, animal_id: int | None, title: str, info: str, image: QImage | None, placeholder: str = "") -> None:
        self.animal_id = animal_id
        self.title.setText(title)
        self.info.setText(info)
        self.pane.set_image(image, placeholder or ("no cached image: re-run the import" if animal_id is not None else ""))
        self.set_decision(None)

    def clear(self, text: str = "") -> None:
        self.show_animal(None, "", "", None, text)

    def set_image(self, image: QImage | None) -> None:
        self.pane.set_image(image, "no cached image for this view" if self.animal_id is not None else "")

    def set_selected(self, selected: bool) -> None:
        self.setProperty("selected", selected)
        self._restyle()

    def set_decision(self, kind: str | None) -> None:
        """Show a decision badge (match, nonmatch, notcomparable, skipped, saving) or none; an answer greys the card."""
        if kind is None:
            self.badge.hide()
            self.setProperty("decision", "")
        else:
            text, style = DECISION_BADGES[kind]
            self.badge.setText(text)
            self.badge.show()
            self.setProperty("decision", style)
        self.fade.setEnabled(kind in ANSWERED)
        self.setProperty("answered", kind in ANSWERED)
        self._restyle()

    @property
    def greyed(self) -> bool:
        return self.fade.isEnabled()

    @property
    def decision_text(self) -> str:
        return "" if self.badge.isHidden() else self.badge.text()

    def _restyle(self) -> None:
        for widget in (self, self.title):  # the title's colour follows the card's properties too
            widget.style().unpolish(widget)
            widget.style().polish(widget)

    def mousePressEvent(self, event) -> None:
        self.clicked.emit(self)
        super().mousePressEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseButtonPress and watched is self.pane.viewport():
            self.clicked.emit(self)
        return False  # the pane still pans and zooms
