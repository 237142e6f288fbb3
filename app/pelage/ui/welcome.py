"""What the window shows with no project open: the three ways to start, one plain line each.

A first-time user sees where to begin instead of an empty review; the recent projects are there too,
for the days the last one is not reopened by itself (moved, or on a drive that is not plugged in).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

# (button text, object name, what it does in one plain line)
CHOICES = (
    ("New project…", "newProjectButton", "Choose an empty folder to hold one season: its photos' animals, your decisions and exports."),
    ("Open project…", "openProjectButton", "Carry on with a season you started before (the folder you chose for it)."),
    ("Import photos…", "importPhotosButton", "Start from a memory card or a folder of camera-trap photos: make a project, then read them in."),
)
MAX_SHOWN_RECENT = 5


class WelcomeView(QWidget):
    new_requested = Signal()
    open_requested = Signal()
    import_requested = Signal()
    recent_requested = Signal(str)  # a project folder from the recent list

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcome")
        title = QLabel("Pelage")
        title.setObjectName("welcomeTitle")
        intro = QLabel("Tell individual spotted and striped animals apart in camera-trap photos, offline. "
                       "A project holds one season; start here:")
        intro.setWordWrap(True)
        grid = QGridLayout()
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(14)
        self.buttons: dict[str, QPushButton] = {}
        signals = (self.new_requested, self.open_requested, self.import_requested)
        for row, ((text, name, line), signal) in enumerate(zip(CHOICES, signals, strict=True)):
            button = QPushButton(text)
            button.setObjectName(name)
            button.setMinimumWidth(170)
            button.clicked.connect(signal.emit)
            label = QLabel(line)
            label.setObjectName("welcomeLine")
            label.setWordWrap(True)
            grid.addWidget(button, row, 0)
            grid.addWidget(label, row, 1)
            self.buttons[name] = button
        grid.setColumnStretch(1, 1)

        self.recent_title = QLabel("Recent projects")
        self.recent_title.setObjectName("welcomeRecentTitle")
        self.recent_box = QVBoxLayout()
        self.recent_box.setSpacing(2)
        self.help_line = QLabel("Help ▸ User guide walks through a season, from memory card to a capture-recapture export.")
        self.help_line.setObjectName("welcomeLine")
        self.help_line.setWordWrap(True)

        column = QVBoxLayout()
        column.addStretch(1)
        column.addWidget(title)
        column.addWidget(intro)
        column.addSpacing(16)
        column.addLayout(grid)
        column.addSpacing(24)
        column.addWidget(self.recent_title)
        column.addLayout(self.recent_box)
        column.addSpacing(24)
        column.addWidget(self.help_line)
        column.addStretch(2)
        holder = QWidget()
        holder.setLayout(column)
        holder.setMaximumWidth(760)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addWidget(holder, 3)
        outer.addStretch(1)
        self.recent_buttons: list[QPushButton] = []
        self.set_recent([])

    def set_recent(self, paths: list[str]) -> None:
        """Show up to five recent project folders as links (the File ▸ Open recent menu has them all)."""
        for button in self.recent_buttons:
            self.recent_box.removeWidget(button)
            button.deleteLater()
        self.recent_buttons = []
        for path in paths[:MAX_SHOWN_RECENT]:
            button = QPushButton(f"{Path(path).name}  —  {path}")
            button.setObjectName("recentProject")
            button.setFlat(True)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.setToolTip(f"Open {path}")
            button.clicked.connect(lambda _checked=False, p=path: self.recent_requested.emit(p))
            self.recent_box.addWidget(button)
            self.recent_buttons.append(button)
        self.recent_title.setVisible(bool(paths))
