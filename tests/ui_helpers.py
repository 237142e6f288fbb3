"""Helpers for the GUI tests: a small real project built from the shared leopard crops (once per test
session), a window driven offscreen, and a kill target (``python -m tests.ui_helpers review PROJECT``) that
answers candidates from the keyboard and prints each decision once it is in the store."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

LEOPARD_FLANKS = {"BGL09_right": "right", "BHA32_Right": "right", "BRL17_Left": "left"}
PER_FLANK = 4  # photos per flank folder: 12 photos, about 30 s to import on two cores
NAME_PATTERN = r"(?P<station>B[GR]-\d+)(?P<camera>[AB])-"  # spotID names: 0_0_BG-102B-2019-03-01_19-49-36.jpg


def leopard_survey(source: Path, out: Path, per_flank: int = PER_FLANK, skip: int = 0) -> Path:
    """A survey folder of ``per_flank`` photos from each flank folder of the shared leopard crops."""
    for folder in sorted(LEOPARD_FLANKS):
        target = out / folder
        target.mkdir(parents=True, exist_ok=True)
        for photo in sorted((source / folder).iterdir())[skip:skip + per_flank]:
            shutil.copy2(photo, target / photo.name)
    return out


def build_leopard_project(source: Path, work: Path, rembg_model: Path) -> Path:
    """Import, set each animal's flank from its folder, and embed with the bundled model: a project to review."""
    from sqlalchemy import select

    from pelage.ingest import ImportOptions, build_pipeline, import_survey
    from pelage.paths import UserPaths
    from pelage.reid.candidates import embed_project
    from pelage.reid.embed import Embedder
    from pelage.review.actions import set_flank
    from pelage.store import open_project
    from pelage.store.schema import Detection, Image

    home = UserPaths(work / "home")
    home.rembg_home.mkdir(parents=True, exist_ok=True)
    if not (home.rembg_home / "u2netp.onnx").exists():
        (home.rembg_home / "u2netp.onnx").symlink_to(rembg_model)
    survey = leopard_survey(source, work / "survey")
    root = work / "project"
    with open_project(root, create=True) as project:
        summary = import_survey(project, survey, lambda: build_pipeline(home, project.artefacts, threads=2),
                                ImportOptions(pattern=NAME_PATTERN))
        assert summary.failed == 0 and summary.detections >= 8, summary
        with project.sessions() as session:
            rows = session.execute(select(Detection.id, Image.path).join(Image).where(Detection.label == "animal")).all()
        for animal_id, path in rows:
            set_flank(project, animal_id, LEOPARD_FLANKS[path.split("/")[0]])
        embed_project(project, Embedder(device="cpu", threads=2))
    return root


def leopard_template(tmp_path_factory, rembg_model: Path) -> Path:
    """The leopard project, built once per test session (its folder is reused by every GUI test module)."""
    from tests.conftest import shared_dataset

    source = shared_dataset("leopards")
    work = tmp_path_factory.getbasetemp() / "ui-leopard-template"
    root = work / "project"
    if not (work / "ready").exists():
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        build_leopard_project(source, work, rembg_model)
        (work / "ready").touch()
    return root


def copy_project(template: Path, target: Path) -> Path:
    """A private copy of a project folder (SQLite, crops, index): each test changes its own."""
    shutil.copytree(template, target)
    return target


def activate(window, qtbot) -> None:
    """Make the window the active one, as a user's click would: shortcuts only fire in the active window."""
    from PySide6.QtWidgets import QApplication

    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    window.windowHandle().requestActivate()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)


def key_on_window(window, qtbot, key, modifier=None) -> None:
    """A key press as the window gets it from the keyboard (through its QWindow, as the platform delivers it):
    Qt hands it to whatever has the focus, so the review's keys work only while the focus is inside the review."""
    from PySide6.QtCore import Qt

    qtbot.keyClick(window.windowHandle(), key, modifier if modifier is not None else Qt.KeyboardModifier.NoModifier)
    settle(window, qtbot)


def settle(window, qtbot, timeout: int = 30000) -> None:
    """Wait until the review worker has answered every job the window gave it."""
    qtbot.waitUntil(lambda: window.queue.pending == 0, timeout=timeout)


# --- kill target ------------------------------------------------------------------------------------

def _review_until_killed(project: Path, settings_file: Path) -> None:
    """Open the window on ``project`` and answer candidates from the keyboard forever: match the selected one,
    reject the next, and so on. Each decision is printed (JSON) only once the store holds it."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from pelage.ui.app import create_application
    from pelage.ui.main_window import MainWindow

    app = create_application()
    window = MainWindow(settings_file)
    window.show()
    window.activateWindow()
    window.windowHandle().requestActivate()

    def on_decision(decision) -> None:
        print(json.dumps({"id": decision.id, "a": decision.a_id, "b": decision.b_id, "kind": decision.kind.value}), flush=True)

    window.review.decision_recorded.connect(on_decision)
    if not window.open_project_folder(project):
        sys.exit(3)
    keys = [Qt.Key.Key_Return, Qt.Key.Key_X, Qt.Key.Key_C]  # each on the selected candidate, which moves on to an open one
    presses = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        app.processEvents()
        if window.review.proposal is not None and window.queue.pending <= 1 and QApplication.activeWindow() is window:
            if window.review.proposal.candidates:
                window.review.setFocus()
                QTest.keyClick(window.review, keys[presses % len(keys)])  # no waiting: the kill may land mid-flight
                presses += 1
            else:
                QTest.keyClick(window.review, Qt.Key.Key_N)
        time.sleep(0.01)
    print("timeout", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "review":
        _review_until_killed(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        sys.exit("usage: python -m tests.ui_helpers review PROJECT SETTINGS.ini")
