"""Which candidate sits in which numbered slot while one anchor is under review.

The keys 1–5 answer about slots, so a slot must not change under the reviewer's fingers: after an answer
the session's next proposal leaves out the answered candidate, and re-numbering what is left would make the
next key press land on another animal. So an answered candidate keeps its slot (shown with its verdict) and
so does every candidate still proposed; only a slot whose candidate left the proposal (a flank changed, say)
takes a new one. Pure, so the rule is tested without a window.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence


def keep_slots(previous: Sequence[int | None], answered: Collection[int], fresh: Sequence[int], size: int) -> list[int | None]:
    """The slots after a new proposal for the same anchor.

    ``previous``: the candidate ids in the slots now (None: an empty slot); ``answered``: candidates with an
    answer in force for this anchor; ``fresh``: the new proposal's candidates, best first; ``size``: the
    number of slots. Answered and still-proposed candidates stay where they are; freed and empty slots take
    the fresh candidates not shown yet, in order. Trailing empty slots are dropped.
    """
    fresh_set = set(fresh)
    slots: list[int | None] = [c if c is not None and (c in answered or c in fresh_set) else None for c in previous[:size]]
    placed = {c for c in slots if c is not None}
    waiting = iter([c for c in fresh if c not in placed])
    for index, candidate in enumerate(slots):
        if candidate is None:
            slots[index] = next(waiting, None)
    slots += list(waiting)[:size - len(slots)]
    while slots and slots[-1] is None:
        slots.pop()
    return slots
