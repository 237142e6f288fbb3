"""What a review session tells the views after each change, so they refresh themselves instead of being refreshed by hand.

Qt-free on purpose: the core stays testable without a display, and the GUI's adapter
(:mod:`pelage.ui.review_events`) turns each event into a signal. Listeners are called on the thread that
made the change (the GUI's review worker), after the change is committed and the session's lock is released.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pelage.review.graph import ActiveDecision

log = logging.getLogger(__name__)


class ReviewEventKind(StrEnum):
    DECIDED = "decided"  # a new or changed answer on a pair
    UNDONE = "undone"
    REDONE = "redone"
    FLANK_CHANGED = "flank changed"
    BOX_CHANGED = "box changed"  # an animal's box was redrawn: its crop, vector and candidates changed
    RENAMED = "renamed"  # an individual was named
    INDIVIDUALS_CHANGED = "individuals changed"  # a merge, a split or a resolved conflict
    SET_ASIDE = "set aside"  # a detection marked not usable
    RESTORED = "restored"  # a detection brought back into review
    RELOADED = "reloaded"  # everything was re-read from the store


@dataclass(frozen=True)
class ReviewEvent:
    kind: ReviewEventKind
    animals: tuple[int, ...] = ()  # the animals the change touched (the pair, the renamed member, …)
    decision: ActiveDecision | None = None  # the decision made, undone or redone


Listener = Callable[[ReviewEvent], None]


class ReviewEvents:
    """A small list of listeners; :meth:`subscribe` returns a function that unsubscribes."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def emit(self, event: ReviewEvent) -> None:
        """Call every listener. The change is already committed, so a failing listener is logged, not raised:
        it must not make a saved decision look lost."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - see the docstring
                log.exception("a review listener failed on %s", event.kind.value)
