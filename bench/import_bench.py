"""Import throughput end to end: milliseconds per frame of a real import, and per stage.

Each run imports a folder into a fresh project with the importer itself (hash, decode, detect, mask, edge,
cached files, one transaction per photo), the models loaded and warmed up beforehand. CPU milliseconds per frame
(all threads) are printed too: on a machine others share, wall time varies with their load, CPU time much less. ``--reference`` also
runs the path Pelage had before (rembg run again on every crop, one photo at a time), alternating with the
current one on the same frames, so both are measured in one run on the same machine state.

    python bench/import_bench.py [--reference] [--rounds 2] [--threads 2] [--workers N] [--detector saliency]
        [--folders snow-leopards,demo,camera-traps] [--season 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _common import print_json, shared_dataset
from pelage.demo import make_demo_survey
from pelage.ingest import DetectorConfig, ImportOptions, build_pipeline, import_survey
from pelage.ingest.importer import scan_survey, worker_count
from pelage.paths import resolve_user_paths
from pelage.store import open_project

STAGES = ("decode", "detect", "segment", "edge", "write")


@dataclass(frozen=True)
class Way:
    """One way of importing: the current path or the reference (before masks reused and photos overlapped)."""

    name: str
    reuse_detector_masks: bool
    workers: int
    threads: int


def paths_to_run(args: argparse.Namespace) -> list[Way]:
    current = Way("current", True, worker_count(ImportOptions(workers=args.workers)), args.threads)
    return [Way("reference", False, 1, args.reference_threads), current] if args.reference else [current]


def import_once(root: Path, way: Way, detector: str) -> dict:
    """Import ``root`` into a fresh project; the models are loaded and warmed up before the clock starts."""
    with tempfile.TemporaryDirectory() as scratch, open_project(Path(scratch) / "project", create=True) as project:
        pipeline = build_pipeline(resolve_user_paths(), project.artefacts, DetectorConfig(name=detector),
                                  threads=way.threads, reuse_detector_masks=way.reuse_detector_masks)
        first = next(root / p for p in scan_survey(root).images)
        pipeline.find(pipeline.decode(first).rgb)  # first inference pays for graph optimisation
        pipeline.timer.seconds.clear()
        started, cpu_started = time.perf_counter(), time.process_time()
        summary = import_survey(project, root, lambda: pipeline, ImportOptions(workers=way.workers))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    frames = summary.images_found
    return {
        "path": way.name, "frames": frames, "failed": summary.failed, "detections": summary.detections,
        "ms_per_frame": 1000 * elapsed / frames, "cpu_ms_per_frame": 1000 * cpu / frames,
        "ms_per_stage": {s: 1000 * pipeline.timer.seconds.get(s, 0.0) / frames for s in STAGES},
    }


def bench_folder(name: str, root: Path, ways: list[Way], rounds: int, detector: str) -> list[dict]:
    """Alternate the ways round by round (reference, current, reference, …) and keep each one's median."""
    runs: dict[str, list[dict]] = {way.name: [] for way in ways}
    for _ in range(rounds):
        for way in ways:
            runs[way.name].append(import_once(root, way, detector))
    results = []
    for way in ways:
        done = runs[way.name]
        last = done[-1]
        results.append({
            "folder": name, "path": way.name, "workers": way.workers, "threads": way.threads,
            "reuse_detector_masks": way.reuse_detector_masks, "frames": last["frames"], "failed": last["failed"],
            "detections": last["detections"], "rounds": [round(r["ms_per_frame"]) for r in done],
            "ms_per_frame": round(statistics.median(r["ms_per_frame"] for r in done), 1),
            "cpu_ms_per_frame": round(statistics.median(r["cpu_ms_per_frame"] for r in done), 1),
            "ms_per_stage": {s: round(statistics.median(r["ms_per_stage"][s] for r in done), 1) for s in STAGES},
        })
    return results


def folders(names: list[str], scratch: Path, season: int) -> list[tuple[str, Path]]:
    """The shared frames that are here, the bundled demo survey, and a generated 2-MP season when asked."""
    found = []
    for name in filter(None, names):
        if name == "demo":
            make_demo_survey(scratch / "demo")
            found.append(("demo", scratch / "demo"))
        elif (root := shared_dataset(name)) is not None:
            found.append((name, root))
    if season:
        from pelage.season import SeasonSpec, make_season

        make_season(scratch / "season", SeasonSpec(images=season, stations=4, individuals=6, days=10))
        found.append((f"season-{season}", scratch / "season"))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", action="store_true", help="Also run the path before this one, alternating with it.")
    parser.add_argument("--rounds", type=int, default=2, help="Runs of each path per folder (the median is reported).")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads per model call, current path.")
    parser.add_argument("--reference-threads", type=int, default=2, help="onnxruntime threads, reference path.")
    parser.add_argument("--workers", type=int, default=None, help="Photos processed at once (default: the importer's).")
    parser.add_argument("--detector", default="saliency")
    parser.add_argument("--folders", default="snow-leopards,demo", help="Comma-separated: shared data sets and/or demo.")
    parser.add_argument("--season", type=int, default=0, help="Also import a generated season of this many 2-MP frames.")
    args = parser.parse_args()
    ways = paths_to_run(args)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, root in folders(args.folders.split(","), Path(scratch), args.season):
            for result in bench_folder(name, root, ways, args.rounds, args.detector):
                results.append(result)
                stages = "  ".join(f"{k} {v:.0f}" for k, v in result["ms_per_stage"].items())
                print(f"{name:<14} {result['path']:<9} {result['frames']:>4} frames, {result['detections']:>3} detections: "
                      f"{result['ms_per_frame']:>6.0f} ms/frame, CPU {result['cpu_ms_per_frame']:.0f} ms/frame "
                      f"(rounds {result['rounds']}; {result['workers']} workers × "
                      f"{result['threads']} threads)  stage ms/frame summed over workers [{stages}]", flush=True)
    print_json("import_bench", {"results": results, "detector": args.detector})


if __name__ == "__main__":
    main()
