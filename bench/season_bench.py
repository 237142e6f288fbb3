"""A whole season through the path users run, at any size: generate → import → identify → propose → review → export.

Each stage runs as its own process, as a user runs it — the `pelage` command for import, identify, propose
(a cold review start: the session opens and makes its first proposal, pattern checks included), stations and
export — and the review stage is a scripted reviewer in a child process: `ReviewSession` (the window's core, pattern
checks and prefetch included) answers from the season's ground truth (same individual → match, else not a match),
timing each decision → next proposal. One JSON line per stage: wall time, cost per item, the stage process's peak
memory, and the store's size after it. With several sizes (`--images 1000 10000`) the last lines project each stage
to 100,000 and 1,000,000 frames from the measured per-item costs and how they grew between the two largest sizes
(a stage whose cost per item grows is extrapolated with that growth, never assumed flat).

    python bench/season_bench.py --images 1000 10000 [--workdir DIR] [--review-steps 200] [--think-ms 0]
    python bench/season_bench.py --review PROJECT SURVEY [--review-steps 200] [--think-ms 1500]   # the review stage alone
    python bench/season_bench.py --images 10000 --workdir DIR --resume DIR/season-10000-…   # after an interrupted run's import
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from _common import print_json

PELAGE = [sys.executable, "-m", "pelage"]
PROJECTIONS = (100_000, 1_000_000)


@dataclass
class StageResult:
    stage: str
    images: int
    items: int  # what the stage's cost is per: frames, animals, decisions
    item: str
    wall_s: float
    per_item_ms: float
    peak_rss_mb: float
    store_mb: float
    artefacts_mb: float
    extra: dict


def folder_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20 if path.is_dir() else 0.0


def run_measured(argv: list[str]) -> tuple[float, float, str]:
    """Like :func:`run_child`, with the child's own peak memory (``os.wait4`` reports it for that child only)."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"`{' '.join(argv[2:5])} …` failed with exit status {child.returncode}; run it by hand to see why.")
    return wall, usage.ru_maxrss / 1024, out


