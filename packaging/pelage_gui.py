"""Entry point of the frozen ``pelage-gui`` launcher (what the desktop entry and a double-click start).

It is ``pelage gui [PROJECT]``; a separate executable so Windows and macOS can start it without a console window.
With ``PELAGE_SCREENSHOT=FILE`` it opens the main window, saves a picture of it to FILE and quits: the package's
smoke test and ``packaging/compare.py`` check and time the frozen window that way, on any Qt platform (offscreen
included, where nothing outside the process can take a picture).
"""

import multiprocessing
import os
import sys


def screenshot(path: str, project: str | None) -> int:
    """Open the window (on ``project`` if given), wait until its background work is done, save it to ``path``, quit."""
    import time

    from PySide6.QtCore import QTimer

    from pelage.ui.app import create_application, create_window

    app = create_application()
    window = create_window(project)
    window.resize(1280, 800)
    window.show()
    deadline = time.monotonic() + 120

    def save_when_idle() -> None:
        if window.queue.pending and time.monotonic() < deadline:  # proposals and photos still loading
            QTimer.singleShot(50, save_when_idle)
            return
        saved = window.grab().save(path)
        window.close()  # stops the window's worker threads, as closing it by hand does
        app.exit(0 if saved else 1)

    QTimer.singleShot(0, save_when_idle)
    return app.exec()


if __name__ == "__main__":
    multiprocessing.freeze_support()
    if os.environ.get("PELAGE_SCREENSHOT"):
        sys.exit(screenshot(os.environ["PELAGE_SCREENSHOT"], sys.argv[1] if len(sys.argv) > 1 else None))
    from pelage.cli.main import main

    sys.argv[1:1] = ["gui"]
    main()
