"""Identification accuracy on one of the bundled model's nyala splits, four systems side by side.

Systems: the ImageNet backbone without training (pooled features of the same 4-channel crops), the
bundled model's embedding, RootSIFT + RANSAC matching alone (every pair), and the fused system
(embedding shortlist re-ranked by verified matches, calibrated). The protocol is the shared data
README's: identity + view units, positives from other sightings, a query's own sighting left out of its
gallery. Also prints embedding throughput on N CPU threads.

Choose on one split, report on another: ``--split calibration`` (the 18 identities the score calibration was
fitted on) is where settings are chosen, e.g. the pattern matcher's keypoint cap with ``--keypoints 4000 2000 1500
1000`` (one fused row per cap, side by side); ``--split validation`` (the default, never used for a choice) is what
the model card reports.

    python bench/reid_bench.py [--split validation|calibration] [--keypoints N ...] [--model nyala-lite0] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from _common import REPO_ROOT, print_json, shared_dataset
from pelage.reid.embed import Embedder, embed_with
from pelage.reid.metrics import ReidScores, load_labels
from pelage.reid.ranking import cosine_similarity, fused_similarity
from pelage.reid.rerank import MAX_KEYPOINTS
from pelage.reid.workflow import evaluation_scores, imagenet_embeddings, local_features, prepare_folder, sift_only_similarity


def _row(name: str, scores: ReidScores) -> str:
    return f"{name:<28}{scores.map:>8.3f}{scores.rank1:>8.3f}{scores.rank5:>8.3f}{scores.dt5ap:>8.3f}{scores.t5rmd:>8.3f}"


def throughput(embedder: Embedder, crops: list, threads: int) -> float:
    torch.set_num_threads(threads)
    embed_with(embedder.model, crops[:8])  # warm-up: first batches pay for allocation
    started = time.perf_counter()
    embed_with(embedder.model, crops, batch_size=16)
    return len(crops) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder or bundled name (default: the bundled nyala model)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--split", choices=("validation", "calibration"), default="validation",
                        help="which of the model's held-out identity sets to score (choose settings on calibration)")
    parser.add_argument("--keypoints", type=int, nargs="*", default=[],
                        help="also score the fused system with these keypoint caps (the default cap is always scored)")
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / ".cache" / "nyala", help="crop cache for the nyala photos")
    args = parser.parse_args()
    root = shared_dataset("nyala")
    if root is None:
        return
    embedder = Embedder(args.model, device="cpu", threads=args.threads)
    held_out = set(embedder.bundle.extra["training_data"][args.split]["identities"])
    rows = [row for row in load_labels(root / "labels.csv") if row.identity in held_out]
    folder = prepare_folder(root, args.cache, [row.path for row in rows], threads=args.threads)
    by_path = {row.path: row for row in rows}
    rows = [by_path[path] for path in folder.paths]
    crops = folder.crops()

    started = time.perf_counter()
    embeddings = embed_with(embedder.model, crops)
    features = local_features(folder)
    fused, inliers = fused_similarity(embeddings, features, embedder.bundle.calibration)
    fused_seconds = time.perf_counter() - started
    results = {
        "ImageNet backbone, untrained": evaluation_scores(rows, cosine_similarity(imagenet_embeddings(folder, embedder.bundle.config))),
        "bundled model (embedding)": evaluation_scores(rows, cosine_similarity(embeddings)),
        "SIFT matching alone": evaluation_scores(rows, sift_only_similarity(folder)),
        "fused (embedding + SIFT)": evaluation_scores(rows, fused),
    }
    for cap in sorted(set(args.keypoints) - {MAX_KEYPOINTS}, reverse=True):
        capped, _ = fused_similarity(embeddings, local_features(folder, max_keypoints=cap), embedder.bundle.calibration)
        results[f"fused, {cap} keypoints"] = evaluation_scores(rows, capped)
    rate = throughput(embedder, crops, args.threads)
    first = next(iter(results.values()))
    print(f"model {embedder.model_id}; {args.split} split (default keypoint cap {MAX_KEYPOINTS}):")
    print(f"  {len(rows)} images, {len({row.identity for row in rows})} identities, "
          f"{first.identities} identity+view units, {first.queries} queries")
    print(f"{'system':<28}{'mAP':>8}{'rank-1':>8}{'rank-5':>8}{'DT5AP':>8}{'T5RMD':>8}")
    for name, scores in results.items():
        print(_row(name, scores))
    print(f"embedding throughput on {args.threads} CPU threads: {rate:.1f} crops/s; "
          f"fused ranking of {len(rows)} crops (embed + features + verify): {fused_seconds:.1f} s; "
          f"undetected: {len(folder.undetected)}, unreadable: {len(folder.failures)}")
    print_json("reid", {"model": embedder.model_id, "split": args.split, "keypoints": MAX_KEYPOINTS,
                        "images": len(rows), "queries": first.queries, "crops_per_second": round(rate, 2),
                        **{name: scores.as_dict() for name, scores in results.items()}})


if __name__ == "__main__":
    main()
