"""One reviewer's session: what to look at next, and the decisions, kept in memory and written through to the store.

API (what the GUI and ``pelage propose/decide/…`` use)::

    session = ReviewSession(project, model=None, same_flank=True, k=5, author=None)   # loads once; close() or `with`
    session.next_proposal(anchor_id=None) -> Proposal | None    # None: nothing left to review
    session.decide(anchor_id, candidate_id, kind)  -> ActiveDecision   # committed before it returns
    session.undo(among=None) -> ActiveDecision | None   # the decision undone (its anchor becomes current again);
    session.redo(among=None) -> ActiveDecision | None   # among: only if it is one of these decision ids (one key's answers)
    session.skip(anchor_id)                        # to the back of the queue, for this session only
    session.current_anchor -> int | None          # the anchor under review (proposals stay on it until it is finished)
    session.set_flank(animal_id, "left" | "right" | None)
    session.mark_unusable(animal_id, reason); session.restore(animal_id)   # set a bad detection aside, bring it back
    session.conflicts() -> list[Conflict]          # a "not a match" inside one individual
    session.resolve_conflict(conflict, same: bool) # same: drop the rejection; else split the pair apart
    session.merge(a_id, b_id) -> list[int]         # retracted rejections; session.split(a_id, b_id) -> cut edges
    session.individuals(min_members=2) -> list[IndividualSummary]; session.rename(member_id, name)
    session.gallery(animal_id) -> list[AnimalRecord]   # the animal's individual, oldest first
    session.links(animal_id) -> list[(a, b)]; session.match_path(a_id, b_id) -> list[int]   # read the graph under the lock
    session.record(id), session.flank(id), session.crop_path(id), session.image_path(id), session.progress()
    session.answers(anchor_id) -> list[ActiveDecision]  # what is decided about an animal so far (the line under the anchor)
    session.resume(anchor_id) -> bool              # start at this anchor (the one on screen when the project closed), if still open
    session.refresh()                              # re-read the store (another process identified or decided)
    session.box_changed(animal_id)                 # its box was redrawn (and re-identified): re-read, tell the listeners
    session.events.subscribe(listener)             # ReviewEvent after each change: see pelage.review.events
    Proposal(anchor: AnimalRecord, anchor_flank, candidates: tuple[CandidateView, ...]).as_json()
    CandidateView(id, score = calibrated P(same), cosine, inliers, verified, record: AnimalRecord, flank, photos, scenery,
                  via = the candidate that vouched for it, direct = its own P(same) then)

Everything is loaded once (records, the vectors, the decision graph) and updated incrementally, so a decision
and the next proposal take milliseconds (``bench/review_bench.py``): the store is written, never re-read. Up to
the FAISS index's exact limit a search is one matrix-vector product over the vectors in memory; past it, the
project's approximate index (kept in step with the store) answers.
Candidates for an anchor never include its own photo, its own individual, individuals rejected against it,
animals it already has a decision with, or (with ``same_flank``) animals showing the other known flank. An
individual that confirmed matches already group takes one slot: its best-scoring photo stands for it
(``CandidateView.photos`` says how many photos that is), since one answer settles all of them.
Candidates are ordered by :meth:`pelage.reid.scoring.PatternScorer.rank`: each pair's calibrated score, and the
strongest candidates vouching for the others they match (``CandidateView.via``), so a photo that shares no spot with
the anchor but many with its likely match is not left at the bottom.
Anchors come in the order of :mod:`pelage.review.queue`; an anchor is finished once the reviewer found its
match or answered ``k`` questions about it, and the session resumes at the anchor of the newest decision.
Methods may be called from any thread (one lock serialises them): the GUI runs them in a worker.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import networkx as nx
import numpy as np
from sqlalchemy import select

from pelage.reid.candidates import index_path, stored_vectors, sync_index
from pelage.reid.flank import same_flank_allowed
from pelage.reid.index import Candidate, CandidateIndex
from pelage.reid.nearest import appearance_rows, best_in_other_photos, nearest_path, unit_rows
from pelage.reid.ranking import SHORTLIST, TOP_K
from pelage.reid.scenery import detection_places
from pelage.reid.scoring import PatternScorer
from pelage.reid.spot_words import words_in_model_id
from pelage.review import actions
from pelage.review.events import ReviewEvent, ReviewEventKind, ReviewEvents
from pelage.review.graph import ActiveDecision, Conflict, DecisionGraph
from pelage.review.individuals import rename_individual
from pelage.review.model import ReviewModel, resolve_review_model
from pelage.review.queue import NO_CANDIDATE, AnchorQueue
from pelage.review.summary import IndividualSummary, summarise_individuals
from pelage.store import Project, transaction
from pelage.store.queries import AnimalRecord, list_animals
from pelage.store.schema import DecisionKind, Detection, Flank, Survey

LOOK_AHEAD_ANCHORS = 2  # anchors whose shortlists are verified while the reviewer looks at the current one
LOOK_AHEAD_DELAY_S = 0.15  # a person looks at a proposal for a second or more; a plan starts after this
LOOK_AHEAD_VOUCHERS_S = 3.0  # how long planning waits for an upcoming anchor's own pairs before its vouchers'


@dataclass(frozen=True)
class CandidateView:
    id: int
    score: float  # calibrated probability that it is the anchor's animal
    cosine: float  # embedding similarity
    inliers: int  # verified spot matches (0 when not verified)
    verified: bool  # whether pattern matching ran (both animals have crops)
    record: AnimalRecord
    flank: Flank | None
    photos: int = 1  # photos of the confirmed individual this photo stands for (1: an animal on its own)
    scenery: bool = False  # the same spot of one camera's view on another day, matching in place: spots not counted
    via: int | None = None  # the candidate that vouched for it (matches both), where that raised the score notably
    direct: float | None = None  # the pair's own P(same) where ``via`` gave the score


@dataclass(frozen=True)
class Proposal:
    anchor: AnimalRecord
    anchor_flank: Flank | None
    candidates: tuple[CandidateView, ...]

    def as_json(self) -> dict:
        """The shape ``pelage propose --json`` prints."""
        return {"anchor": {"id": self.anchor.id}, "candidates": [{"id": c.id, "score": round(c.score, 6)} for c in self.candidates]}


@dataclass(frozen=True)
class ReviewProgress:
    finished: int  # anchors whose match was found or that had k answers
    total: int  # embedded animals


class ReviewSession:
    """Holds the decision graph, the candidate index and caches for one reviewer; every change is committed
    to the store before the method returns (see the module docstring for the API)."""

    def __init__(self, project: Project, model: str | Path | None = None, same_flank: bool = True, k: int = TOP_K,
                 shortlist: int = SHORTLIST, author: str | None = None) -> None:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        self.project, self.same_flank, self.k, self.shortlist, self.author = project, same_flank, k, max(k, shortlist), author
        self.model: ReviewModel = resolve_review_model(project, model)
        self._lock = threading.RLock()
        self._skipped: list[int] = []
        self.scorer: PatternScorer | None = None
        self._planner: ThreadPoolExecutor | None = None  # plans look-ahead verification without holding up a proposal
        self._proposals = 0  # proposals made: a plan for an older one is dropped
        self.events = ReviewEvents()
        self._load()

    # --- loading -------------------------------------------------------------------------------------

    def _load(self) -> None:
        with self.project.sessions() as session:
            self._records = {record.id: record for record in list_animals(session, usable_only=True)}  # set-aside ones are out
            rows = session.execute(select(Detection.id, Detection.image_id, Detection.flank, Detection.crop_path, Detection.mask_path)
                                   .where(Detection.label == "animal", Detection.unusable_reason.is_(None))).all()
            self._survey_roots = dict(session.execute(select(Survey.name, Survey.root)).all())
            self.graph = DecisionGraph.load(session)
            places = detection_places(session)
        self._image_of = {row.id: row.image_id for row in rows}
        self._photo: dict[int, set[int]] = {}
        for animal, image in self._image_of.items():
            self._photo.setdefault(image, set()).add(animal)
        self._flank: dict[int, Flank | None] = {row.id: Flank(row.flank) if row.flank else None for row in rows}
        crops = {row.id: (row.crop_path, row.mask_path) for row in rows}
        if self.scorer is not None:
            self.scorer.close()
        self.scorer = PatternScorer(self.project.artefacts, crops, self.model.calibration, places=places)

        ids, vectors = stored_vectors(self.project, self.model.model_id)
        self.index: CandidateIndex = sync_index(self.project, self.model.model_id, ids, vectors)
        keep = np.isin(ids, np.fromiter(self._records, np.int64, len(self._records)))
        self._ids, self._vectors = ids[keep], unit_rows(vectors[keep]) if len(ids) else vectors
        words = words_in_model_id(self.model.model_id)  # the queue orders by appearance alone (pelage.reid.nearest)
        self._appearance = appearance_rows(vectors[keep], words) if words and len(ids) else self._vectors
        self._row = {int(animal): row for row, animal in enumerate(self._ids)}
        self._flank_sets()
        self._count_answers()
        self.queue = AnchorQueue(self._static_bounds())
        newest = actions.newest_anchor(self.project)
        self._current: int | None = newest if newest in self._row else None

    def _flank_sets(self) -> None:
        """Per known flank, the embedded animals a same-flank anchor may be shown (that flank or unknown)."""
        sides = [side.value if (side := self._flank.get(int(i))) else None for i in self._ids]
        self._allowed_rows = {side: same_flank_allowed([side.value], sides)[0] for side in Flank}
        self._allowed = {side: self._ids[rows] for side, rows in self._allowed_rows.items()}

    def _count_answers(self) -> None:
        decisions = self.graph.decisions()
        self._answers = Counter(decision.a_id for decision in decisions)
        self._matched = {decision.a_id for decision in decisions if decision.kind == DecisionKind.MATCH}

    def _static_bounds(self) -> dict[int, float]:
        """Each anchor's best cosine to an animal in another photo, decisions and flanks ignored: an upper bound on its
        priority that stays valid whatever is decided. Kept in the project and updated only for new or changed vectors
        (:mod:`pelage.reid.nearest`), so opening a session is linear in the animals, not quadratic."""
        best, _ = best_in_other_photos(nearest_path(index_path(self.project, self.model.model_id)), self._ids, self._appearance,
                                       self._image_of)
        return {anchor: (bound if np.isfinite(bound) else NO_CANDIDATE) for anchor, bound in zip(self._ids.tolist(), best.tolist(),
                                                                                               strict=True)}

    # --- candidates ----------------------------------------------------------------------------------

    def excluded(self, anchor_id: int) -> set[int]:
        """Every animal never to propose for the anchor (its photo, its individual, blocked and decided animals)."""
        with self._lock:
            return self.graph.excluded_for(anchor_id) | self._photo.get(self._image_of.get(anchor_id), set())

    def _search(self, anchor: int, n: int, vectors: np.ndarray | None = None) -> list[Candidate]:
        """The anchor's ``n`` most similar allowed animals, best first (exact cosines of ``vectors``, by default the
        identification vectors; the approximate index past its exact limit always searches those)."""
        flank = self._flank.get(anchor)
        filtered = self.same_flank and flank is not None
        excluded = self.excluded(anchor)
        if not self.index.is_exact:  # past the index's exact limit: its approximate search, filters applied inside
            return self.index.search(self._vectors[self._row[anchor]], k=n, exclude=excluded,
                                     allowed=self._allowed[flank] if filtered else None)[0]
        # Exact: one matrix-vector product over the vectors in memory, filters as a mask. Faster than the index's
        # filtered search for one query (no per-vector selector calls), and the same cosines.
        vectors = self._vectors if vectors is None else vectors
        scores = vectors @ vectors[self._row[anchor]]
        if filtered:
            scores[~self._allowed_rows[flank]] = -np.inf
        rows = [self._row[i] for i in excluded if i in self._row]
        scores[rows] = -np.inf
        n = min(n, len(scores))
        if n <= 0:
            return []
        top = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
        top = top[np.lexsort((self._ids[top], -scores[top]))]  # best first, smaller id on ties
        return [Candidate(int(self._ids[i]), float(scores[i])) for i in top if scores[i] > -np.inf]

    def _priority(self, anchor: int) -> float:
        """The appearance cosine of the anchor's best remaining candidate (see :func:`pelage.reid.nearest.appearance_rows`);
        past the index's exact limit, that of the best candidate the approximate index finds."""
        if self.index.is_exact:
            hits = self._search(anchor, 1, self._appearance)
            return hits[0].score if hits else NO_CANDIDATE
        n = 8
        while True:  # the index also holds animals set aside since: look past them, as the shortlist does
            found = self._search(anchor, n)
            hits = [hit for hit in found if hit.id in self._row]
            if hits or len(found) < n:
                break
            n *= 4
        return float(self._appearance[self._row[hits[0].id]] @ self._appearance[self._row[anchor]]) if hits else NO_CANDIDATE

    @property
    def current_anchor(self) -> int | None:
        """The anchor under review: the next proposal stays on it while it is unfinished."""
        return self._current

    def finished(self, anchor_id: int) -> bool:
        """Whether the reviewer found the anchor's match or answered ``k`` questions about it."""
        return anchor_id in self._matched or self._answers[anchor_id] >= self.k

    def _check_embedded(self, animal_id: int) -> None:
        if animal_id not in self._row:
            what = ("is not a detected animal in review (or it was set aside: `pelage restore`)" if animal_id not in self._records
                    else f"has no embedding from model {self.model.model_id}")
            raise ValueError(f"animal {animal_id} {what}: see `pelage animals PROJECT`, run `pelage identify PROJECT`")

    def next_proposal(self, anchor_id: int | None = None) -> Proposal | None:
        """The given anchor, else the current one while it is unfinished, else the next in the queue; with
        its best ``k`` candidates. None when nothing is left to review."""
        with self._lock:
            if anchor_id is not None:
                self._check_embedded(anchor_id)
                self._current = anchor_id
                return self._proposal(anchor_id)
            current = self._current
            if current is not None and current not in self._skipped and not self.finished(current):
                proposal = self._proposal(current)
                if proposal.candidates:
                    return proposal
            skipped = set(self._skipped)
            anchor = self.queue.best(self._priority, lambda a: not self.finished(a) and a not in skipped)
            while anchor is None and self._skipped:
                candidate = self._skipped.pop(0)
                self.queue.reset([candidate])  # back in the queue, so it is not lost if it is left unfinished
                if not self.finished(candidate) and self._priority(candidate) != NO_CANDIDATE:
                    anchor = candidate
            self._current = anchor
            return self._proposal(anchor) if anchor is not None else None

    def _proposal(self, anchor: int) -> Proposal:
        hits = self._shortlist(anchor)
        candidates: list[CandidateView] = []
        shown: set[int] = set()
        vectors = {hit.id: self._vectors[self._row[hit.id]] for hit in hits}
        ranking = self.scorer.rank(anchor, ((hit.id, hit.score) for hit in hits), vectors, shown=self.k,
                                   group=lambda i: min(self.graph.component(i)), wait=False)
        for ranked in ranking:
            i = ranked.id
            individual = self.graph.component(i)
            if individual & shown:
                continue  # a better-scoring photo already stands for this individual
            shown |= individual
            photos = sum(1 for member in individual if member in self._records)
            candidates.append(CandidateView(i, ranked.score, ranked.cosine, ranked.inliers, ranked.verified, self._records[i],
                                            self._flank.get(i), photos, ranked.scenery, ranked.via, ranked.direct))
            if len(candidates) == self.k:
                break
        if self._planner is None:
            self._planner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pelage-plan")
        self._proposals += 1
        self._planner.submit(self._plan_ahead, anchor, self._proposals)
        return Proposal(self._records[anchor], self._flank.get(anchor), tuple(candidates))

    def _shortlist(self, anchor: int) -> list[Candidate]:
        """The anchor's most similar allowed animals, enough of them to hold ``k`` individuals: the shortlist,
        widened while a few large individuals fill it."""
        n = self.shortlist
        while True:
            hits = [hit for hit in self._search(anchor, n) if hit.id in self._records]
            individuals = {min(self.graph.component(hit.id)) for hit in hits}
            if len(individuals) >= self.k or n >= len(self._ids):
                return hits
            n *= 4

    def _plan_ahead(self, anchor: int, proposal: int) -> None:
        """(On the planner thread, after a proposal.) Verify in the background what is probably shown next while the
        reviewer looks: the candidates that slide in after an answer, and the shortlist of the anchor that comes after
        this one once it is finished. It waits a moment first, so a reviewer (or script) that answers at once is not
        held up by planning for a proposal already gone."""
        time.sleep(LOOK_AHEAD_DELAY_S)
        if proposal != self._proposals:
            return
        with self._lock:
            if proposal != self._proposals or self._current != anchor or self.scorer is None:
                return  # the reviewer has already moved on
            if self.scorer.has_crop(anchor):
                self.scorer.prefetch([(anchor, hit.id) for hit in self._search(anchor, self.shortlist + self.k)[self.shortlist:]])
                # An answer lowers the bar to be shown, and a voucher below it then checks the anchor's other candidates:
                # those of the next answer are checked now (the anchor's own pairs are known since its proposal), before
                # the next anchors' shortlists.
                self.scorer.prefetch_vouchers(anchor, [(hit.id, hit.score) for hit in self._shortlist(anchor)], timeout=0,
                                              shown=self.k, answers=1)
            pairs = []
            # The next anchor depends on the answers still to come: the anchor right after this one is often one of its
            # candidates (a mutual best pair has one priority), which an answer on the pair demotes; so the two best
            # anchors after this one are verified, the likelier first.
            skipped = set(self._skipped)
            passing = {anchor}
            upcoming_hits: list[tuple[int, list[tuple[int, float]]]] = []
            for _ in range(LOOK_AHEAD_ANCHORS):
                upcoming = self.queue.best(self._priority, lambda a: not self.finished(a) and a not in skipped, passing=passing)
                if upcoming is None:
                    break
                passing.add(upcoming)
                if self.scorer.has_crop(upcoming):
                    hits = self._shortlist(upcoming)
                    pairs += [(upcoming, hit.id) for hit in hits]
                    upcoming_hits.append((upcoming, [(hit.id, hit.score) for hit in hits]))
            self.scorer.prefetch(pairs)
            scorer = self.scorer
        for upcoming, hits in upcoming_hits:  # then their vouchers' pairs, once their own are known (outside the lock)
            if proposal != self._proposals:
                return
            scorer.prefetch_vouchers(upcoming, hits, timeout=LOOK_AHEAD_VOUCHERS_S, shown=self.k)

    # --- decisions -----------------------------------------------------------------------------------

    def decide(self, anchor_id: int, candidate_id: int, kind: DecisionKind | str) -> ActiveDecision:
        """Record an answer on (anchor, candidate); it is in the store when this returns."""
        with self._lock:
            earlier = self.graph.decision(anchor_id, candidate_id)
            decision = actions.decide(self.project, anchor_id, candidate_id, kind, self.author)
            if earlier is not None:  # a changed answer can un-block pairs: re-derive what it touches
                self._changed([(anchor_id, candidate_id)])
            else:  # a new answer only ever removes candidates: the queue's bounds stay valid
                self.graph.add(decision)
                self._answers[decision.a_id] += 1
                if decision.kind == DecisionKind.MATCH:
                    self._matched.add(decision.a_id)
            self._current = anchor_id
        self.events.emit(ReviewEvent(ReviewEventKind.DECIDED, (decision.a_id, decision.b_id), decision))
        return decision

    def undo(self, among: Collection[int] | None = None) -> ActiveDecision | None:
        """Undo the newest decision in force (with ``among``, only if it is one of those decision ids); its anchor
        becomes the current one again."""
        with self._lock:
            undone = actions.undo(self.project, self.author, among)
            if undone is not None:
                self._changed([(undone.a_id, undone.b_id)])
                self._current = undone.a_id
                self._unskip(undone.a_id)
        if undone is not None:
            self.events.emit(ReviewEvent(ReviewEventKind.UNDONE, (undone.a_id, undone.b_id), undone))
        return undone

    def redo(self, among: Collection[int] | None = None) -> ActiveDecision | None:
        """Redo what the newest undo took back (with ``among``, only if it is one of those decision ids)."""
        with self._lock:
            again = actions.redo(self.project, self.author, among)
            if again is not None:
                self._changed([(again.a_id, again.b_id)])
                self._current = again.a_id
        if again is not None:
            self.events.emit(ReviewEvent(ReviewEventKind.REDONE, (again.a_id, again.b_id), again))
        return again

    def skip(self, anchor_id: int) -> None:
        """Put an anchor at the back of the queue, for this session only (the store keeps no trace)."""
        with self._lock:
            self._unskip(anchor_id)
            self._skipped.append(anchor_id)
            if self._current == anchor_id:
                self._current = None

    def _unskip(self, anchor_id: int) -> None:
        if anchor_id in self._skipped:
            self._skipped.remove(anchor_id)

    def set_flank(self, animal_id: int, flank: Flank | str | None) -> Flank | None:
        with self._lock:
            flank = actions.set_flank(self.project, animal_id, flank)
            self._flank[animal_id] = flank
            if animal_id in self._records:  # the cards say whose word the flank is
                self._records[animal_id] = replace(self._records[animal_id], flank=flank.value if flank else None, flank_source="user",
                                                   flank_confidence=None)
            self._flank_sets()
            self.queue.reset([animal_id])
            if animal_id in self._row:  # it may now be a candidate for anchors of the other flank
                cosine = self._appearance @ self._appearance[self._row[animal_id]]
                self.queue.raise_bounds({anchor: score for anchor, score in zip(self._ids.tolist(), cosine.tolist(), strict=True)
                                         if anchor != animal_id})
        self.events.emit(ReviewEvent(ReviewEventKind.FLANK_CHANGED, (animal_id,)))
        return flank

    def mark_unusable(self, animal_id: int, reason: str) -> str:
        """Set an animal aside with ``reason``: it leaves the queue and the candidates (see :func:`actions.mark_unusable`)."""
        with self._lock:
            reason = actions.mark_unusable(self.project, animal_id, reason)
            self._load()
        self.events.emit(ReviewEvent(ReviewEventKind.SET_ASIDE, (animal_id,)))
        return reason

    def restore(self, animal_id: int) -> str | None:
        """Bring an animal set aside back into review; returns the reason it had."""
        with self._lock:
            reason = actions.restore(self.project, animal_id)
            self._load()
        self.events.emit(ReviewEvent(ReviewEventKind.RESTORED, (animal_id,)))
        return reason

    def conflicts(self) -> list[Conflict]:
        """Rejections that confirmed matches contradict, between animals still in review (not set aside)."""
        with self._lock:
            return [c for c in self.graph.conflicts() if c.a_id in self._records and c.b_id in self._records]

    def resolve_conflict(self, conflict: Conflict, same: bool) -> None:
        """``same``: the two are one animal after all, the rejection is withdrawn; otherwise the matches that
        join them are retracted (a split), and the rejection stands."""
        with self._lock:
            if same:
                actions.retract_decision(self.project, conflict.decision_id, self.author)
                self._changed([(conflict.a_id, conflict.b_id)])
            else:
                self._split(conflict.a_id, conflict.b_id, reject=False)
        self.events.emit(ReviewEvent(ReviewEventKind.INDIVIDUALS_CHANGED, (conflict.a_id, conflict.b_id)))

    def merge(self, a_id: int, b_id: int) -> list[int]:
        """One individual from the two animals' individuals; returns the rejections between them it retracted."""
        with self._lock:
            before = self.graph
            retracted = actions.merge(self.project, a_id, b_id, self.author)
            pairs = [(a_id, b_id)] + [(d.a_id, d.b_id) for d in before.decisions() if d.id in set(retracted)]
            self._changed(pairs)
        self.events.emit(ReviewEvent(ReviewEventKind.INDIVIDUALS_CHANGED, (a_id, b_id)))
        return retracted

    def split(self, a_id: int, b_id: int, reject: bool = True) -> list[tuple[int, int]]:
        """Retract the fewest confirmed matches that join the two animals (and, with ``reject``, reject the pair)."""
        cut = self._split(a_id, b_id, reject)
        self.events.emit(ReviewEvent(ReviewEventKind.INDIVIDUALS_CHANGED, (a_id, b_id)))
        return cut

    def _split(self, a_id: int, b_id: int, reject: bool) -> list[tuple[int, int]]:
        with self._lock:
            cut = actions.split(self.project, a_id, b_id, reject, self.author)
            self._changed([*cut, (a_id, b_id)])
            return cut

    def _changed(self, pairs: Iterable[tuple[int, int]]) -> None:
        """Bring the graph up to date after a change on these pairs that may add candidates (an undo, a changed
        answer, a merge or a split), and re-queue every anchor whose candidates could have grown: the members of
        the individuals the pairs touch, before and after, and of individuals with rejections against those."""
        pairs = list(pairs)
        touched = {member for a, b in pairs for member in self.graph.component(a) | self.graph.component(b)}
        with self.project.sessions() as session:
            for a, b in pairs:
                self.graph.remove_pair(a, b)
                now = actions.pair_decision(session, a, b)  # an older answer on the pair may be in force again
                if now is not None:
                    self.graph.add(now)
        touched |= {member for a, b in pairs for member in self.graph.component(a) | self.graph.component(b)}
        self._count_answers()
        affected = set(touched)
        for decision in self.graph.decisions():
            if decision.kind == DecisionKind.NONMATCH:
                if decision.b_id in touched:
                    affected |= self.graph.component(decision.a_id)
                if decision.a_id in touched:
                    affected |= self.graph.component(decision.b_id)
        self.queue.reset(affected)

    def refresh(self) -> None:
        """Re-read everything from the store: new embeddings, other reviewers' decisions, new flanks."""
        with self._lock:
            self._load()
        self.events.emit(ReviewEvent(ReviewEventKind.RELOADED))

    def box_changed(self, animal_id: int) -> None:
        """Its box was redrawn and the animal identified again: re-read its crop and vector, tell the listeners."""
        with self._lock:
            self.scorer.forget_animal(animal_id)
            self._load()
        self.events.emit(ReviewEvent(ReviewEventKind.BOX_CHANGED, (animal_id,)))

    def resume(self, anchor_id: int | None) -> bool:
        """Make ``anchor_id`` (the anchor on screen when the project was last closed) the next proposal's anchor,
        when it is still in review, unfinished and has a candidate; otherwise keep the store's rule (the newest
        decision's anchor, else the queue)."""
        with self._lock:
            if anchor_id is None or anchor_id not in self._row or self.finished(anchor_id) or self._priority(anchor_id) == NO_CANDIDATE:
                return False
            self._current = anchor_id
            return True

    def answers(self, animal_id: int) -> list[ActiveDecision]:
        """The decisions in force on pairs with this animal, oldest first: what was decided about it so far."""
        with self._lock:
            return self.graph.decisions_of([animal_id])

    # --- individuals and records ---------------------------------------------------------------------

    def individuals(self, min_members: int = 2) -> list[IndividualSummary]:
        """Individuals with at least ``min_members`` photos, with when and where they were seen."""
        with self._lock, self.project.sessions() as session:
            return summarise_individuals(session, min_members, self._records, self.graph)

    def rename(self, member_id: int, name: str) -> None:
        """Name the individual that ``member_id`` belongs to."""
        with self._lock, transaction(self.project.sessions) as session:
            rename_individual(session, member_id, name)
        self.events.emit(ReviewEvent(ReviewEventKind.RENAMED, (member_id,)))

    def gallery(self, animal_id: int) -> list[AnimalRecord]:
        """The photos of the animal's individual, oldest first (undated last)."""
        with self._lock:
            members = self.graph.component(animal_id)
            records = [self._records[i] for i in members if i in self._records]
        return sorted(records, key=lambda record: (record.time is None, record.time or datetime.min, record.id))

    def links(self, animal_id: int) -> list[tuple[int, int]]:
        """The confirmed matches inside the animal's individual, as sorted pairs (what a split can cut)."""
        with self._lock:
            members = self.graph.component(animal_id)
            return sorted(tuple(sorted(edge)) for edge in self.graph.matches.subgraph(members).edges)

    def match_path(self, a_id: int, b_id: int) -> list[int]:
        """The chain of confirmed matches joining two animals (to show why a conflict's pair is one individual);
        empty when they are not in one individual."""
        with self._lock:
            if a_id == b_id or b_id not in self.graph.component(a_id):
                return [a_id] if a_id == b_id else []
            return nx.shortest_path(self.graph.matches, a_id, b_id)

    def record(self, animal_id: int) -> AnimalRecord:
        return self._records[animal_id]

    def flank(self, animal_id: int) -> Flank | None:
        return self._flank.get(animal_id)

    def crop_path(self, animal_id: int) -> Path | None:
        """The cached crop of the animal (background removed where the import could), if any."""
        crop = self.scorer.crops.get(animal_id, (None, None))[0]
        return self.project.artefacts / crop if crop else None

    def image_path(self, animal_id: int) -> Path:
        """The original photo, for full-resolution zoom."""
        record = self._records[animal_id]
        return Path(self._survey_roots[record.survey]) / record.image

    def progress(self) -> ReviewProgress:
        with self._lock:
            return ReviewProgress(sum(1 for animal in self._row if self.finished(animal)), len(self._row))

    def close(self) -> None:
        self._proposals += 1  # any plan not yet made is for a proposal gone: it returns at once
        planner, self._planner = self._planner, None
        if planner is not None:
            planner.shutdown(wait=True, cancel_futures=True)
        if self.scorer is not None:
            self.scorer.close()

    def __enter__(self) -> ReviewSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

