"""Import throughput: images per second and milliseconds per stage of the default pipeline.

Runs the same per-image functions the importer runs (decode → detect → segment → edge → write) on
the shared snow-leopard and camera-trap frames, with the models limited to N CPU threads.

    python bench/import_bench.py [--threads 2] [--detector auto|saliency|yolo]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

from _common import print_json, shared_dataset
from pelage.ingest import DetectorConfig, build_pipeline
from pelage.ingest.decode import ImageReadError
from pelage.ingest.importer import scan_survey
from pelage.paths import resolve_user_paths

STAGES = ("decode", "detect", "segment", "edge", "write")


def bench_folder(root: Path, threads: int, detector: str) -> dict:
    files = [root / relative for relative in scan_survey(root).images]
    with tempfile.TemporaryDirectory() as scratch:
        pipeline = build_pipeline(resolve_user_paths(), Path(scratch), DetectorConfig(name=detector), threads=threads)
        warm = pipeline.decode(files[0]).rgb
        pipeline.detect(warm)  # first inference pays for graph optimisation; not part of the figures
        pipeline.timer.seconds.clear()
        megapixels, processed, detections, failed = 0.0, 0, 0, 0
        started = time.perf_counter()
        for path in files:
            try:
                rgb = pipeline.decode(path).rgb
            except ImageReadError:
                failed += 1
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            for rank, box in enumerate(pipeline.detect(rgb)):
                pipeline.process_box(rgb, digest, rank, box)
                detections += 1
            megapixels += rgb.shape[0] * rgb.shape[1] / 1e6
            processed += 1
        elapsed = time.perf_counter() - started
    per_stage = {stage: 1000 * pipeline.timer.seconds.get(stage, 0.0) / processed for stage in STAGES}
    return {
        "folder": root.name, "images": processed, "failed": failed, "detections": detections,
        "mean_megapixels": round(megapixels / processed, 2), "images_per_second": round(processed / elapsed, 3),
        "ms_per_image": round(1000 * elapsed / processed, 1),
        "ms_per_stage": {k: round(v, 1) for k, v in per_stage.items()}, "detector": pipeline.detector.name,
        "threads": threads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--detector", default="auto")
    args = parser.parse_args()
    results = []
    for name in ("snow-leopards", "camera-traps"):
        root = shared_dataset(name)
        if root is None:
            continue
        result = bench_folder(root, args.threads, args.detector)
        results.append(result)
        stages = "  ".join(f"{k} {v:.0f} ms" for k, v in result["ms_per_stage"].items())
        print(f"{name:<14} {result['images']:>3} images ({result['mean_megapixels']} MP avg), "
              f"{result['detections']} detections, {result['images_per_second']:.2f} images/s, "
              f"{result['ms_per_image']:.0f} ms/image  [{stages}]  ({result['detector']}, {args.threads} threads)")
    print_json("import_bench", {"results": results})


if __name__ == "__main__":
    main()
