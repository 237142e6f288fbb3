"""Start the desktop application: ``pelage gui [PROJECT]``."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from pelage.ui.main_window import MainWindow
from pelage.ui.resources import stylesheet


def create_application(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("Pelage")
    app.setOrganizationName("Pelage")
    app.setStyle("Fusion")  # the same look on every platform, and the stylesheet is written for it
    app.setStyleSheet(stylesheet())
    return app


def create_window(project: Path | None = None, settings_path: Path | None = None) -> MainWindow:
    """The window on ``project``, or else on the project used last (the welcome page when there is none)."""
    window = MainWindow(settings_path)
    if project is not None:
        window.open_project_folder(Path(project), create=False)
    else:
        window.reopen_last_project()
    return window


def run(project: Path | None = None) -> int:
    app = create_application()
    window = create_window(project)
    window.show()
    return app.exec()
