"""The shortcut help overlay and the full-resolution viewer."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QImage, QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import QApplication, QDialog, QHBoxLayout, QLabel, QVBoxLayout, QWidget
from shiboken6 import isValid

from pelage.ui.cards import AnimalCard
from pelage.ui.shortcuts import help_rows


class HelpOverlay(QWidget):
    """Every shortcut over a dimmed window; any key or click closes it.

    It takes the keyboard while shown (so the key that closes it does nothing else) and gives it back to the
    widget that had it: the review's keys only work while the focus is inside the review.
    """

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("helpOverlay")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, False)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        rows = []
        group = None
        for section, keys, text in help_rows():
            if section != group:
                rows.append(f"<tr><td colspan=2 style='padding-top:10px'><b style='color:#ffb000'>{section}</b></td></tr>")
                group = section
            rows.append(f"<tr><td style='padding-right:18px'><b>{keys}</b></td><td>{text}</td></tr>")
        self.text = QLabel("<h2>Keyboard shortcuts</h2><table>" + "".join(rows) + "</table>"
                           "<p style='color:#9aa0a6'>Mouse: wheel zooms every image together, drag pans, double-click fits. "
                           "Press any key to close.</p>")
        self.text.setObjectName("helpText")
        self.text.setTextFormat(Qt.TextFormat.RichText)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text, 0, Qt.AlignmentFlag.AlignCenter)
        parent.installEventFilter(self)
        self._focus_before: QWidget | None = None
        self.hide()

    def toggle(self) -> None:
        if self.isVisible():
            self.hide()
        else:
            focused = QApplication.focusWidget()
            self._focus_before = focused if focused is not None and focused is not self else None
            self.setGeometry(self.parentWidget().rect())
            self.raise_()
            self.show()
            self.setFocus()

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        before, self._focus_before = self._focus_before, None
        parent = self.parentWidget()
        if parent is None or not parent.window().isVisible():
            return
        if before is not None and isValid(before) and before.isVisible():
            before.setFocus(Qt.FocusReason.OtherFocusReason)
        else:
            parent.setFocus()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parentWidget() and event.type() == QEvent.Type.Resize and self.isVisible():
            self.setGeometry(self.parentWidget().rect())
        return False

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(10, 12, 16, 225))

    def keyPressEvent(self, event) -> None:
        self.hide()

    def mousePressEvent(self, event) -> None:
        self.hide()


class FullResolutionDialog(QDialog):
    """The anchor's and a candidate's original photos at full resolution, each zoomed to its animal.

    The panes are not linked: the two animals sit at different places in photos of different sizes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Full resolution")
        self.resize(1400, 800)
        self.cards: list[AnimalCard] = []
        row = QHBoxLayout()
        for _ in range(2):
            card = AnimalCard()
            self.cards.append(card)
            row.addWidget(card)
        hint = QLabel("Wheel: zoom · drag: pan · double-click: whole photo · Esc: close")
        hint.setObjectName("cardInfo")
        layout = QVBoxLayout(self)
        layout.addLayout(row, 1)
        layout.addWidget(hint)
        QShortcut(QKeySequence("F"), self, self.close)

    def show_photos(self, photos: list[tuple[int, str, str, QImage | None, tuple[float, float, float, float] | None]]) -> None:
        """(id, title, info, image, box) per photo; the box is outlined and zoomed to."""
        for card, (animal_id, title, info, image, box) in zip(self.cards, photos, strict=False):
            card.show_animal(animal_id, title, info, image, "original photo not found")
            if image is not None and box is not None:
                card.pane.mark_box(box)
        for card in self.cards[len(photos):]:
            card.hide()
