"""Screenshots of the main views for the README, rendered offscreen (no X server needed).

    python packaging/screenshots.py [--out resources/screenshots] [--project DIR] [--work DIR]

Builds a small real project from the shared leopard crops (``../shared/data/leopards``; 12 photos, about a
minute on two cores) unless ``--project`` names one to copy, drives the real window into each view and saves
``widget.grab()`` of it. ``make screenshots`` runs it under Xvfb (Debian packages: xvfb xauth
libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1, which Qt's xcb plugin needs); without an X server it renders
offscreen (``QT_QPA_PLATFORM=offscreen``, the default here) to the same pictures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.ui_helpers, which builds the same project the GUI tests use

SIZE = (1440, 900)


def wait_until(app, predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.processEvents()
        if predicate():
            return
        time.sleep(0.01)
    raise TimeoutError("the window did not get there in time")


def settle(app, window) -> None:
    wait_until(app, lambda: window.queue.pending == 0)
    for _ in range(20):  # let layouts and repaints run
        app.processEvents()
        time.sleep(0.005)


def build_project(work: Path, source: Path | None) -> Path:
    from pelage.paths import resolve_user_paths
    from tests.ui_helpers import build_leopard_project, copy_project

    if source is not None:
        return copy_project(source, work / "project")
    leopards = Path(os.environ.get("PELAGE_SHARED_DATA", REPO.parent / "shared" / "data")) / "leopards"
    if not leopards.is_dir():
        sys.exit(f"{leopards} is not here: pass --project with a project to show")
    rembg = resolve_user_paths().rembg_home / "u2netp.onnx"
    if not rembg.is_file():
        sys.exit(f"{rembg} is missing: run `pelage models install u2netp` first")
    return build_leopard_project(leopards, work, rembg)


def shoot(widget, path: Path) -> None:
    image = widget.grab()
    if not image.save(str(path)):
        raise OSError(f"could not write {path}")
    print(f"wrote {path} ({image.width()}×{image.height()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "resources" / "screenshots")
    parser.add_argument("--project", type=Path, default=None, help="copy this project instead of building one")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--season-only", action="store_true", help="only the demo-season views (photos to check, export)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="pelage-shots-"))
    first_run_screenshots(args.out, work)
    if args.season_only:
        season_screenshots(args.out, work)
        return

    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from pelage.review.actions import decide
    from pelage.review.graph import DecisionGraph
    from pelage.store import open_project
    from pelage.store.schema import DecisionKind
    from pelage.ui.app import create_application
    from pelage.ui.images import ViewMode
    from pelage.ui.import_dialog import ImportDialog
    from pelage.ui.main_window import MainWindow
    from pelage.ui.settings_dialog import SettingsDialog
    from tests.ui_helpers import leopard_survey

    root = build_project(work, args.project)
    app = create_application([sys.argv[0]])
    window = MainWindow(work / "settings.json")
    window.resize(*SIZE)
    window.show()
    window.activateWindow()
    window.windowHandle().requestActivate()
    assert window.open_project_folder(root)
    wait_until(app, lambda: window.review.proposal is not None)
    settle(app, window)
    review = window.review

    shoot(window, args.out / "review.png")
    review.set_mode(ViewMode.MASKED)
    review.zoom(1.6)
    settle(app, window)
    shoot(window, args.out / "review-masked-zoomed.png")
    review.set_mode(ViewMode.EDGE)
    settle(app, window)
    shoot(window, args.out / "review-edges.png")
    review.set_mode(ViewMode.PHOTO)
    review.sync.reset()
    window.help_overlay.toggle()
    settle(app, window)
    shoot(window, args.out / "shortcuts.png")
    window.help_overlay.toggle()

    review.setFocus()
    answer_two_in_place(app, window)
    shoot(window, args.out / "review-after-answers.png")
    # Answers from the keyboard, right ones: each leopard folder holds one individual's flank.
    for _ in range(6):
        if review.proposal is None:
            break
        folder = review.proposal.anchor.image.split("/")[0]
        slots = [review.slot_candidate(i) for i in range(len(review.slots))]
        same = [i for i, c in enumerate(slots) if c is not None and c.id not in review.verdicts and c.record.image.split("/")[0] == folder]
        if same:
            QTest.keyClick(review, Qt.Key(Qt.Key.Key_1.value + same[0]))
        else:
            QTest.keyClick(review, Qt.Key.Key_X, Qt.KeyboardModifier.ShiftModifier)
        settle(app, window)
    anchor = review.proposal.anchor.id if review.proposal else None
    window.tabs.setCurrentWidget(window.individuals)
    settle(app, window)
    if window.individuals.model.rows:
        window.individuals.table.selectRow(0)
        settle(app, window)
    shoot(window, args.out / "individuals.png")
    training_screenshot(app, window, args.out)

    # A conflict: a second reviewer rejected two photos that confirmed matches put in one individual.
    with open_project(root) as project, project.sessions() as session:
        graph = DecisionGraph.load(session)
    pairs = [(a, b) for members in graph.components() for a in sorted(members) for b in sorted(members) if a < b and not graph.decided(a, b)]
    if pairs:
        with open_project(root) as project:
            decide(project, *pairs[0], DecisionKind.NONMATCH)
        window.reload_session()
        wait_until(app, lambda: window.session is not None)
        settle(app, window)
        window.tabs.setCurrentWidget(window.conflicts)
        settle(app, window)
        shoot(window, args.out / "conflicts.png")

    window.tabs.setCurrentWidget(window.review)
    settle(app, window)
    if anchor is not None and review.proposal is not None:
        review.request_full_resolution()
        wait_until(app, lambda: window.full_resolution is not None and window.full_resolution.isVisible())
        window.full_resolution.resize(1400, 620)
        settle(app, window)
        shoot(window.full_resolution, args.out / "full-resolution.png")
        window.full_resolution.close()

    score_check_screenshot(app, window, root, args.out)

    settings = SettingsDialog(window.settings, window)
    settings.show()
    settle(app, window)
    shoot(settings, args.out / "settings.png")
    settings.close()

    # The import dialog after importing a folder with one unreadable photo.
    survey = leopard_survey(Path(os.environ.get("PELAGE_SHARED_DATA", REPO.parent / "shared" / "data")) / "leopards",
                            work / "season-2", per_flank=1, skip=PER_FLANK_SKIP)
    broken = survey / "BRL17_Left" / "0_0_BR-299A-2019-01-01_00-00-00.jpg"
    broken.write_bytes(next((survey / "BGL09_right").iterdir()).read_bytes()[:5000])
    dialog = window.import_dialog(survey)
    assert isinstance(dialog, ImportDialog)
    dialog.pattern.setText(r"(?P<station>B[GR]-\d+)(?P<camera>[AB])-")
    wait_until(app, lambda: dialog.preview is not None and not dialog.previewing)  # what it will read, before importing
    dialog.start_button.click()
    wait_until(app, lambda: dialog.outcome is not None or dialog.error is not None, timeout=600)
    settle(app, window)
    shoot(dialog, args.out / "import.png")
    dialog.close_button.click()
    wait_until(app, lambda: window.task is None, timeout=600)
    window.close()
    season_screenshots(args.out, work)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


PER_FLANK_SKIP = 4  # the second season uses photos the first one did not


def answer_two_in_place(app, window) -> None:
    """On the anchor shown, answer two candidates from another folder (another animal): "different" and "not
    comparable". They stay in their slots, greyed with the verdict, and the line under the anchor lists them."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    review = window.review
    if review.proposal is None:
        return
    folder = review.proposal.anchor.image.split("/")[0]
    others = [i for i, c in enumerate(review.proposal.candidates) if c.record.image.split("/")[0] != folder][:2]
    for slot, key in zip(others, (Qt.Key.Key_X, Qt.Key.Key_C), strict=False):
        review.select(slot)
        QTest.keyClick(review, key)
        settle(app, window)


