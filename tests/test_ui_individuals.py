"""The Individuals view, offscreen, on a real project store: a model/view list that stays responsive at 5,000
individuals, reloads itself when the review's events say who is who changed, asks before merging (naming both
and their photos), and opens a photo at full resolution when its thumbnail is clicked."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QMessageBox

import tests.ui_helpers  # noqa: F401  (offscreen Qt before any QApplication exists)
from pelage.review.session import ReviewSession
from pelage.store.queries import list_animals
from pelage.ui.app import create_application
from pelage.ui.individuals_view import IndividualsView
from pelage.ui.review_events import ReviewSignals
from pelage.ui.workers import JobQueue
from tests.review_synthetic import MODEL_ID, build_synthetic_project

ANIMALS = 5000


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    """5,000 embedded animals in a real SQLite store; nothing decided yet, so each is its own individual."""
    synthetic = build_synthetic_project(tmp_path_factory.mktemp("individuals") / "project", ANIMALS, dim=16, seed=7, two_per_photo=0.0)
    yield synthetic
    synthetic.project.close()


@pytest.fixture
def view(qtbot, season):
    create_application()
    queue = JobQueue()
    session = ReviewSession(season.project, MODEL_ID, k=3)
    signals = ReviewSignals()
    signals.attach(session)
    view = IndividualsView(queue)
    signals.individuals_changed.connect(view.refresh)  # as the window wires the review's events
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    view.set_session(session)
    qtbot.waitUntil(lambda: not view.refreshing, timeout=30000)
    yield view
    signals.attach(None)
    queue.submit(session.close)
    queue.stop()


def wait_listed(view, qtbot) -> None:
    qtbot.waitUntil(lambda: view.queue.pending == 0 and not view.refreshing, timeout=60000)


class FreezeWatch:
    """The longest the GUI thread went without running a 10 ms timer."""

    def __init__(self) -> None:
        self.last, self.longest = time.perf_counter(), 0.0
        self.timer = QTimer()
        self.timer.timeout.connect(self._tick)
        self.timer.start(10)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest, self.last = max(self.longest, now - self.last), now


def test_five_thousand_individuals_list_without_freezing_the_window(view, qtbot):
    assert view.model.rowCount() == 0  # nobody seen twice yet
    watch = FreezeWatch()
    view.singletons.setChecked(True)  # every animal seen once: 5,000 rows
    wait_listed(view, qtbot)
    qtbot.wait(50)
    assert view.model.rowCount() == ANIMALS and view.count_label.text().startswith("5000 individuals")
    assert watch.longest < 1.0, f"the window froze for {watch.longest:.2f} s while listing 5,000 individuals"
    started = time.perf_counter()
    view.table.scrollToBottom()
    view.table.selectRow(ANIMALS - 1)
    qtbot.wait(10)
    assert time.perf_counter() - started < 0.5
    last = view.model.rows[-1]
    qtbot.waitUntil(lambda: view.gallery.count() == 1 and view.current_individual == last.id, timeout=30000)
    assert view.table.indexWidget(view.model.index(0, 0)) is None  # rows are painted by the view, not a widget each


def test_the_view_follows_the_review_and_asks_before_merging(view, qtbot, season):
    a, b, c, d = season.animal_ids[:4]
    session = view.session
    # The review (another view, on the same worker) confirms two matches and names one individual:
    # the list reloads on its own, through the session's events.
    view.queue.submit(lambda: (session.decide(a, b, "match"), session.decide(c, d, "match"), session.rename(a, "Kali")))
    qtbot.waitUntil(lambda: {row.name for row in view.model.rows} >= {"Kali"} and view.model.rowCount() == 2, timeout=30000)
    wait_listed(view, qtbot)
    kali = next(row for row in view.model.rows if row.name == "Kali")
    other = next(row for row in view.model.rows if row.name != "Kali")
    assert set(kali.members) == {a, b} and set(other.members) == {c, d}

    for _ in range(5):  # a burst of events: folded into at most one more listing, not five
        view.refresh()
    assert view.queue.pending <= 1
    wait_listed(view, qtbot)

    view.table.selectAll()
    view.merge_button.click()
    question = view.merge_question
    assert question is not None and question.isVisible()
    assert question.text() == f"Merge “Kali” (2 photos) and “{other.name}” (2 photos) into one individual of 4 photos?"
    question.button(QMessageBox.StandardButton.Cancel).click()  # no: nothing changes
    wait_listed(view, qtbot)
    assert view.model.rowCount() == 2 and len(session.graph.component(a)) == 2

    view.table.selectAll()
    view.merge_button.click()
    view.merge_question.button(QMessageBox.StandardButton.Yes).click()
    wait_listed(view, qtbot)
    assert view.model.rowCount() == 1 and set(view.model.rows[0].members) == {a, b, c, d}

    view.queue.submit(lambda: session.undo())  # the review takes the merge back: the list follows
    qtbot.waitUntil(lambda: view.model.rowCount() == 2, timeout=30000)


def test_clicking_a_thumbnail_opens_the_photo_at_full_resolution(view, qtbot, season):
    a, b = season.animal_ids[4:6]
    session = view.session
    with season.project.sessions() as db:
        records = {record.id: record for record in list_animals(db) if record.id in (a, b)}
    photos = season.project.root / "photos"
    photos.mkdir(exist_ok=True)
    for animal in (a, b):  # the survey's photos (the synthetic store only names them)
        image = QImage(640, 480, QImage.Format.Format_RGB888)
        image.fill(Qt.GlobalColor.darkGreen)
        assert image.save(str(photos / records[animal].image))
    view.queue.submit(lambda: session.decide(a, b, "match"))
    qtbot.waitUntil(lambda: any(a in row.members for row in view.model.rows), timeout=30000)
    wait_listed(view, qtbot)
    view.table.selectRow(next(i for i, row in enumerate(view.model.rows) if a in row.members))
    qtbot.waitUntil(lambda: view.gallery.count() == 2, timeout=30000)

    item = view.gallery.item(1)
    clicked = item.data(Qt.ItemDataRole.UserRole)
    centre = view.gallery.visualItemRect(item).center()
    qtbot.mouseClick(view.gallery.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.waitUntil(lambda: view.photo_window is not None and view.photo_window.isVisible(), timeout=30000)
    card = view.photo_window.cards[0]
    assert card.animal_id == clicked and card.pane.has_image and f"#{clicked}" in card.title.text()
    assert view.photo_window.cards[1].isHidden()

    view.photo_window.hide()
    other = view.gallery.item(0)
    qtbot.mouseClick(view.gallery.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     pos=view.gallery.visualItemRect(other).center())  # Ctrl+click only selects (to split, to set aside)
    wait_listed(view, qtbot)
    assert not view.photo_window.isVisible() and len(view.gallery.selectedItems()) == 2
    assert isinstance(centre, QPoint)
