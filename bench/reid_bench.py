"""Identification accuracy on the bundled model's held-out nyala identities, four systems side by side.

Systems: the ImageNet backbone without training (pooled features of the same 4-channel crops), the
bundled model's embedding, RootSIFT + RANSAC matching alone (every pair), and the fused system
(embedding shortlist re-ranked by verified matches, calibrated). The protocol is the shared data
README's: identity + view units, positives from other sightings, a query's own sighting left out of its
gallery. Also prints embedding throughput on N CPU threads.

    python bench/reid_bench.py [--model nyala-lite0] [--threads 2] [--cache .cache/nyala]
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
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / ".cache" / "nyala", help="crop cache for the nyala photos")
    args = parser.parse_args()
    root = shared_dataset("nyala")
    if root is None:
        return
    embedder = Embedder(args.model, device="cpu", threads=args.threads)
    held_out = set(embedder.bundle.extra["training_data"]["validation"]["identities"])
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
    rate = throughput(embedder, crops, args.threads)
    first = next(iter(results.values()))
    print(f"model {embedder.model_id}; held-out split: {len(rows)} images, {len({row.identity for row in rows})} identities, "
          f"{first.identities} identity+view units, {first.queries} queries")
    print(f"{'system':<28}{'mAP':>8}{'rank-1':>8}{'rank-5':>8}{'DT5AP':>8}{'T5RMD':>8}")
    for name, scores in results.items():
        print(_row(name, scores))
    print(f"embedding throughput on {args.threads} CPU threads: {rate:.1f} crops/s; "
          f"fused ranking of {len(rows)} crops (embed + features + verify): {fused_seconds:.1f} s; "
          f"undetected: {len(folder.undetected)}, unreadable: {len(folder.failures)}")
    print_json("reid", {"model": embedder.model_id, "images": len(rows), "queries": first.queries, "crops_per_second": round(rate, 2),
                        **{name: scores.as_dict() for name, scores in results.items()}})


if __name__ == "__main__":
    main()