def one_season(images: int, workdir: Path, review_steps: int, seed: int, think_ms: float, resume: Path | None = None) -> list[StageResult]:
    """Every stage on a fresh season of ``images`` frames, in a new folder of its own under ``workdir``; with ``resume``
    (the folder of a run whose import finished), the stages after the import, on that run."""
    run = resume or Path(tempfile.mkdtemp(prefix=f"season-{images}-", dir=workdir))
    survey, project, out = run / "survey", run / "project", run / "export"
    results: list[StageResult] = []

    def stage(name: str, argv: list[str], items: int | None, item: str, report: bool = True, **extra) -> str:
        wall, peak, stdout = run_measured(argv)
        count = items if items is not None else images
        result = StageResult(name, images, count, item, round(wall, 2), round(1000 * wall / max(1, count), 2), round(peak, 1),
                             round(folder_mb(project / "project.sqlite"), 2), round(folder_mb(project / "artefacts"), 1), extra)
        results.append(result)
        if report:
            print_json("season", asdict(result))
        return stdout

    individuals = max(4, images // 250)
    if resume is None:
        stage("generate", [*PELAGE, "demo-survey", str(survey), "--images", str(images), "--stations", str(max(4, images // 250)),
                           "--individuals", str(individuals), "--seed", str(seed)], None, "frame")
        summary = json.loads(stage("import", [*PELAGE, "import", str(survey), "--project", str(project), "--json"], None, "frame"))
        animals = summary["detections"]
    else:
        animals = len(json.loads(subprocess.run([*PELAGE, "animals", str(project), "--json"], capture_output=True, text=True,
                                                check=True).stdout))
    stage("identify", [*PELAGE, "identify", str(project)], animals, "animal")
    stage("propose", [*PELAGE, "propose", str(project), "--json"], 1, "cold start")
    review = stage("review", [sys.executable, __file__, "--review", str(project), str(survey), "--review-steps", str(review_steps),
                              "--think-ms", str(think_ms)], review_steps, "decision", report=False)
    reviewed = results[-1]
    reviewed.extra.update(json.loads(review.strip().splitlines()[-1]))
    # Per decision: what the reviewer waits for (decision → next proposal), not the child's start and model load.
    reviewed.items, reviewed.per_item_ms = reviewed.extra["decisions"], reviewed.extra["next_proposal_median_ms"]
    print_json("season", asdict(reviewed))
    stage("stations", [*PELAGE, "stations", str(project), "--import", str(survey / "stations.csv")], 1, "table")
    stage("export", [*PELAGE, "export", str(project), "--format", "secr", "--out", str(out)], animals, "animal")
    return results


def scripted_review(project_dir: Path, survey: Path, steps: int, think_ms: float = 0.0) -> None:
    """The reviewer: answer each proposal's candidates from the ground truth, timing decision → next proposal; looking
    ``think_ms`` at each proposal first (untimed: the look-ahead verification works meanwhile; 0 is the worst case)."""
    import numpy as np

    from pelage.review.session import ReviewSession
    from pelage.season import GROUND_TRUTH, read_ground_truth
    from pelage.store import DecisionKind, open_project

    truth = {row["path"]: row["individual"] or None for row in read_ground_truth(survey / GROUND_TRUTH)}
    latencies, matches = [], 0
    with open_project(project_dir) as project:
        started = time.perf_counter()
        with ReviewSession(project) as session:
            opened = time.perf_counter() - started
            proposal = session.next_proposal()
            while proposal is not None and len(latencies) < steps and proposal.candidates:
                time.sleep(think_ms / 1000)
                who = truth.get(proposal.anchor.image)
                candidate = proposal.candidates[0]
                same = who is not None and truth.get(candidate.record.image) == who
                matches += same
                started = time.perf_counter()
                session.decide(proposal.anchor.id, candidate.id, DecisionKind.MATCH if same else DecisionKind.NONMATCH)
                proposal = session.next_proposal()
                latencies.append(time.perf_counter() - started)
    ms = 1000 * np.asarray(latencies or [0.0])
    print(json.dumps({"session_open_s": round(opened, 2), "think_ms": think_ms, "decisions": len(latencies), "matches": matches,
                      "next_proposal_median_ms": round(float(np.median(ms)), 1),
                      "next_proposal_p95_ms": round(float(np.percentile(ms, 95)), 1)}))


def project(results: dict[int, list[StageResult]]) -> list[dict]:
    """Each stage at 100k and 1M frames: per-item cost × items, with the per-item growth measured between the two sizes."""
    sizes = sorted(results)
    if not sizes:
        return []
    large = {r.stage: r for r in results[sizes[-1]]}
    small = {r.stage: r for r in results[sizes[-2]]} if len(sizes) > 1 else {}
    rows = []
    for name, at_large in large.items():
        growth = 0.0  # exponent of per-item cost in the number of frames
        if name in small and small[name].per_item_ms > 0 and at_large.per_item_ms > 0:
            growth = max(0.0, math.log(at_large.per_item_ms / small[name].per_item_ms) / math.log(sizes[-1] / sizes[-2]))
        for target in PROJECTIONS:
            scale = target / sizes[-1]
            items = at_large.items * (scale if at_large.item in ("frame", "animal") else 1)
            per_item = at_large.per_item_ms * scale ** growth
            rows.append({"projection": name, "images": target, "per_item_ms": round(per_item, 2), "item": at_large.item,
                         "hours": round(items * per_item / 3.6e6, 2), "store_mb": round(at_large.store_mb * scale, 0),
                         "artefacts_gb": round(at_large.artefacts_mb * scale / 1024, 1), "per_item_growth_exponent": round(growth, 2)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[1000])
    parser.add_argument("--workdir", type=Path, default=None,
                        help="Keep the seasons and projects in new folders under DIR (default: a temporary folder, removed after)")
    parser.add_argument("--review-steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--resume", type=Path, default=None,
                        help="a run folder (under --workdir) whose import finished: run the later stages on it, for the largest size")
    parser.add_argument("--think-ms", type=float, default=0.0, help="how long the scripted reviewer looks at each proposal (untimed)")
    parser.add_argument("--review", nargs=2, type=Path, metavar=("PROJECT", "SURVEY"), help="only the review stage, on an identified season")
    args = parser.parse_args()
    if args.review:
        scripted_review(*args.review, args.review_steps, args.think_ms)
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pelage-season-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = {}
    try:
        for images in sorted(args.images):
            results[images] = one_season(images, workdir, args.review_steps, args.seed, args.think_ms,
                                         args.resume if images == max(args.images) else None)
        for row in project(results):
            print_json("projection", row)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
