"""The review screen: the anchor beside its top candidates, answered from the keyboard.

Every key press is turned into a core call on the review worker (:class:`~pelage.ui.workers.JobQueue`)
with the ids on screen at the moment of the press, so a fast reviewer never answers about a candidate that
slid in after the press. The decision is in the store when the job returns; the next proposal follows it
in the same queue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QImage, QKeySequence
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from pelage.ui.cards import AnimalCard, describe_record
from pelage.ui.image_view import WHEEL_STEP, ViewSync
from pelage.ui.images import ViewMode, animal_files, load_views
from pelage.ui.shortcuts import BY_NAME, MATCH_KEYS, SHORTCUTS
from pelage.ui.workers import JobQueue

if TYPE_CHECKING:
    from pelage.review.session import Proposal, ReviewSession

CANDIDATE_COLUMNS = 3


@dataclass
class LoadedProposal:
    proposal: Proposal | None
    images: dict[int, dict[ViewMode, QImage | None]]
    progress: tuple[int, int]


def fetch_proposal(session: ReviewSession, anchor_id: int | None = None) -> LoadedProposal:
    """Next proposal and its images in every view mode (runs on the review worker)."""
    proposal = session.next_proposal(anchor_id)
    images: dict[int, dict[ViewMode, QImage | None]] = {}
    if proposal is not None:
        ids = [proposal.anchor.id, *(c.id for c in proposal.candidates)]
        files = animal_files(session.project, ids)
        images = {i: load_views(files[i]) for i in ids if i in files}
    progress = session.progress()
    return LoadedProposal(proposal, images, (progress.finished, progress.total))


def _score_text(score: float) -> str:
    return f"{score * 100:.0f}%" if score >= 0.01 else "<1%"


class ReviewView(QWidget):
    decision_recorded = Signal(object)  # ActiveDecision, once it is in the store
    decisions_changed = Signal()  # after any change to the decision graph (undo, redo, flank, …)
    status_message = Signal(str)
    proposal_shown = Signal(object)  # Proposal | None
    full_resolution_requested = Signal(int, int)  # anchor id, candidate id (0: none)
    help_requested = Signal()
    redraw_requested = Signal(int)  # animal id: the window shows its photo to draw the box again
    animals_changed = Signal()  # an animal was set aside (the photos view lists it)

    def __init__(self, queue: JobQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reviewView")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.queue = queue
        self.session: ReviewSession | None = None
        self.proposal: Proposal | None = None
        self.images: dict[int, dict[ViewMode, QImage | None]] = {}
        self.mode = ViewMode.PHOTO
        self.selected = 0
        self.skipped: set[int] = set()  # candidates passed over on the current anchor (display only)
        self.saving: set[int] = set()
        self.actions_by_name: dict[str, QAction] = {}
        self.sync = ViewSync()
        self._build()
        self._build_actions()
        self.set_session(None, "Open a project to start reviewing (File ▸ Open project).")

    # -- layout ----------------------------------------------------------------------------------
    def _build(self) -> None:
        self.heading = QLabel("")
        self.heading.setObjectName("reviewHeading")
        self.progress_label = QLabel("")
        self.progress_label.setObjectName("reviewProgress")
        self.mode_buttons = QButtonGroup(self)
        mode_row = QHBoxLayout()
        mode_row.addWidget(self.heading, 1)
        mode_row.addWidget(self.progress_label)
        for mode, key in ((ViewMode.PHOTO, "P"), (ViewMode.MASKED, "M"), (ViewMode.EDGE, "E")):
            button = QToolButton()
            button.setText(f"{mode.label} [{key}]")
            button.setCheckable(True)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setObjectName(f"mode_{mode.value}")
            button.clicked.connect(lambda _checked=False, m=mode: self.set_mode(m))
            self.mode_buttons.addButton(button)
            mode_row.addWidget(button)
        self.mode_buttons.buttons()[0].setChecked(True)
        self.same_flank = QCheckBox("Same flank only")
        self.same_flank.setChecked(True)
        self.same_flank.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.same_flank.setToolTip("Propose only candidates showing the anchor's flank (or an unknown one)")
        self.same_flank.toggled.connect(self._same_flank_toggled)
        mode_row.addWidget(self.same_flank)
        self.mode_row = mode_row  # the anchor's own buttons (not usable, redraw) join it

        # Anchor and candidates in panes of one size, so linked zoom shows the same detail at the same scale.
        self.anchor_card = AnimalCard()
        self.anchor_card.setObjectName("anchorCard")
        self.sync.add(self.anchor_card.pane)
        grid = QGridLayout()
        grid.setSpacing(6)
        grid.addWidget(self.anchor_card, 0, 0)
        self.candidate_cards: list[AnimalCard] = []
        for index in range(len(MATCH_KEYS)):
            card = AnimalCard()
            card.clicked.connect(lambda _card, i=index: self.select(i))
            self.sync.add(card.pane)
            self.candidate_cards.append(card)
            grid.addWidget(card, (index + 1) // CANDIDATE_COLUMNS, (index + 1) % CANDIDATE_COLUMNS)
        for column in range(CANDIDATE_COLUMNS):
            grid.setColumnStretch(column, 1)
        for row in range(2):
            grid.setRowStretch(row, 1)
        self.legend = QLabel(self._legend_text())
        self.legend.setObjectName("legend")
        self.legend.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.legend.setFixedWidth(170)
        images = QHBoxLayout()
        images.addLayout(grid, 1)
        images.addWidget(self.legend)

        self.buttons = QHBoxLayout()
        self.message = QLabel("")
        self.message.setObjectName("reviewMessage")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(mode_row)
        layout.addWidget(self.message)
        layout.addLayout(images, 1)
        layout.addLayout(self.buttons)

    @staticmethod
    def _legend_text() -> str:
        keys = [("1–5", "match"), ("X", "not a match"), ("Shift+X", "none match"), ("C", "not comparable"), ("S", "skip candidate"),
                ("N", "next anchor"), ("←→", "select"), ("Ctrl+Z", "undo"), ("Ctrl+Shift+Z", "redo"), ("L / R", "flank"),
                ("P M E", "view"), ("F", "full resolution"), ("F1 / ?", "all shortcuts")]
        return "<b>Keys</b><br>" + "<br>".join(f"<b>{key}</b> {what}" for key, what in keys)

    def _build_actions(self) -> None:
        handlers: dict[str, Callable[[], None]] = {
            **{f"match_{k}": (lambda k=int(k): self.decide_slot(k - 1, "match")) for k in MATCH_KEYS},
            "match_selected": lambda: self.decide_slot(self.selected, "match"),
            "nonmatch": lambda: self.decide_slot(self.selected, "nonmatch"),
            "nonmatch_all": self.reject_all,
            "notcomparable": lambda: self.decide_slot(self.selected, "notcomparable"),
            "skip": self.skip_candidate,
            "next_anchor": self.next_anchor,
            "undo": self.undo,
            "redo": self.redo,
            "select_next": lambda: self.select(self.selected + 1),
            "select_previous": lambda: self.select(self.selected - 1),
            "flank_left": lambda: self.set_anchor_flank("left"),
            "flank_right": lambda: self.set_anchor_flank("right"),
            "flank_unknown": lambda: self.set_anchor_flank(None),
            "view_photo": lambda: self.set_mode(ViewMode.PHOTO),
            "view_masked": lambda: self.set_mode(ViewMode.MASKED),
            "view_edge": lambda: self.set_mode(ViewMode.EDGE),
            "full_resolution": self.request_full_resolution,
            "zoom_in": lambda: self.zoom(WHEEL_STEP),
            "zoom_out": lambda: self.zoom(1 / WHEEL_STEP),
            "zoom_fit": self.sync.reset,
            "help": self.help_requested.emit,
        }
        for shortcut in SHORTCUTS:
            action = QAction(shortcut.label, self)
            action.setShortcuts([QKeySequence(key) for key in shortcut.keys])
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.setToolTip(f"{shortcut.help}  [{shortcut.shown}]")
            action.setStatusTip(shortcut.help)
            action.triggered.connect(lambda _checked=False, handler=handlers[shortcut.name]: handler())  # drop Qt's `checked`
            self.addAction(action)
            self.actions_by_name[shortcut.name] = action
        for name, text in (("match_selected", "✓ Match"), ("nonmatch", "✗ Not a match"), ("nonmatch_all", "None match"),
                           ("notcomparable", "≈ Not comparable"), ("skip", "Skip"), ("next_anchor", "Next anchor"), (None, ""),
                           ("undo", "↶ Undo"), ("redo", "↷ Redo"), (None, ""), ("flank_left", "Left"), ("flank_right", "Right"),
                           ("full_resolution", "Full res."), ("help", "Keys")):
            if name is None:
                self.buttons.addStretch(1)
                continue
            shortcut = BY_NAME[name]
            key = {"match_selected": "1–5", "redo": "Ctrl+⇧+Z", "nonmatch_all": "⇧X"}.get(name, shortcut.keys[0])
            button = QPushButton(f"{text} [{key}]")
            button.setObjectName(f"button_{name}")
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setToolTip(self.actions_by_name[name].toolTip())
            button.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            button.clicked.connect(self.actions_by_name[name].trigger)
            self.buttons.addWidget(button)
        self.unusable_button = QPushButton("Not usable…")
        self.unusable_button.setObjectName("button_unusable")
        self.unusable_button.setToolTip("Set the anchor aside (wrong animal, a rock, only a tail): it leaves review, and the exports "
                                        "list it with your reason. The Photos to check tab can restore it.")
        self.unusable_button.clicked.connect(self.ask_unusable)
        self.redraw_button = QPushButton("Redraw box…")
        self.redraw_button.setObjectName("button_redraw")
        self.redraw_button.setToolTip("Draw the anchor's box again on its whole photo (the animal was cut off, or two share a box)")
        self.redraw_button.clicked.connect(self.request_redraw)
        for button in (self.unusable_button, self.redraw_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            self.mode_row.addWidget(button)  # above the photos: the bottom row is full with the answers

    # -- session ---------------------------------------------------------------------------------
    def set_session(self, session: ReviewSession | None, message: str = "") -> None:
        self.session = session
        self.proposal = None
        self.images = {}
        self._clear_cards(message)
        if session is not None:
            self.same_flank.blockSignals(True)
            self.same_flank.setChecked(session.same_flank)
            self.same_flank.blockSignals(False)
            self.load()

    def _clear_cards(self, message: str) -> None:
        self.message.setText(message)
        self.message.setVisible(bool(message))
        self.heading.setText("")
        self.progress_label.setText("")
        self.anchor_card.clear("")
        for card in self.candidate_cards:
            card.clear("")

    def _submit(self, function: Callable[[ReviewSession], object], on_done: Callable[[object], None] | None = None, label: str = "") -> bool:
        session = self.session
        if session is None:
            self.status_message.emit("No review session: open a project with identified animals first.")
            return False
        self.queue.submit(lambda: function(session), on_done, self._failed, label)
        return True

    def _failed(self, message: str) -> None:
        self.saving.clear()
        self._refresh_badges()
        self.status_message.emit(f"Error: {message}")
        QMessageBox.warning(self, "Pelage", message)

    def load(self, anchor_id: int | None = None) -> None:
        """Ask the worker for the next proposal (or the given anchor's)."""
        self._submit(lambda session: fetch_proposal(session, anchor_id), self._show, "Finding candidates…")

    def _show(self, loaded: LoadedProposal) -> None:
        previous_anchor = self.proposal.anchor.id if self.proposal else None
        self.proposal, self.images = loaded.proposal, loaded.images
        self.saving.clear()
        finished, total = loaded.progress
        self.progress_label.setText(f"{finished} of {total} anchors finished")
        if loaded.proposal is None:
            self._clear_cards("Nothing left to review: every animal has its match or five answers. "
                              "See the Individuals tab, or undo (Ctrl+Z) to revisit the last decision.")
            self.progress_label.setText(f"{finished} of {total} anchors finished")
            self.proposal_shown.emit(None)
            return
        proposal = loaded.proposal
        if proposal.anchor.id != previous_anchor:
            self.skipped.clear()
        self.message.setVisible(False)
        anchor = proposal.anchor
        self.heading.setText(f"<b>Anchor #{anchor.id}</b> — which of these is the same animal?")
        self.anchor_card.show_animal(anchor.id, f"<b>Anchor</b> #{anchor.id}", describe_record(anchor, proposal.anchor_flank),
                                     self._image(anchor.id))
        for index, card in enumerate(self.candidate_cards):
            if index < len(proposal.candidates):
                candidate = proposal.candidates[index]
                verified = f"{candidate.inliers} spots matched" if candidate.verified else "spots not checked"
                title = (f"<b>[{index + 1}]</b> &nbsp; <b>{_score_text(candidate.score)}</b> "
                         f"<span style='color:#9aa0a6'>· cosine {candidate.cosine:.2f} · {verified}</span>")
                card.show_animal(candidate.id, title, describe_record(candidate.record, candidate.flank), self._image(candidate.id))
                card.setToolTip(f"Calibrated probability that #{candidate.id} is the anchor's animal: {candidate.score:.3f}")
            else:
                card.clear("no more candidates" if index == len(proposal.candidates) else "")
        if not proposal.candidates:
            self.message.setText("This anchor has no candidate left to compare with. Press N for the next anchor.")
            self.message.setVisible(True)
        self.sync.reset()
        self.select(self._first_open_slot())
        self._refresh_badges()
        self.proposal_shown.emit(proposal)

    def _image(self, animal_id: int) -> QImage | None:
        return self.images.get(animal_id, {}).get(self.mode)

    def _first_open_slot(self) -> int:
        if self.proposal is None:
            return 0
        for index, candidate in enumerate(self.proposal.candidates):
            if candidate.id not in self.skipped:
                return index
        return 0

    def _refresh_badges(self) -> None:
        for card in self.candidate_cards:
            if card.animal_id is None:
                card.set_decision(None)
            elif card.animal_id in self.saving:
                card.set_decision("saving")
            elif card.animal_id in self.skipped:
                card.set_decision("skipped")
            else:
                card.set_decision(None)

    # -- selection and view ----------------------------------------------------------------------
    @property
    def candidate_ids(self) -> list[int]:
        return [c.id for c in self.proposal.candidates] if self.proposal else []

    def select(self, index: int) -> None:
        count = len(self.candidate_ids)
        self.selected = max(0, min(index, count - 1)) if count else 0
        for i, card in enumerate(self.candidate_cards):
            card.set_selected(bool(count) and i == self.selected)

    def set_mode(self, mode: ViewMode) -> None:
        self.mode = mode
        for button in self.mode_buttons.buttons():
            button.setChecked(button.objectName() == f"mode_{mode.value}")
        for card in (self.anchor_card, *self.candidate_cards):
            if card.animal_id is not None:
                card.set_image(self._image(card.animal_id))
        self.status_message.emit(f"Showing: {mode.label.lower()}")

    def zoom(self, factor: float) -> None:
        self.anchor_card.pane.zoom_by(factor)  # the sync carries it to the candidates

    def request_full_resolution(self) -> None:
        if self.proposal is None:
            return
        ids = self.candidate_ids
        self.full_resolution_requested.emit(self.proposal.anchor.id, ids[self.selected] if ids else 0)

    # -- answers ---------------------------------------------------------------------------------
    def decide_slot(self, index: int, kind: str) -> None:
        """Answer about candidate ``index`` (0-based) of the proposal on screen now."""
        if self.proposal is None or not 0 <= index < len(self.proposal.candidates):
            self.status_message.emit("No candidate there.")
            return
        self.select(index)
        self._decide([(self.proposal.anchor.id, self.proposal.candidates[index].id)], kind)

    def reject_all(self) -> None:
        if self.proposal is None:
            return
        pairs = [(self.proposal.anchor.id, c.id) for c in self.proposal.candidates if c.id not in self.saving]
        if pairs:
            self._decide(pairs, "nonmatch")

    def _decide(self, pairs: list[tuple[int, int]], kind: str) -> None:
        self.saving.update(candidate for _, candidate in pairs)
        self._refresh_badges()

        def run(session: ReviewSession):
            return [session.decide(anchor, candidate, kind) for anchor, candidate in pairs]

        if self._submit(run, self._decided, "Saving decision…"):
            self.load()

    def _decided(self, decisions: list) -> None:
        for decision in decisions:
            self.decision_recorded.emit(decision)
        self.decisions_changed.emit()
        if decisions:
            last = decisions[-1]
            what = {"match": "match", "nonmatch": "not a match", "notcomparable": "not comparable"}[last.kind.value]
            pairs = ", ".join(f"#{d.a_id}–#{d.b_id}" for d in decisions)
            self.status_message.emit(f"Saved: {pairs} {what}. Ctrl+Z undoes it.")

    def skip_candidate(self) -> None:
        """Pass over the selected candidate for now; after the last one, move to the next anchor."""
        ids = self.candidate_ids
        if not ids:
            self.next_anchor()
            return
        self.skipped.add(ids[self.selected])
        self._refresh_badges()
        remaining = [i for i, candidate in enumerate(ids) if candidate not in self.skipped and i > self.selected]
        if remaining:
            self.select(remaining[0])
        elif all(candidate in self.skipped for candidate in ids):
            self.next_anchor()
        else:
            self.select(self._first_open_slot())

    def next_anchor(self) -> None:
        if self.proposal is None:
            self.load()
            return
        anchor = self.proposal.anchor.id
        self._submit(lambda session: session.skip(anchor), None, "Next anchor…")
        self.load()
        self.status_message.emit(f"Anchor #{anchor} left for later.")

    def undo(self) -> None:
        def run(session: ReviewSession):
            undone = session.undo()
            return undone, fetch_proposal(session, undone.a_id if undone is not None else None)

        self._submit(run, lambda result: self._after_history("Undid", *result), "Undoing…")

    def redo(self) -> None:
        def run(session: ReviewSession):
            again = session.redo()
            return again, fetch_proposal(session, again.a_id if again is not None else None)

        self._submit(run, lambda result: self._after_history("Redid", *result), "Redoing…")

    def _after_history(self, verb: str, decision, loaded: LoadedProposal) -> None:
        if decision is None:
            self.status_message.emit(f"Nothing to {verb.lower()[:-1]}.")
        else:
            self.status_message.emit(f"{verb} {decision.kind.value} #{decision.a_id}–#{decision.b_id}.")
            self.decisions_changed.emit()
        self._show(loaded)

    def set_anchor_flank(self, flank: str | None) -> None:
        if self.proposal is None:
            return
        anchor = self.proposal.anchor.id

        def run(session: ReviewSession):
            session.set_flank(anchor, flank)
            return fetch_proposal(session, anchor)

        self._submit(run, self._show, "Saving flank…")
        self.status_message.emit(f"Anchor #{anchor}: {flank or 'unknown'} flank.")

    def request_redraw(self) -> None:
        if self.proposal is not None:
            self.redraw_requested.emit(self.proposal.anchor.id)

    def ask_unusable(self) -> None:
        from pelage.ui.box_dialogs import ask_unusable_reason

        if self.proposal is None:
            return
        anchor = self.proposal.anchor.id
        reason = ask_unusable_reason(self, anchor)
        if reason:
            self.mark_unusable(anchor, reason)

    def mark_unusable(self, animal_id: int, reason: str) -> None:
        """Set an animal aside with ``reason``; the next proposal follows (without it)."""

        def run(session: ReviewSession):
            reason_kept = session.mark_unusable(animal_id, reason)
            return reason_kept, fetch_proposal(session)

        def done(result) -> None:
            reason_kept, loaded = result
            self.status_message.emit(f"Animal #{animal_id} set aside as not usable ({reason_kept}); Photos to check ▸ Restore brings it back.")
            self.decisions_changed.emit()
            self.animals_changed.emit()
            self._show(loaded)

        self._submit(run, done, "Setting aside…")

    def _same_flank_toggled(self, checked: bool) -> None:
        anchor = self.proposal.anchor.id if self.proposal else None

        def run(session: ReviewSession):
            session.same_flank = checked
            return fetch_proposal(session, anchor)

        self._submit(run, self._show, "Finding candidates…")
