"""Does reusing the offline detector's saliency map as the mask cost identification quality?

Two checks, each comparing the two mask sources on the same detections:
- mask IoU on the snow-leopard and leopard frames: the detector's map of the crop vs rembg run again on the crop;
- identification on the 36 leopard photos (three flanks): how often a same-flank photo is among a photo's five best
  candidates, fused (embedding + pattern check) and embedding alone, with the bundled model.

    python bench/mask_bench.py [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np

from _common import print_json, shared_dataset
from pelage.ingest import DetectorConfig, build_pipeline
from pelage.ingest.artefacts import crop_rect, padded_box
from pelage.ingest.importer import scan_survey
from pelage.ingest.pipeline import padded_crop
from pelage.ingest.segment import mask_animal, mask_from_patch
from pelage.paths import resolve_user_paths
from pelage.store import MaskSource


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def compare_masks(root: Path, threads: int) -> dict:
    """IoU of the two masks of every detection the offline detector makes in ``root``."""
    with tempfile.TemporaryDirectory() as scratch:
        pipeline = build_pipeline(resolve_user_paths(), Path(scratch), DetectorConfig(name="saliency"), threads=threads)
        ious, no_map, box_only = [], 0, {"saliency": 0, "rembg": 0}
        for relative in scan_survey(root).images:
            rgb = pipeline.decode(root / relative).rgb
            for found in pipeline.find(rgb):
                crop = padded_crop(rgb, found.box)
                rembg = mask_animal(crop, pipeline.saliency)
                if found.patch is None:
                    no_map += 1
                    continue
                reused = mask_from_patch(found.patch, crop_rect(rgb.shape, padded_box(found.box)), crop.shape)
                box_only["saliency"] += reused.source == MaskSource.BOX
                box_only["rembg"] += rembg.source == MaskSource.BOX
                ious.append(mask_iou(reused.mask, rembg.mask))
    return {
        "folder": root.name, "detections": len(ious) + no_map, "without_map": no_map, "box_only": box_only,
        "iou_mean": round(statistics.fmean(ious), 3), "iou_median": round(statistics.median(ious), 3),
        "iou_min": round(min(ious), 3), "iou_below_0.8": sum(iou < 0.8 for iou in ious),
    }


def top5_same_flank(sim: np.ndarray, flanks: list[str]) -> int:
    scores = np.where(np.eye(len(flanks), dtype=bool), -np.inf, sim)
    top5 = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    return sum(any(flanks[j] == flanks[i] for j in row) for i, row in enumerate(top5))


def compare_identification(root: Path, threads: int) -> list[dict]:
    """Rank the leopard photos with crops masked each way (separate crop caches, same model)."""
    from pelage.reid.crops import list_images, prepare_crops
    from pelage.reid.embed import Embedder
    from pelage.reid.workflow import PreparedFolder, rank_prepared

    embedder = Embedder(None, threads=threads)
    results = []
    for reuse in (False, True):
        with tempfile.TemporaryDirectory() as cache:
            factory = lambda folder, reuse=reuse: build_pipeline(resolve_user_paths(), folder, threads=threads, reuse_detector_masks=reuse)
            records, failures = prepare_crops(root, list_images(root), Path(cache), factory)
            folder = PreparedFolder(root, Path(cache), records, failures)
            ranking = rank_prepared(embedder.model, embedder.bundle.calibration, folder)
        flanks = [path.split("/")[0] for path in ranking.paths]
        results.append({
            "masks": "detector map" if reuse else "rembg on the crop", "photos": len(flanks),
            "mask_sources": {source: sum(r.mask_source == source for r in records) for source in sorted({r.mask_source for r in records})},
            "top5_same_flank_fused": top5_same_flank(ranking.ranked, flanks),
            "top5_same_flank_embedding": top5_same_flank(ranking.cosine, flanks),
        })
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    masks = []
    for name in ("snow-leopards", "leopards"):
        if (root := shared_dataset(name)) is not None:
            masks.append(compare_masks(root, args.threads))
            print(f"mask IoU, detector map vs rembg, {name}: {masks[-1]}", flush=True)
    identification = []
    if (root := shared_dataset("leopards")) is not None:
        identification = compare_identification(root, args.threads)
        for row in identification:
            print(f"leopards, {row['masks']:<18}: same flank in the top 5: fused {row['top5_same_flank_fused']}/{row['photos']}, "
                  f"embedding alone {row['top5_same_flank_embedding']}/{row['photos']}  {row['mask_sources']}")
    print_json("mask_bench", {"masks": masks, "identification": identification})


if __name__ == "__main__":
    main()
