"""Help ▸ User guide: the illustrated guide in ``resources/guide``, shown in the app so it works offline.

The guide is a plain HTML file that uses the README's screenshots (``resources/screenshots``, which
``make screenshots`` keeps current), so the pictures never drift from the window they describe.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from pelage.ui.resources import RESOURCES


def guide_path() -> Path:
    return RESOURCES / "guide" / "index.html"


class UserGuideDialog(QDialog):
    """A window beside the main one (not modal): the guide can stay open while the user follows it."""

    def __init__(self, parent: QWidget | None = None, path: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Pelage user guide")
        self.setModal(False)
        self.resize(900, 820)
        self.browser = QTextBrowser()
        self.browser.setObjectName("userGuide")
        self.browser.setOpenLinks(True)
        self.browser.setOpenExternalLinks(False)  # offline: only the guide's own anchors
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.path = path or guide_path()
        self.found = self.path.is_file()
        if self.found:
            self.browser.setSource(QUrl.fromLocalFile(str(self.path.resolve())))
        else:
            self.browser.setPlainText(f"The user guide is not where it should be ({self.path}); this copy of Pelage is incomplete. "
                                      "The README next to the program describes the same steps.")