def training_screenshot(app, window, out: Path) -> None:
    """The training tab as the project stands: what training does, whether its result can be checked, how long it takes."""
    if window.training_tab is None:
        return
    window.tabs.setCurrentWidget(window.training_tab)
    wait_until(app, lambda: window.training_panel is not None)
    settle(app, window)
    shoot(window, out / "training.png")


def score_check_screenshot(app, window, root: Path, out: Path) -> None:
    """Training tab, "Check and adjust the scores", once a reviewer has answered a hundred leopard pairs (from the folders'
    truth: one flank per folder, pairs within an hour of each other in one folder left out as one sighting)."""
    from datetime import timedelta

    from PySide6.QtWidgets import QScrollArea

    from pelage.review.actions import decide
    from pelage.review.graph import DecisionGraph
    from pelage.store import open_project
    from pelage.store.queries import list_animals
    from pelage.store.schema import DecisionKind

    with open_project(root) as project:
        with project.sessions() as session:
            animals, graph = list_animals(session, usable_only=True), DecisionGraph.load(session)
        same, other = [], []
        for i, a in enumerate(animals):
            for b in animals[i + 1:]:
                one_folder = a.image.split("/")[0] == b.image.split("/")[0]
                if graph.decided(a.id, b.id) or (one_folder and a.time and b.time and abs(a.time - b.time) < timedelta(hours=1)):
                    continue
                (same if one_folder else other).append((a.id, b.id))
        for a, b in same[:40]:
            decide(project, a, b, DecisionKind.MATCH)
        for a, b in other[:60]:
            decide(project, a, b, DecisionKind.NONMATCH)
    window.reload_session()
    wait_until(app, lambda: window.session is not None)
    window.tabs.setCurrentWidget(window.training_tab)
    wait_until(app, lambda: window.training_panel is not None)
    panel = window.training_panel
    panel.score_check.button.click()
    wait_until(app, lambda: panel.score_check.button.isEnabled())
    settle(app, window)
    panel.findChild(QScrollArea).ensureWidgetVisible(panel.score_check)
    settle(app, window)
    shoot(window, out / "scores.png")


