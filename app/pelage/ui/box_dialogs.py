"""Two small questions about one detection: why it is not usable, and where its box really is."""

from __future__ import annotations

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QInputDialog, QLabel, QVBoxLayout, QWidget

from pelage.ui.box_pane import Box, BoxDrawingPane

REASONS = ("wrong animal (another species)", "not an animal (a rock, a branch…)", "only a tail or a leg", "too blurred or too dark",
           "two animals in one box")


NOT_AN_ANIMAL = REASONS[1]


def ask_unusable_reason(parent: QWidget, animal_id: int, suggested: str = REASONS[0]) -> str | None:
    """The reason to set ``animal_id`` aside (one of :data:`REASONS`, ``suggested`` first selected, or the user's own words);
    None if cancelled."""
    reason, ok = QInputDialog.getItem(parent, "Not usable", f"Why can animal #{animal_id} not be used? The exports list it with "
                                      "this reason;\nthe Photos to check tab can restore it.", list(REASONS),
                                      REASONS.index(suggested), True)
    return reason.strip() if ok and reason.strip() else None


class RedrawDialog(QDialog):
    """The whole photo with the detection's box in grey: drag a new box, then "Use this box"."""

    def __init__(self, animal_id: int, image: QImage, box: Box, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Draw the box of animal #{animal_id} again")
        self.resize(1100, 760)
        self.pane = BoxDrawingPane()
        hint = QLabel("The dashed grey box is the one found now. Drag a new box around the whole animal with the mouse "
                      "(wheel: zoom; double-click: whole photo), then press “Use this box”.")
        hint.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Use this box")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.pane.box_drawn.connect(lambda _box: self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True))
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addWidget(self.pane, 1)
        layout.addWidget(self.buttons)
        self.pane.show_photo(image, box)

    @property
    def box(self) -> Box | None:
        return self.pane.box
