"""Detection accuracy against the VOC boxes of the shared snow-leopard frames, and box counts on the
mixed camera-trap frames (false positives, empty frames).

    python bench/detect_bench.py [--weights YOLO.pt]

The offline saliency detector always runs; a YOLO detector runs too when MegaDetector is installed
(`pelage models install megadetector`) or ``--weights`` names a file.
"""

from __future__ import annotations

import argparse
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from _common import print_json, shared_dataset
from pelage.ingest.decode import decode_image
from pelage.ingest.detect import Box, DetectorConfig, create_detector, iou
from pelage.ingest.importer import scan_survey
from pelage.ingest.saliency import SaliencyModel
from pelage.paths import resolve_user_paths
from pelage.weights import installed_detector_weights


def voc_box(xml_path: Path) -> Box:
    node = ET.parse(xml_path).find("object/bndbox")
    return Box(*(float(node.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")), 1.0)


def evaluate(detector, snow: Path | None, traps: Path | None) -> dict:
    result: dict = {"detector": detector.name}
    if snow is not None:
        hits, boxes_total, seconds, misses = 0, 0, 0.0, []
        frames = sorted(snow.glob("*/*.JPG"))
        for frame in frames:
            rgb = decode_image(frame).rgb
            started = time.perf_counter()
            boxes = detector.detect(rgb)
            seconds += time.perf_counter() - started
            truth = voc_box(frame.parent / "annotation" / f"{frame.stem}.xml")
            best = max((iou(b, truth) for b in boxes), default=0.0)
            hits += best >= 0.5
            boxes_total += len(boxes)
            if best < 0.5:
                misses.append(f"{frame.parent.name}/{frame.name} (best IoU {best:.2f})")
        result.update(snow_hits=hits, snow_frames=len(frames), snow_boxes_per_frame=round(boxes_total / len(frames), 2),
                      snow_ms_per_frame=round(1000 * seconds / len(frames)), snow_misses=misses)
    if traps is not None:
        counts = []
        for relative in scan_survey(traps).images:
            counts.append(len(detector.detect(decode_image(traps / relative).rgb)))
        result.update(trap_frames=len(counts), trap_boxes_per_frame=round(sum(counts) / len(counts), 2),
                      trap_frames_without_box=sum(c == 0 for c in counts))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    paths = resolve_user_paths()
    saliency = SaliencyModel(paths.rembg_home, threads=args.threads)
    detectors = [create_detector(DetectorConfig(name="saliency"), saliency, None)]
    weights = args.weights or installed_detector_weights(paths.models)
    if weights:
        detectors.append(create_detector(DetectorConfig(name="yolo"), saliency, weights))
    else:
        print("no YOLO weights installed: only the offline default is measured")
    snow, traps = shared_dataset("snow-leopards"), shared_dataset("camera-traps")
    results = [evaluate(detector, snow, traps) for detector in detectors]
    for r in results:
        print(f"{r['detector']}: snow leopards {r.get('snow_hits')}/{r.get('snow_frames')} frames with IoU >= 0.5, "
              f"{r.get('snow_boxes_per_frame')} boxes/frame, {r.get('snow_ms_per_frame')} ms/frame; "
              f"camera traps {r.get('trap_boxes_per_frame')} boxes/frame, "
              f"{r.get('trap_frames_without_box')}/{r.get('trap_frames')} frames without a box")
        for miss in r.get("snow_misses", []):
            print(f"    missed: {miss}")
    print_json("detect_bench", {"results": results})


if __name__ == "__main__":
    main()
