"""A long session of pans and key presses must not crash the interpreter.

PySide6 6.12.0 drops references to None and True on Python 3.11 (pyproject.toml excludes that version); a review
session makes hundreds of thousands of such calls. The loop runs in a subprocess, since the failure is an
interpreter abort.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO_ROOT

SESSION = """
import pelage.ui
from PySide6.QtCore import QObject, QPointF, Signal
from PySide6.QtWidgets import QApplication, QGraphicsScene, QGraphicsView
app = QApplication([])
class Source(QObject):
    moved = Signal(int)
source = Source()
source.moved.connect(lambda value: None)
view = QGraphicsView()
view.setScene(QGraphicsScene())
for step in range(100_000):  # a scrollbar signal and a void call per pixel of panning
    source.moved.emit(step)
    view.centerOn(QPointF(step % 50, 0))
print("done")
"""


def test_a_long_session_of_signals_and_calls_does_not_crash_python():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", SESSION], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "done", result.stderr[-2000:]
