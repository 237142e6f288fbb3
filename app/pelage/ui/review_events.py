"""The review session's events as Qt signals, so every view refreshes itself when the review changes what it shows.

:class:`~pelage.review.session.ReviewSession` calls its listeners on the review worker's thread; a signal
emitted there reaches slots of widgets (which live in the GUI thread) queued, in the GUI thread. This
object only translates: which views care about which event is said by the signal they connect to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from pelage.review.events import ReviewEvent, ReviewEventKind

if TYPE_CHECKING:
    from pelage.review.session import ReviewSession

# Who is who and what they are called: the Individuals view (and the conflicts list) show these.
INDIVIDUAL_EVENTS = frozenset({ReviewEventKind.DECIDED, ReviewEventKind.UNDONE, ReviewEventKind.REDONE, ReviewEventKind.RENAMED,
                               ReviewEventKind.INDIVIDUALS_CHANGED, ReviewEventKind.SET_ASIDE, ReviewEventKind.RESTORED,
                               ReviewEventKind.RELOADED})
# What a detection is (its flank, its box, whether it is in review): the Photos view shows these.
ANIMAL_EVENTS = frozenset({ReviewEventKind.FLANK_CHANGED, ReviewEventKind.BOX_CHANGED, ReviewEventKind.SET_ASIDE,
                           ReviewEventKind.RESTORED, ReviewEventKind.RELOADED})


class ReviewSignals(QObject):
    """Listens to one session at a time (:meth:`attach`) and re-emits its events as signals."""

    event = Signal(object)  # every ReviewEvent
    individuals_changed = Signal()  # decisions, names, merges and splits: who is who
    animals_changed = Signal()  # a flank, a box, a detection set aside or restored

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._unsubscribe: Callable[[], None] | None = None

    def attach(self, session: ReviewSession | None) -> None:
        """Listen to ``session`` (None: to nothing) instead of the previous one."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if session is not None:
            self._unsubscribe = session.events.subscribe(self._received)

    def _received(self, event: ReviewEvent) -> None:
        self.event.emit(event)
        if event.kind in INDIVIDUAL_EVENTS:
            self.individuals_changed.emit()
        if event.kind in ANIMAL_EVENTS:
            self.animals_changed.emit()
