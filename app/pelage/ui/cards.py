"""One animal on screen: an image pane with what a reviewer needs beside it (score, station, camera, time)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QVBoxLayout, QWidget

from pelage.store.queries import AnimalRecord
from pelage.ui.image_view import ImagePane

DECISION_BADGES = {
    "match": ("✓ Match", "match"),
    "nonmatch": ("✗ Not a match", "nonmatch"),
    "notcomparable": ("≈ Not comparable", "notcomparable"),
    "skipped": ("→ Skipped", "skipped"),
    "saving": ("… saving", "saving"),
}


def describe_record(record: AnimalRecord, flank: object = None) -> str:
    """'ST01 · CAM-A · 2024-03-01 19:49:36 · left flank · #12' (unknowns are said, not hidden)."""
    when = record.time.strftime("%Y-%m-%d %H:%M:%S") if record.time else "time unknown"
    side = getattr(flank, "value", flank)
    parts = [record.station or "station unknown", record.camera or "camera ?", when, f"{side} flank" if side else "flank unknown",
             f"#{record.id}"]
    return " · ".join(parts)


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
        """Show a decision badge (match, nonmatch, notcomparable, skipped, saving) or none."""
        if kind is None:
            self.badge.hide()
            self.setProperty("decision", "")
        else:
            text, style = DECISION_BADGES[kind]
            self.badge.setText(text)
            self.badge.show()
            self.setProperty("decision", style)
        self._restyle()

    @property
    def decision_text(self) -> str:
        return "" if self.badge.isHidden() else self.badge.text()

    def _restyle(self) -> None:
        self.style().unpolish(self)
        self.style().polish(self)

    def mousePressEvent(self, event) -> None:
        self.clicked.emit(self)
        super().mousePressEvent(event)