def first_run_screenshots(out: Path, work: Path) -> None:
    """The window with no project open (what a first run shows), then Help ▸ User guide, which shows it."""
    from pelage.ui.app import create_application
    from pelage.ui.main_window import MainWindow
    from pelage.ui.settings import AppSettings, save_settings

    settings = work / "first-run-settings.json"
    save_settings(settings, AppSettings(recent_projects=["/home/ana/camera-traps/leopards-2023"]))
    app = create_application([sys.argv[0]])
    window = MainWindow(settings)
    window.resize(*SIZE)
    window.show()
    settle(app, window)
    shoot(window, out / "welcome.png")
    guide = window.show_user_guide()
    guide.resize(900, 860)
    settle(app, window)
    shoot(guide, out / "user-guide.png")
    guide.close()
    window.close()


def build_demo_project(work: Path) -> Path:
    """The bundled demo survey imported, identified, with its station table and one animal set aside."""
    from pelage.demo import STATION_TABLE, make_demo_survey
    from pelage.export import import_station_table
    from pelage.ingest import build_pipeline, import_survey
    from pelage.paths import resolve_user_paths
    from pelage.reid.candidates import embed_project
    from pelage.reid.embed import Embedder
    from pelage.review.actions import mark_unusable
    from pelage.store import open_project, transaction
    from pelage.store.queries import list_animals

    survey = work / "demo-survey"
    make_demo_survey(survey)
    table = work / "demo-stations.csv"
    table.write_text(STATION_TABLE)
    root = work / "leopards-2024"
    with open_project(root, create=True) as project:
        import_survey(project, survey, lambda: build_pipeline(resolve_user_paths(), project.artefacts, threads=2))
        embed_project(project, Embedder(device="cpu", threads=2))
        with transaction(project.sessions) as session:
            import_station_table(session, table)
        with project.sessions() as session:
            animals = list_animals(session)
        mark_unusable(project, animals[-1].id, "only a tail or a leg")
    return root


def season_screenshots(out: Path, work: Path) -> None:
    """The views for a whole season in the window: photos to check (a box being drawn), the box redrawn, export."""
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    from pelage.ui.app import create_application
    from pelage.ui.box_dialogs import RedrawDialog
    from pelage.ui.images import animal_files, load_original
    from pelage.ui.main_window import MainWindow

    root = build_demo_project(work)
    app = create_application([sys.argv[0]])
    window = MainWindow(work / "season-settings.json")
    window.resize(*SIZE)
    window.show()
    assert window.open_project_folder(root)
    wait_until(app, lambda: window.review.proposal is not None)
    window.tabs.setCurrentWidget(window.photos)
    photos = window.photos
    wait_until(app, lambda: photos.without_animal.count() > 0)
    settle(app, window)
    photos.without_animal.setCurrentRow(0)
    wait_until(app, lambda: photos.pane.has_image)
    settle(app, window)
    viewport = photos.pane.viewport()
    centre = viewport.rect().center()
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, centre - QPoint(160, 90))
    QTest.mouseMove(viewport, centre + QPoint(140, 110))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, centre + QPoint(140, 110))
    settle(app, window)
    shoot(window, out / "photos-to-check.png")
    photos.sections.setCurrentIndex(1)
    photos.set_aside.setCurrentRow(0)
    wait_until(app, lambda: photos.pane.has_image)
    settle(app, window)
    shoot(window, out / "photos-set-aside.png")

    animal = window.review.proposal.anchor.id
    files = animal_files(window.project, [animal])[animal]
    redraw = RedrawDialog(animal, load_original(files), files.box, window)
    redraw.show()
    settle(app, window)
    shoot(redraw, out / "redraw-box.png")
    redraw.close()

    dialog = window.export_dialog()
    dialog.set_format("secr")
    dialog.occasion_days.setValue(3)
    dialog.utc_offset.setText("+02:00")
    dialog.folder.setText(str(work / "leopards-2024-secr"))
    wait_until(app, lambda: dialog.preview is not None and not dialog._preview_timer.isActive() and window.queue.pending == 0)
    settle(app, window)
    shoot(dialog, out / "export.png")
    dialog.close()
    stations_screenshot(window, out / "stations.png")
    window.close()


def stations_screenshot(window, path: Path) -> None:
    """The stations dialog with the demo's station table, its map, and one bad cell marked red."""
    from PySide6.QtWidgets import QApplication

    from pelage.ui.stations_dialog import RETRIEVAL, StationsDialog

    app = QApplication.instance()
    dialog = StationsDialog(window.project, window)
    dialog.show()
    dialog.resize(dialog.wanted_width(), 600)  # as it opens on a laptop (the offscreen screen is narrower)
    dialog.set_cell(2, RETRIEVAL, "2024-05-22")  # before its setup: the cell turns red, the reason in its tooltip
    dialog.table.setCurrentCell(0, 0)
    dialog.status.setText(dialog.table.item(2, RETRIEVAL).toolTip())
    settle(app, window)
    shoot(dialog, path)
    dialog.close()

if __name__ == "__main__":
    main()
