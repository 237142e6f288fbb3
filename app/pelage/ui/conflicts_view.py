"""Conflicts: a "not a match" between two animals that confirmed matches put in one individual.

The two photos are shown side by side (linked zoom) with the chain of matches that joins them; the
reviewer decides they are the same animal (the rejection is withdrawn) or different (the chain is cut)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QMessageBox, QPushButton, QSplitter, QVBoxLayout, QWidget

from pelage.ui.cards import AnimalCard, describe_record
from pelage.ui.image_view import ViewSync
from pelage.ui.images import ViewMode, animal_files, load_view
from pelage.ui.workers import JobQueue

if TYPE_CHECKING:
    from pelage.review.graph import Conflict
    from pelage.review.session import ReviewSession


@dataclass
class ConflictDetail:
    conflict: Conflict
    path: list[int]  # the chain of confirmed matches from a to b
    texts: dict[int, str]
    images: dict[int, QImage | None]


def fetch_detail(session: ReviewSession, conflict: Conflict) -> ConflictDetail:
    path = session.match_path(conflict.a_id, conflict.b_id) or [conflict.a_id, conflict.b_id]  # under the session's lock
    files = animal_files(session.project, [conflict.a_id, conflict.b_id])
    images = {i: load_view(files[i], ViewMode.PHOTO) if i in files else None for i in (conflict.a_id, conflict.b_id)}
    texts = {i: describe_record(session.record(i), session.flank(i)) for i in (conflict.a_id, conflict.b_id)}
    return ConflictDetail(conflict, path, texts, images)


class ConflictsView(QWidget):
    decisions_changed = Signal()
    status_message = Signal(str)
    count_changed = Signal(int)

    def __init__(self, queue: JobQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.session: ReviewSession | None = None
        self.conflicts: list[Conflict] = []
        self.list = QListWidget()
        self.list.setObjectName("conflictList")
        self.list.currentRowChanged.connect(self._row_changed)
        self.explanation = QLabel("No conflicts: no rejection contradicts the confirmed matches.")
        self.explanation.setWordWrap(True)
        self.left, self.right = AnimalCard(), AnimalCard()
        self.sync = ViewSync()
        self.sync.add(self.left.pane)
        self.sync.add(self.right.pane)
        self.same_button = QPushButton("Same animal: withdraw the rejection")
        self.different_button = QPushButton("Different animals: cut the matches that join them")
        self.same_button.setObjectName("conflictSame")
        self.different_button.setObjectName("conflictDifferent")
        self.same_button.clicked.connect(lambda: self.resolve(same=True))
        self.different_button.clicked.connect(lambda: self.resolve(same=False))

        detail = QWidget()
        detail_layout = QVBoxLayout(detail)
        detail_layout.addWidget(self.explanation)
        cards = QHBoxLayout()
        cards.addWidget(self.left)
        cards.addWidget(self.right)
        detail_layout.addLayout(cards, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.same_button)
        buttons.addWidget(self.different_button)
        detail_layout.addLayout(buttons)
        splitter = QSplitter()
        splitter.addWidget(self.list)
        splitter.addWidget(detail)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self._enable(False)

    def _enable(self, enabled: bool) -> None:
        self.same_button.setEnabled(enabled)
        self.different_button.setEnabled(enabled)

    def set_session(self, session: ReviewSession | None) -> None:
        self.session = session
        self._show([])
        if session is not None:
            self.refresh()

    def _submit(self, function: Callable[[ReviewSession], object], on_done: Callable[[object], None], label: str) -> None:
        session = self.session
        if session is not None:
            self.queue.submit(lambda: function(session), on_done, self._failed, label)

    def _failed(self, message: str) -> None:
        self.status_message.emit(f"Error: {message}")
        QMessageBox.warning(self, "Pelage", message)

    def refresh(self) -> None:
        self._submit(lambda session: session.conflicts(), self._show, "Checking conflicts…")

    def _show(self, conflicts: list[Conflict]) -> None:
        self.conflicts = list(conflicts)
        self.list.blockSignals(True)
        self.list.clear()
        for conflict in self.conflicts:
            item = QListWidgetItem(f"#{conflict.a_id} ≠ #{conflict.b_id}  (individual of {len(conflict.component)} photos)")
            item.setData(Qt.ItemDataRole.UserRole, conflict.decision_id)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.count_changed.emit(len(self.conflicts))
        if self.conflicts:
            self.list.setCurrentRow(0)
            self._row_changed(0)
        else:
            self.left.clear("")
            self.right.clear("")
            self.explanation.setText("No conflicts: no rejection contradicts the confirmed matches.")
            self._enable(False)

    def _row_changed(self, row: int) -> None:
        if 0 <= row < len(self.conflicts):
            conflict = self.conflicts[row]
            self._submit(lambda session: fetch_detail(session, conflict), self._show_detail, "Loading conflict…")

    def _show_detail(self, detail: ConflictDetail) -> None:
        conflict = detail.conflict
        chain = " – ".join(f"#{i}" for i in detail.path)
        self.explanation.setText(f"#{conflict.a_id} and #{conflict.b_id} were marked <b>not a match</b>, yet confirmed matches "
                                 f"join them: {chain}. Which is right?")
        for card, animal in ((self.left, conflict.a_id), (self.right, conflict.b_id)):
            card.show_animal(animal, f"<b>#{animal}</b>", detail.texts[animal], detail.images[animal])
        self._enable(True)

    def resolve(self, same: bool) -> None:
        row = self.list.currentRow()
        if not 0 <= row < len(self.conflicts):
            return
        conflict = self.conflicts[row]
        self._enable(False)

        def done(_result) -> None:
            self.status_message.emit(f"Conflict #{conflict.a_id} ≠ #{conflict.b_id} resolved: "
                                     + ("same animal." if same else "split apart."))
            self.decisions_changed.emit()
            self.refresh()

        self._submit(lambda session: session.resolve_conflict(conflict, same), done, "Resolving…")
