"""The review screen: the anchor beside its top candidates, answered from the keyboard.

Every key press is turned into a core call on the review worker (:class:`~pelage.ui.workers.JobQueue`)
with the ids on screen at the moment of the press, so a fast reviewer never answers about a candidate that
slid in after the press. The decision is in the store when the job returns; the next proposal follows it
in the same queue. Slots do not move while an anchor is under review (:mod:`pelage.review.slots`): an
answered candidate stays in its slot, greyed with its verdict, until the anchor is finished.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QImage, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
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

from pelage.reid.scenery import SCENERY_EXPLAINED, SCENERY_SHORT
from pelage.review.events import ReviewEvent, ReviewEventKind
from pelage.review.position import load_position, save_position
from pelage.review.slots import keep_slots
from pelage.ui.cards import AnimalCard, describe_record
from pelage.ui.image_view import WHEEL_STEP, ViewSync
from pelage.ui.images import ViewMode, animal_files, load_views
from pelage.ui.review_events import ReviewSignals
from pelage.ui.shortcuts import BY_NAME, MATCH_KEYS, SHORTCUTS
from pelage.ui.workers import JobQueue

if TYPE_CHECKING:
    from pelage.review.graph import ActiveDecision
    from pelage.review.session import CandidateView, Proposal, ReviewSession

CANDIDATE_COLUMNS = 3


@dataclass
class LoadedProposal:
    proposal: Proposal | None
    images: dict[int, dict[ViewMode, QImage | None]]
    progress: tuple[int, int]
    answers: list[ActiveDecision] = field(default_factory=list)  # decided so far about the anchor
    individual: int = 1  # photos in the anchor's individual


def fetch_proposal(session: ReviewSession, anchor_id: int | None = None, resume: bool = False) -> LoadedProposal:
    """Next proposal and its images in every view mode (runs on the review worker). With ``resume``, start at the
    anchor that was on screen when the project was last closed; the anchor shown is remembered for next time."""
    root = session.project.root
    if resume and anchor_id is None:
        session.resume(load_position(root))
    proposal = session.next_proposal(anchor_id)
    images: dict[int, dict[ViewMode, QImage | None]] = {}
    answers: list[ActiveDecision] = []
    individual = 1
    if proposal is not None:
        save_position(root, proposal.anchor.id)
        ids = [proposal.anchor.id, *(c.id for c in proposal.candidates)]
        files = animal_files(session.project, ids)
        images = {i: load_views(files[i]) for i in ids if i in files}
        answers = session.answers(proposal.anchor.id)
        individual = len(session.gallery(proposal.anchor.id))
    progress = session.progress()
    return LoadedProposal(proposal, images, (progress.finished, progress.total), answers, individual)


def _repeat(step: Callable[..., ActiveDecision | None], batch: frozenset[int]) -> list[ActiveDecision]:
    """Undo (or redo) once, then again while what comes next belongs to the same key press as the first."""
    first = step()
    if first is None:
        return []
    done = [first]
    while first.id in batch and (more := step(among=batch)) is not None:
        done.append(more)
    return done


def _score_text(score: float) -> str:
    return f"{score * 100:.0f}%" if score >= 0.01 else "<1%"


def candidate_title(slot: int, candidate: CandidateView) -> str:
    """'[2]  83% same animal · 41 matched keypoints · through #7 · 1 of 3 photos': the calibrated chance first, in plain
    words; "through #7" when another candidate, matching both, gave the chance."""
    keypoints = f"{candidate.inliers} matched keypoints" if candidate.verified else "keypoints not checked"
    if candidate.scenery:
        keypoints = SCENERY_SHORT
    stands_for = f" · 1 of {candidate.photos} photos of one animal" if candidate.photos > 1 else ""
    via = f" · through #{candidate.via}" if candidate.via is not None else ""
    return (f"<b>[{slot + 1}]</b> &nbsp; <b>{_score_text(candidate.score)}</b> same animal "
            f"<span style='color:#9aa0a6'>· {keypoints}{via}{stands_for}</span>")


def candidate_tooltip(candidate: CandidateView) -> str:
    """What each number means, for the reviewer who wants to know."""
    keypoints = (f"{candidate.inliers} matched keypoints: spots of the coat found in both photos at positions that agree "
                 "(local features checked with a geometric fit)" if candidate.verified
                 else "Matched keypoints: not checked (one of the two photos has no cached crop)")
    if candidate.scenery:
        keypoints = SCENERY_EXPLAINED
    if candidate.via is not None and candidate.direct is not None:
        chance = (f"Chance that #{candidate.id} is the anchor's animal: {candidate.score:.1%}, through #{candidate.via}: "
                  f"#{candidate.via} matches the anchor, and #{candidate.id} matches #{candidate.via}. On its own this pair "
                  f"reads {candidate.direct:.1%}, calibrated from the two numbers below.")
    else:
        chance = f"Chance that #{candidate.id} is the anchor's animal: {candidate.score:.1%}, calibrated from the two numbers below."
    lines = [chance,
             keypoints + ".",
             f"Appearance similarity (cosine of the identification model's vectors: the coat's look and the kinds of spot "
             f"it holds): {candidate.cosine:.3f}."]
    if candidate.photos > 1:
        lines.append(f"#{candidate.id} stands for an individual of {candidate.photos} photos already confirmed as one animal: "
                     "your answer applies to all of them.")
    return "\n".join(lines)


ANSWER_WORDS = {"match": "same animal", "nonmatch": "different animals", "notcomparable": "not comparable"}
VERDICT_WORDS = {"match": "✓ same as", "nonmatch": "✗ different from", "notcomparable": "≈ not comparable with"}


def describe_answers(anchor_id: int, answers: list[ActiveDecision], individual: int) -> str:
    """The line under the anchor: what was decided about it so far, grouped by verdict, in plain words."""
    others: dict[str, list[str]] = {}
    for decision in answers:
        other = decision.b_id if decision.a_id == anchor_id else decision.a_id
        others.setdefault(decision.kind.value, []).append(f"#{other}")
    parts = [f"{VERDICT_WORDS[kind]} {', '.join(ids)}" for kind, ids in others.items() if kind in VERDICT_WORDS]
    decided = "Decided so far: " + " · ".join(parts) + "." if parts else "Nothing decided about this animal yet."
    if individual > 1:
        decided += f" One of {individual} photos of one individual."
    return decided


def scenery_advice(candidates: list[CandidateView]) -> str:
    """A sentence for an anchor that candidates show as the same place in its camera's view (a rock taken for an animal
    in every frame): the way to set it aside. Empty when there is none."""
    count = sum(candidate.scenery for candidate in candidates)
    if not count:
        return ""
    shows = "One candidate shows" if count == 1 else f"{count} candidates show"
    return f"{shows} the same place in this camera's view: if the anchor's box holds no animal, “Not usable…” sets it aside."


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
        self.slots: list[int | None] = []  # the candidate id in each numbered slot (None: an empty slot)
        self.shown: dict[int, CandidateView] = {}  # the candidates in the slots, answered ones included
        self.verdicts: dict[int, str] = {}  # candidate id -> the answer in force on (anchor, candidate)
        self.skipped: set[int] = set()  # candidates passed over on the current anchor (display only)
        self.saving: set[int] = set()
        self.key_batch: frozenset[int] = frozenset()  # decision ids the last answer key saved (Shift+X: several)
        self.undone_batch: frozenset[int] = frozenset()  # decision ids the last Ctrl+Z took back
        self.actions_by_name: dict[str, QAction] = {}
        self.sync = ViewSync()
        self.events = ReviewSignals(self)  # the session's changes as signals, for the other views to follow
        self.events.event.connect(self._session_changed)
        self._stale = False  # another view changed the individuals while this one was hidden
        self._build()
        self._build_actions()
        QApplication.instance().focusChanged.connect(self._focus_moved)
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
        self.answers_label = QLabel("")
        self.answers_label.setObjectName("anchorAnswers")
        self.answers_label.setWordWrap(True)
        self.answers_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.anchor_card.layout().addWidget(self.answers_label)
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
        self.events.attach(session)
        self.proposal = None
        self.images = {}
        self._clear_cards(message)
        if session is not None:
            self.same_flank.blockSignals(True)
            self.same_flank.setChecked(session.same_flank)
            self.same_flank.blockSignals(False)
            self.load(resume=True)

    def _clear_cards(self, message: str) -> None:
        self.message.setText(message)
        self.message.setVisible(bool(message))
        self.heading.setText("")
        self.progress_label.setText("")
        self.answers_label.setText("")
        self.anchor_card.clear("")
        self.slots, self.shown, self.verdicts = [], {}, {}
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
        self.take_focus()

    def _session_changed(self, event: ReviewEvent) -> None:
        if event.kind == ReviewEventKind.INDIVIDUALS_CHANGED and not self.isVisible():
            self._stale = True  # a merge or split in another tab: the candidates shown may now be one individual

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale and self.session is not None:
            self._stale = False
            self.load()

    def _focus_moved(self, _old: QWidget | None, new: QWidget | None) -> None:
        """Focus that lands on a container around the review (the window, its central widget: where Qt puts it
        when an overlay or a dialog goes) is handed down to the review, so its keys keep working."""
        if new is not None and new is not self and self.isVisible() and new.isAncestorOf(self):
            self.take_focus()

    def take_focus(self) -> None:
        """Give the keyboard back to the review (after a dialog or the shortcut overlay): its keys only work
        while the focus is in it."""
        if self.isVisible():
            self.setFocus(Qt.FocusReason.OtherFocusReason)

    def load(self, anchor_id: int | None = None, resume: bool = False) -> None:
        """Ask the worker for the next proposal (or the given anchor's; with ``resume``, the one on screen last time)."""
        self._submit(lambda session: fetch_proposal(session, anchor_id, resume), self._show, "Finding candidates…")

    def _show(self, loaded: LoadedProposal) -> None:
        previous_anchor = self.proposal.anchor.id if self.proposal else None
        kept_images = self.images
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
        anchor = proposal.anchor
        self.verdicts = {(d.b_id if d.a_id == anchor.id else d.a_id): d.kind.value for d in loaded.answers}
        fresh = [c.id for c in proposal.candidates]
        if anchor.id != previous_anchor:  # a new anchor: fresh slots
            self.skipped.clear()
            self.slots, self.shown = list(fresh), {}
        else:  # the same anchor: nothing moves (answered candidates stay, greyed, in their slots)
            self.slots = keep_slots(self.slots, [c for c in self.slots if c in self.verdicts], fresh, len(self.candidate_cards))
        kept = [c for c in self.slots if c is not None and c not in fresh]  # answered, no longer proposed: still shown
        self.shown = {c.id: c for c in proposal.candidates} | {c: self.shown[c] for c in kept if c in self.shown}
        self.images = {c: kept_images[c] for c in kept if c in kept_images} | self.images
        self.message.setVisible(False)
        self.heading.setText(f"<b>Anchor #{anchor.id}</b> — which of these is the same animal?")
        same_anchor = anchor.id == previous_anchor
        if same_anchor:  # keep its zoom: only what can change (the flank) is rewritten
            self.anchor_card.info.setText(describe_record(anchor, proposal.anchor_flank))
        else:
            self.anchor_card.show_animal(anchor.id, f"<b>Anchor</b> #{anchor.id}", describe_record(anchor, proposal.anchor_flank),
                                         self._image(anchor.id))
        advice = scenery_advice(proposal.candidates)
        self.answers_label.setText(describe_answers(anchor.id, loaded.answers, loaded.individual) + (f" {advice}" if advice else ""))
        for index, card in enumerate(self.candidate_cards):
            candidate = self.slot_candidate(index)
            if candidate is not None:
                info = describe_record(candidate.record, candidate.flank)
                if card.animal_id != candidate.id or not same_anchor:
                    card.show_animal(candidate.id, candidate_title(index, candidate), info, self._image(candidate.id))
                else:
                    card.title.setText(candidate_title(index, candidate))
                    card.info.setText(info)
                card.setToolTip(candidate_tooltip(candidate))
            else:
                card.clear("no more candidates" if index == len(self.slots) else "")
                card.setToolTip("")
        if not self.open_slots():
            self.message.setText("This anchor has no candidate left to compare with. Press N for the next anchor."
                                 if not proposal.candidates else "Every candidate shown is answered. Press N for the next anchor.")
            self.message.setVisible(True)
        if not same_anchor:
            self.sync.reset()
        self.select(self._next_open_slot(self.selected if same_anchor else 0))
        self._refresh_badges()
        self.proposal_shown.emit(proposal)

    def _image(self, animal_id: int) -> QImage | None:
        return self.images.get(animal_id, {}).get(self.mode)

    def slot_candidate(self, index: int) -> CandidateView | None:
        """The candidate in slot ``index`` (0-based), answered or not; None for an empty slot."""
        candidate = self.slots[index] if 0 <= index < len(self.slots) else None
        return self.shown.get(candidate) if candidate is not None else None

    def open_slots(self) -> list[int]:
        """Slots holding a candidate without an answer (or a save in flight)."""
        return [i for i, c in enumerate(self.slots) if c is not None and c not in self.verdicts and c not in self.saving]

    def _next_open_slot(self, start: int) -> int:
        """The first open slot not skipped from ``start`` on, wrapping round; ``start`` when there is none."""
        candidates = [i for i in self.open_slots() if self.slots[i] not in self.skipped]
        after = [i for i in candidates if i >= start]
        return (after or candidates or [start])[0]

    def _first_open_slot(self) -> int:
        return self._next_open_slot(0)

    def _refresh_badges(self) -> None:
        for card in self.candidate_cards:
            if card.animal_id is None:
                card.set_decision(None)
            elif card.animal_id in self.saving:
                card.set_decision("saving")
            elif card.animal_id in self.verdicts:
                card.set_decision(self.verdicts[card.animal_id])
            elif card.animal_id in self.skipped:
                card.set_decision("skipped")
            else:
                card.set_decision(None)

    # -- selection and view ----------------------------------------------------------------------
    @property
    def candidate_ids(self) -> list[int]:
        """The ids in the slots, in slot order (0 for an empty slot)."""
        return [c or 0 for c in self.slots]

    def select(self, index: int) -> None:
        count = len(self.slots)
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
        candidate = self.slot_candidate(self.selected)
        self.full_resolution_requested.emit(self.proposal.anchor.id, candidate.id if candidate is not None else 0)

    # -- answers ---------------------------------------------------------------------------------
    def decide_slot(self, index: int, kind: str) -> None:
        """Answer about the candidate in slot ``index`` (0-based) as it is on screen now. An answered slot can be
        answered again with another verdict (the new answer replaces the old one); the same verdict is not re-saved."""
        candidate = self.slot_candidate(index) if self.proposal is not None else None
        if candidate is None:
            self.status_message.emit("No candidate there.")
            return
        self.select(index)
        if candidate.id in self.saving:
            return
        if self.verdicts.get(candidate.id) == kind:
            self.status_message.emit(f"#{candidate.id} is already answered: {ANSWER_WORDS[kind]}. Ctrl+Z undoes it.")
            return
        self._decide([(self.proposal.anchor.id, candidate.id)], kind)

    def reject_all(self) -> None:
        """None of the unanswered candidates shown is the anchor's animal."""
        if self.proposal is None:
            return
        pairs = [(self.proposal.anchor.id, self.slots[i]) for i in self.open_slots()]
        if pairs:
            self._decide(pairs, "nonmatch")

    def _decide(self, pairs: list[tuple[int, int]], kind: str) -> None:
        self.saving.update(candidate for _, candidate in pairs)
        self._refresh_badges()
        # The next key is for the next open candidate, even before this answer is saved: a fast typist's X X X
        # answers three candidates, not the first one three times.
        self.select(self._next_open_slot(self.selected))

        def run(session: ReviewSession):
            return [session.decide(anchor, candidate, kind) for anchor, candidate in pairs]

        if self._submit(run, self._decided, "Saving decision…"):
            self.load()

    def _decided(self, decisions: list) -> None:
        for decision in decisions:
            self.decision_recorded.emit(decision)
        self.decisions_changed.emit()
        self.key_batch = frozenset(d.id for d in decisions)  # one key's answers: one Ctrl+Z takes them all back
        if decisions:
            last = decisions[-1]
            what = ANSWER_WORDS[last.kind.value]
            pairs = ", ".join(f"#{d.a_id}–#{d.b_id}" for d in decisions)
            self.status_message.emit(f"Saved: {pairs} {what}. Ctrl+Z undoes {'them' if len(decisions) > 1 else 'it'}.")

    def skip_candidate(self) -> None:
        """Pass over the selected candidate for now; after the last open one, move to the next anchor."""
        open_slots = self.open_slots()
        if not open_slots:
            self.next_anchor()
            return
        if self.selected in open_slots:
            self.skipped.add(self.slots[self.selected])
        self._refresh_badges()
        waiting = [i for i in open_slots if self.slots[i] not in self.skipped]
        if not waiting:
            self.next_anchor()
        else:
            self.select(self._next_open_slot(self.selected + 1))

    def next_anchor(self) -> None:
        if self.proposal is None:
            self.load()
            return
        anchor = self.proposal.anchor.id
        self._submit(lambda session: session.skip(anchor), None, "Next anchor…")
        self.load()
        self.status_message.emit(f"Anchor #{anchor} left for later.")

    def undo(self) -> None:
        """Take back the last key's answers: one decision, or all that one None match (Shift+X) saved."""
        batch = self.key_batch

        def run(session: ReviewSession):
            undone = _repeat(session.undo, batch)
            return undone, fetch_proposal(session, undone[0].a_id if undone else None)

        self._submit(run, lambda result: self._after_history("Undid", *result), "Undoing…")

    def redo(self) -> None:
        """Put back what the last Ctrl+Z took back, all of it."""
        batch = self.undone_batch

        def run(session: ReviewSession):
            again = _repeat(session.redo, batch)
            return again, fetch_proposal(session, again[0].a_id if again else None)

        self._submit(run, lambda result: self._after_history("Redid", *result), "Redoing…")

    def _after_history(self, verb: str, decisions: list[ActiveDecision], loaded: LoadedProposal) -> None:
        ids = frozenset(d.id for d in decisions)
        self.key_batch, self.undone_batch = (frozenset(), ids) if verb == "Undid" else (ids, frozenset())
        if not decisions:
            self.status_message.emit(f"Nothing to {verb.lower()[:-1]}.")
        else:
            what = ANSWER_WORDS.get(decisions[0].kind.value, decisions[0].kind.value)
            pairs = ", ".join(f"#{d.a_id}–#{d.b_id}" for d in decisions)
            self.status_message.emit(f"{verb} “{what}” on {pairs}.")
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
        from pelage.ui.box_dialogs import NOT_AN_ANIMAL, REASONS, ask_unusable_reason

        if self.proposal is None:
            return
        anchor = self.proposal.anchor.id
        suggested = NOT_AN_ANIMAL if any(c.scenery for c in self.proposal.candidates) else REASONS[0]
        reason = ask_unusable_reason(self, anchor, suggested)
        self.take_focus()
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
