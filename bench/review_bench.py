"""Review latency: from a decision to the next anchor and its candidates, on a project of 10,000 embedded animals.

A real project store (SQLite in a temporary folder) holds synthetic animals: one random centre per individual,
each photo the centre plus noise, 512-d like the bundled model, flanks known for half of them, some photos with
two animals, and a history of earlier decisions (matches inside individuals, rejections between them). A
simulated reviewer then answers each proposal truthfully (match / not a match) and every 25th answer is undone.
Timed per step: the decision (committed to the store), the next proposal, and their sum, which is what the
reviewer waits for; plus the session start and a cold ``pelage propose``-like start.

With ``--crops POOL`` every animal also gets a crop, mask and stored pattern features drawn like the season
generator's animals (``POOL`` distinct crops shared round-robin, larger than the feature cache), so each proposal
runs the real path: the shortlist's pattern checks, features read from the project, the prefetcher. Without it
scores are the embedding cosine alone. ``--think-ms`` is how long the simulated reviewer looks at a proposal
before answering (not timed): 0 is a reviewer faster than any person, the worst case for the prefetcher.
Acceptance (issue #15): decision → next proposal under 100 ms at the median and 300 ms at p95.

    python bench/review_bench.py [--animals 10000] [--dim 512] [--steps 300] [--history 2000] [--crops 0] [--think-ms 0] [--db URL]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert

from _common import REPO_ROOT, print_json

sys.path.insert(0, str(REPO_ROOT))  # the synthetic project builder is shared with the tests

from pelage.reid.candidates import stored_vectors, update_nearest  # noqa: E402
from pelage.review.session import ReviewSession  # noqa: E402
from pelage.store import transaction  # noqa: E402
from pelage.store.schema import Decision, DecisionKind  # noqa: E402
from tests.review_synthetic import attach_pattern_crops, build_synthetic_project  # noqa: E402

MEDIAN_BUDGET_MS = 100.0
P95_BUDGET_MS = 300.0


def add_history(synthetic, decisions: int, rng: np.random.Generator) -> None:
    """Earlier decisions: half matches between photos of one individual, half rejections between two."""
    by_identity: dict[int, list[int]] = {}
    for animal, who in synthetic.identity.items():
        by_identity.setdefault(who, []).append(animal)
    ids = synthetic.animal_ids
    rows = []
    while len(rows) < decisions:
        a = ids[rng.integers(len(ids))]
        mates = [b for b in by_identity[synthetic.identity[a]] if b != a]
        if mates and rng.random() < 0.5:
            rows.append({"a_id": a, "b_id": mates[rng.integers(len(mates))], "kind": DecisionKind.MATCH})
        else:
            b = ids[rng.integers(len(ids))]
            if synthetic.identity[b] != synthetic.identity[a]:
                rows.append({"a_id": a, "b_id": b, "kind": DecisionKind.NONMATCH})
    with transaction(synthetic.project.sessions) as session:
        session.execute(insert(Decision), rows)


def summary(times_s: list[float]) -> dict:
    ms = 1000 * np.asarray(times_s)
    return {"median_ms": round(float(np.median(ms)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2), "max_ms": round(float(ms.max()), 2)}


def timed_review(synthetic, model_id: str, k: int, steps: int, think_ms: float) -> dict:
    """One reviewer session: open it, answer ``steps`` proposals truthfully (every 25th step an undo), time each wait."""
    project = synthetic.project
    started = time.perf_counter()
    session = ReviewSession(project, model_id, k=k)
    start_s = time.perf_counter() - started
    started = time.perf_counter()
    proposal = session.next_proposal()
    first_s = time.perf_counter() - started

    decide_t, propose_t, total_t, undo_t, matches, verified = [], [], [], [], 0, 0
    for step in range(steps):
        if proposal is None:
            break
        if step and step % 25 == 0:
            started = time.perf_counter()
            session.undo()
            proposal = session.next_proposal()
            undo_t.append(time.perf_counter() - started)
            continue
        if think_ms:
            time.sleep(think_ms / 1000)  # the reviewer looks; the look-ahead verification works meanwhile
        candidate = proposal.candidates[0]
        same = synthetic.identity[candidate.id] == synthetic.identity[proposal.anchor.id]
        matches += same
        started = time.perf_counter()
        session.decide(proposal.anchor.id, candidate.id, "match" if same else "nonmatch")
        decided = time.perf_counter()
        proposal = session.next_proposal()
        done = time.perf_counter()
        verified += sum(view.verified for view in (proposal.candidates if proposal else ()))
        decide_t.append(decided - started)
        propose_t.append(done - decided)
        total_t.append(done - started)
    progress = session.progress()
    session.close()
    total = summary(total_t)
    return {
        "think_ms": think_ms, "session_start_s": round(start_s, 2), "first_proposal_ms": round(1000 * first_s, 2),
        "timed_decisions": len(total_t), "decide": summary(decide_t), "next_proposal": summary(propose_t),
        "decision_to_next_proposal": total, "undo_to_next_proposal": summary(undo_t) if undo_t else None,
        "matches_found": int(matches), "anchors_finished": progress.finished, "verified_shown": verified,
        "within_budget": bool(total["median_ms"] < MEDIAN_BUDGET_MS and total["p95_ms"] < P95_BUDGET_MS),
    }


def report(run: dict) -> None:
    print(f"  reviewer looks {run['think_ms']:.0f} ms before answering: session start {run['session_start_s']:.2f} s; "
          f"first proposal {run['first_proposal_ms']:.1f} ms")
    for label, key in (("decision (committed)", "decide"), ("next proposal", "next_proposal"),
                       ("decision -> next shown", "decision_to_next_proposal"), ("undo -> next shown", "undo_to_next_proposal")):
        figures = run[key]
        if figures:
            print(f"    {label:<24} median {figures['median_ms']:7.2f} ms   p95 {figures['p95_ms']:7.2f} ms   max {figures['max_ms']:7.2f} ms")
    print(f"    {run['timed_decisions']} decisions ({run['matches_found']} matches, {run['verified_shown']} shown candidates "
          f"pattern-checked); budget {MEDIAN_BUDGET_MS:.0f} ms median / {P95_BUDGET_MS:.0f} ms p95: "
          f"{'met' if run['within_budget'] else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--animals", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--steps", type=int, default=300, help="decisions timed")
    parser.add_argument("--history", type=int, default=2_000, help="decisions already in the store")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crops", type=int, default=0, help="distinct pattern crops to draw (0: no crops, embedding scores only)")
    parser.add_argument("--think-ms", type=float, nargs="+", default=[0.0],
                        help="the reviewer's look at each proposal before answering (not timed); several: one session each, same project")
    parser.add_argument("--db", default=None, help="SQLAlchemy URL of an empty server database (default: SQLite in a temporary folder)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    with tempfile.TemporaryDirectory(prefix="pelage-review-bench-") as scratch:
        started = time.perf_counter()
        synthetic = build_synthetic_project(Path(scratch) / "project", args.animals, dim=args.dim, per_individual=5, noise=2.5,
                                            seed=args.seed, database_url=args.db)
        add_history(synthetic, args.history, rng)
        crops = attach_pattern_crops(synthetic, args.crops, seed=args.seed) if args.crops else 0
        build_s = time.perf_counter() - started
        project = synthetic.project

        started = time.perf_counter()  # what `pelage identify` does at its end, so the reviewer's session start does not
        update_nearest(project, synthetic.model_id, *stored_vectors(project, synthetic.model_id))
        bounds_s = time.perf_counter() - started

        runs = [timed_review(synthetic, synthetic.model_id, args.k, args.steps, think) for think in args.think_ms]

        started = time.perf_counter()
        with ReviewSession(project, synthetic.model_id, k=args.k) as cold:
            cold.next_proposal()
        cold_s = time.perf_counter() - started
        project.close()

    database = "sqlite" if args.db is None else args.db.split(":", 1)[0]
    print(f"Review latency on {args.animals:,} embedded animals ({args.dim}-d), {args.history:,} earlier decisions, {database}, "
          f"{f'{crops:,} pattern crops' if crops else 'no crops'}")
    print(f"  project built in {build_s:.1f} s; queue bounds stored (identify's share) in {bounds_s:.1f} s; "
          f"cold start + proposal {cold_s:.2f} s")
    for run in runs:
        report(run)
    print_json("review_bench", {"animals": args.animals, "dim": args.dim, "history_decisions": args.history, "k": args.k, "crops": crops,
                                "database": database, "build_s": round(build_s, 2), "identify_bounds_s": round(bounds_s, 2),
                                "cold_propose_s": round(cold_s, 2), "budget_ms": {"median": MEDIAN_BUDGET_MS, "p95": P95_BUDGET_MS},
                                "runs": runs})


if __name__ == "__main__":
    main()
