"""Review order: the anchor whose best remaining candidate is most similar comes first (most likely match first).

Why most-likely-first: every confirmed match merges two individuals, and every later proposal then skips
the whole individual, so early matches remove the most questions. The priority of an anchor is the appearance
cosine (:func:`pelage.reid.nearest.appearance_rows`) of its best candidate that is still allowed (not in its
individual, not blocked, not decided, not the same photo, not the other flank); it only falls as decisions
accumulate. So the queue is a lazy max-heap over upper bounds: the top is re-evaluated exactly, and served once
its exact value still beats every other bound.
The order is therefore a function of the store alone (vectors, flanks, decisions) and a new session resumes
exactly where the last one stopped. After a change that can raise priorities (an undo, a split, a new flank)
the caller resets the affected anchors to their static bound (best cosine ignoring decisions), always valid.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Collection, Iterable, Mapping

NO_CANDIDATE = -math.inf


class AnchorQueue:
    """Anchors by priority, evaluated lazily; ties go to the smaller id."""

    def __init__(self, static_bounds: Mapping[int, float]) -> None:
        self.static_bounds = dict(static_bounds)
        self._bound: dict[int, float] = {}
        self._heap: list[tuple[float, int]] = []
        self.reset(self.static_bounds)

    def __len__(self) -> int:
        return len(self._bound)

    def reset(self, anchors: Iterable[int]) -> None:
        """Put anchors back with their static bound (after an undo, say; unknown ids are ignored)."""
        for anchor in anchors:
            bound = self.static_bounds.get(anchor)
            if bound is None or bound == NO_CANDIDATE:
                continue
            if self._bound.get(anchor) != bound:
                self._bound[anchor] = bound
                heapq.heappush(self._heap, (-bound, anchor))

    def raise_bounds(self, bounds: Mapping[int, float]) -> None:
        """Raise anchors' bounds where a new candidate (an animal whose flank changed, say) may beat them."""
        for anchor, bound in bounds.items():
            if anchor in self.static_bounds and bound > self._bound.get(anchor, NO_CANDIDATE):
                self._bound[anchor] = bound
                heapq.heappush(self._heap, (-bound, anchor))

    def discard(self, anchor: int) -> None:
        self._bound.pop(anchor, None)  # its heap entry goes stale and is dropped when it surfaces

    def best(self, priority: Callable[[int], float], wanted: Callable[[int], bool] = lambda anchor: True,
             passing: Collection[int] = ()) -> int | None:
        """The anchor with the highest exact priority among those ``wanted`` (it stays queued), or None.

        ``priority`` gives an anchor's exact priority now (:data:`NO_CANDIDATE` when nothing is left to
        propose: the anchor leaves the queue); anchors not ``wanted`` (finished ones) leave the queue too.
        Anchors in ``passing`` are passed over but stay queued as they are (to look past the current anchor).
        """
        exact: set[int] = set()
        set_aside: list[tuple[float, int]] = []
        try:
            while self._heap:
                key, anchor = self._heap[0]
                if self._bound.get(anchor) != -key:
                    heapq.heappop(self._heap)  # stale entry
                    continue
                if anchor in passing:
                    set_aside.append(heapq.heappop(self._heap))
                    continue
                if anchor in exact:
                    return anchor
                if not wanted(anchor):
                    heapq.heappop(self._heap)
                    del self._bound[anchor]
                    continue
                value = priority(anchor)
                if value == NO_CANDIDATE:
                    heapq.heappop(self._heap)
                    del self._bound[anchor]
                    continue
                value = min(value, -key)  # never above the bound: float noise must not reorder equal cosines
                exact.add(anchor)
                self._bound[anchor] = value
                heapq.heapreplace(self._heap, (-value, anchor))
            return None
        finally:
            for entry in set_aside:
                heapq.heappush(self._heap, entry)
