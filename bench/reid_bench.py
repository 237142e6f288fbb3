"""Identification accuracy on one of the bundled model's nyala splits, five systems side by side.

Systems: the ImageNet backbone without training (pooled features of the same 4-channel crops), the
bundled model's embedding alone, its identification vectors (embedding + spot words, what the shortlist ranks by),
RootSIFT + RANSAC matching alone (every pair), each pair's fused score (shortlist re-ranked by verified matches,
calibrated), and the fused system as review ranks it (the strongest candidates vouching for the others:
pelage.reid.ranking.vouched_scores; a query's own sighting never vouches). The protocol is the shared data
README's: identity + view units, positives from other sightings, a query's own sighting left out of its
gallery. Every system ranks as review shortlists by default, "same flank only": a pair is left out when the bundled
flank predictor is sure of both photos' sides and they differ (pelage.reid.flank.same_flank_allowed; a true match left
out is a miss); the same systems over both flanks are printed beside it. Also prints embedding throughput on N CPU threads.

Choose on one split, report on another: ``--split calibration`` (the 18 identities the score calibration was
fitted on) is where settings are chosen, e.g. the pattern matcher's keypoint cap with ``--keypoints 4000 2000 1500
1000`` (one fused row per cap, side by side); ``--split validation`` (the default, never used for a choice) is what
the model card reports.

With ``--survey-scale`` it also asks the question a season of thousands asks: is the true match inside the
100-photo shortlist at all? The split's photos are queried against a gallery of every nyala photo not trained on
(calibration + validation identities) plus distractors: other species from ``../shared/data`` (``--distractor-data``)
and the animals of any Pelage project embedded with the same model (``--distractor-project``, e.g. a synthetic
season), so the shortlist is a small fraction of the gallery; ``--shortlists 100 200`` reports several sizes.

``--fit-spot-words`` fits the model's spot vocabulary (pelage.reid.spot_words) on its training identities and adds it
to the model folder. ``--split calibration --fit-calibration`` refits the score calibration (P(same) from cosine and inliers) on the
calibration identities and stores it in the model folder, e.g. after the pattern matcher changed.

    python bench/reid_bench.py [--split validation|calibration] [--keypoints N ...] [--model nyala-lite0] [--threads 2]
    python bench/reid_bench.py --fit-spot-words; python bench/reid_bench.py --split calibration --fit-calibration
    python bench/reid_bench.py --survey-scale [--shortlists N ...] [--distractor-data lion camera-traps] [--distractor-project PROJECT ...]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from _common import REPO_ROOT, print_json, shared_dataset
from pelage.reid.bundle import add_spot_words, update_calibration
from pelage.reid.embed import Embedder
from pelage.reid.flank import same_flank_allowed
from pelage.reid.flank_project import flank_predictor
from pelage.reid.metrics import ReidScores, load_labels
from pelage.reid.ranking import SHORTLIST, cosine_similarity, fused_similarity, only_allowed, vouched_similarity
from pelage.reid.rerank import MAX_KEYPOINTS, fuse_scores
from pelage.reid.spot_words import VOCABULARY_PHOTOS, fit_crop_vocabulary
from pelage.reid.workflow import (
    evaluation_scores,
    fit_labelled_calibration,
    imagenet_embeddings,
    local_features,
    prepare_folder,
    sift_only_similarity,
)


def _row(name: str, scores: ReidScores) -> str:
    return f"{name:<30}{scores.map:>8.3f}{scores.rank1:>8.3f}{scores.rank5:>8.3f}{scores.dt5ap:>8.3f}{scores.t5rmd:>8.3f}"


def embedding_part(vectors: np.ndarray, config) -> np.ndarray:
    """The identification vectors without their spot words, back to unit length: the embedding's own figures."""
    part = np.asarray(vectors, np.float32)[:, :config.embedding_width]
    return part / np.maximum(np.linalg.norm(part, axis=1, keepdims=True), 1e-12)


def vouched(fused: np.ndarray, inliers: np.ndarray, embeddings: np.ndarray, features: list, embedder: Embedder, rows: list,
            allowed: np.ndarray | None) -> np.ndarray:
    """Each query's candidates scored as review ranks them; a query's own sighting, left out of its gallery, never vouches."""
    return vouched_similarity(fused, inliers, cosine_similarity(embeddings), features, embedder.bundle.calibration,
                              groups=[row.sighting for row in rows], allowed=allowed)


def review_ranking(embeddings: np.ndarray, features: list, embedder: Embedder, rows: list,
                   allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(each pair's fused score, the inliers behind it, the ranking as review orders it) within ``allowed``."""
    fused, inliers = fused_similarity(embeddings, features, embedder.bundle.calibration, allowed=allowed)
    return fused, inliers, vouched(fused, inliers, embeddings, features, embedder, rows, allowed)


def flank_guesses(embedder: Embedder, crops: list, vectors: np.ndarray) -> list[str | None]:
    """Each crop's flank as identification guesses it (the bundled predictor; None where it is not sure)."""
    predictor = flank_predictor(embedder)
    if predictor is None:
        return [None] * len(crops)
    same_model = predictor.head.model_id == embedder.model_id
    return [guess.flank for guess in predictor.predict(crops, vectors if same_model else None)]


def throughput(embedder: Embedder, crops: list, threads: int) -> float:
    torch.set_num_threads(threads)
    embedder.embed(crops[:8])  # warm-up: first batches pay for allocation
    started = time.perf_counter()
    embedder.embed(crops)
    return len(crops) / (time.perf_counter() - started)


def survey_scale(embedder: Embedder, args: argparse.Namespace, root: Path, rows: list, embeddings, flanks: list) -> None:
    """Shortlist recall of the ``rows`` queries (the chosen split) against every untrained nyala photo plus distractors,
    each shortlist drawn among the photos review would show (same flank only, ``flanks`` the queries' guesses) and
    among all of them."""
    from pelage.reid.candidates import stored_vectors
    from pelage.reid.metrics import shortlist_recall
    from pelage.reid.nearest import unit_rows
    from pelage.store import open_project

    other_split = "validation" if args.split == "calibration" else "calibration"
    other_ids = set(embedder.bundle.extra["training_data"][other_split]["identities"])
    others = [row for row in load_labels(root / "labels.csv") if row.identity in other_ids]
    folder = prepare_folder(root, args.cache, [row.path for row in others], threads=args.threads)
    by_path = {row.path: row for row in others}
    others = [by_path[path] for path in folder.paths]
    other_crops = folder.crops()
    other_vectors = embedder.embed(other_crops)
    parts = [(np.asarray(embeddings), [r.entity for r in rows], [r.sighting for r in rows]),
             (other_vectors, [r.entity for r in others], [r.sighting for r in others])]
    gallery_flanks = list(flanks) + flank_guesses(embedder, other_crops, other_vectors)
    sources = {"nyala (calibration + validation)": len(rows) + len(others)}
    for name in args.distractor_data:
        data = shared_dataset(name)
        if data is None:
            continue
        other = prepare_folder(data, args.cache.parent / name, threads=args.threads)
        distractor_crops = other.crops()
        vectors = embedder.embed(distractor_crops)
        labels = [f"distractor:{name}:{i}" for i in range(len(vectors))]
        parts.append((vectors, labels, labels))
        gallery_flanks += flank_guesses(embedder, distractor_crops, vectors)
        sources[name] = len(vectors)
    for project_dir in args.distractor_project:
        with open_project(project_dir) as project:
            ids, vectors = stored_vectors(project, embedder.model_id)
            stored_flanks = project_flanks(project, ids)
        vectors = unit_rows(vectors)
        labels = [f"distractor:{project_dir.name}:{i}" for i in ids.tolist()]
        parts.append((vectors, labels, labels))
        gallery_flanks += stored_flanks
        sources[str(project_dir)] = len(vectors)
    gallery = np.concatenate([vectors for vectors, _, _ in parts]).astype(np.float32)
    entity = [label for _, labels, _ in parts for label in labels]
    sighting = [label for _, _, labels in parts for label in labels]
    allowed = same_flank_allowed(flanks, gallery_flanks)
    recalls, nyala_recalls, any_flank = {}, {}, {}
    nyala = len(rows) + len(others)  # the first two parts: what the shortlist competes over without other species
    query = parts[0]
    for size in args.shortlists:
        recall, queries = shortlist_recall(*query, gallery, entity, sighting, size, allowed)
        alone, _ = shortlist_recall(*query, gallery[:nyala], entity[:nyala], sighting[:nyala], size, allowed[:, :nyala])
        both, _ = shortlist_recall(*query, gallery, entity, sighting, size)
        recalls[size], nyala_recalls[size], any_flank[size] = round(recall, 4), round(alone, 4), round(both, 4)
        print(f"survey scale: {queries} {args.split} queries against a gallery of {len(gallery):,} photos "
              f"({', '.join(f'{name}: {count:,}' for name, count in sources.items())}); the {size}-photo shortlist "
              f"({100 * size / len(gallery):.1f} % of it) of the same flank holds a true match for {100 * recall:.1f} % "
              f"of them ({100 * alone:.1f} % against the {nyala:,} nyala photos alone; {100 * both:.1f} % over both flanks)")
    print_json("reid_survey_scale", {"split": args.split, "queries": queries, "gallery": len(gallery), "sources": sources,
                                     "recall_in_shortlist": recalls, "recall_in_shortlist_nyala_only": nyala_recalls,
                                     "recall_in_shortlist_any_flank": any_flank})


def project_flanks(project, ids: np.ndarray) -> list[str | None]:
    """The flanks a project holds for these animals (a reviewer's or a guess), as review filters on them."""
    from sqlalchemy import select

    from pelage.store.schema import Detection

    with project.sessions() as session:
        known = dict(session.execute(select(Detection.id, Detection.flank).where(Detection.id.in_(ids.tolist()))).all())
    return [known.get(int(i)) or None for i in ids.tolist()]


def fit_spot_words(args: argparse.Namespace, root: Path) -> None:
    """Fit the spot vocabulary on the model's training identities (pelage.reid.spot_words) and add it to its folder."""
    embedder = Embedder(args.model, device="cpu", threads=args.threads)
    trained = set(embedder.bundle.extra["training_data"]["train"]["identities"])
    paths = [row.path for row in load_labels(root / "labels.csv") if row.identity in trained]
    folder = prepare_folder(root, args.cache, paths, threads=args.threads)
    bundle = add_spot_words(embedder.bundle.directory, fit_crop_vocabulary(folder.crops()))
    print(f"spot vocabulary of {bundle.config.spot_words} words fitted on {min(len(folder.records), VOCABULARY_PHOTOS)} of "
          f"{len(folder.records)} training photos; the model is now {bundle.model_id} (was {embedder.model_id})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder or bundled name (default: the bundled nyala model)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--split", choices=("validation", "calibration"), default="validation",
                        help="which of the model's held-out identity sets to score (choose settings on calibration)")
    parser.add_argument("--keypoints", type=int, nargs="*", default=[],
                        help="also score the fused system with these keypoint caps (the default cap is always scored)")
    parser.add_argument("--survey-scale", action="store_true", help="also report shortlist recall against a large gallery")
    parser.add_argument("--shortlists", type=int, nargs="+", default=[SHORTLIST],
                        help="shortlist sizes whose survey-scale recall is reported (default: the one review verifies)")
    parser.add_argument("--distractor-data", nargs="*", default=["lion", "camera-traps", "leopards", "snow-leopards"],
                        help="shared data folders whose photos join the survey-scale gallery as distractors")
    parser.add_argument("--distractor-project", type=Path, nargs="*", default=[],
                        help="Pelage projects whose animals (embedded with this model) join the gallery as distractors")
    parser.add_argument("--fit-calibration", action="store_true",
                        help="refit the model's score calibration on these pairs and store it in the model folder "
                             "(only with --split calibration: the fit is a choice)")
    parser.add_argument("--fit-spot-words", action="store_true",
                        help="fit the model's spot vocabulary on its training identities, store it in the model folder "
                             "(a new model id) and stop; refit the score calibration afterwards")
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / ".cache" / "nyala", help="crop cache for the nyala photos")
    args = parser.parse_args()
    if args.fit_calibration and args.split != "calibration":
        parser.error("--fit-calibration fits on the calibration identities only: add --split calibration")
    root = shared_dataset("nyala")
    if root is None:
        return
    if args.fit_spot_words:
        fit_spot_words(args, root)
        return
    embedder = Embedder(args.model, device="cpu", threads=args.threads)
    held_out = set(embedder.bundle.extra["training_data"][args.split]["identities"])
    rows = [row for row in load_labels(root / "labels.csv") if row.identity in held_out]
    folder = prepare_folder(root, args.cache, [row.path for row in rows], threads=args.threads)
    by_path = {row.path: row for row in rows}
    rows = [by_path[path] for path in folder.paths]
    crops = folder.crops()

    started = time.perf_counter()
    embeddings = embedder.embed(crops)
    features = local_features(folder)
    flanks = flank_guesses(embedder, crops, embeddings)
    allowed = same_flank_allowed(flanks)
    fused, inliers, ranked = review_ranking(embeddings, features, embedder, rows, allowed)
    fused_seconds = time.perf_counter() - started
    if args.fit_calibration:  # fitted on the pairs each crop's shortlist over both flanks verifies, as before the filter
        _, both_inliers = fused_similarity(embeddings, features, embedder.bundle.calibration)
        calibration, note = fit_labelled_calibration(cosine_similarity(embeddings), both_inliers, rows)
        update_calibration(embedder.bundle.directory, calibration, note)
        print(f"score calibration refitted on {note['pairs']:,} pairs ({note['positive_pairs']} same animal) and stored in "
              f"{embedder.bundle.directory}: {calibration.to_dict()}")
        embedder.bundle = replace(embedder.bundle, calibration=calibration)
        fused = only_allowed(fuse_scores(cosine_similarity(embeddings), inliers, calibration).astype("float32"), allowed)
        fused[np.diag_indices_from(fused)] = 1.0
        ranked = vouched(fused, inliers, embeddings, features, embedder, rows, allowed)
    pairwise = {
        "ImageNet backbone, untrained": cosine_similarity(imagenet_embeddings(folder, embedder.bundle.config)),
        "embedding alone": cosine_similarity(embedding_part(embeddings, embedder.bundle.config)),
        "embedding + spot words": cosine_similarity(embeddings),
        "SIFT matching alone": sift_only_similarity(folder),
    }
    results = {name: evaluation_scores(rows, only_allowed(sim, allowed)) for name, sim in pairwise.items()}
    results |= {"fused, pairs alone": evaluation_scores(rows, fused), "fused, as review ranks": evaluation_scores(rows, ranked)}
    for cap in sorted(set(args.keypoints) - {MAX_KEYPOINTS}, reverse=True):
        capped_features = local_features(folder, max_keypoints=cap)
        results[f"fused, {cap} keypoints"] = evaluation_scores(rows, review_ranking(embeddings, capped_features, embedder, rows,
                                                                                    allowed)[2])
    both_fused, _, both_ranked = review_ranking(embeddings, features, embedder, rows, None)
    any_flank = {name: evaluation_scores(rows, sim) for name, sim in pairwise.items()}
    any_flank |= {"fused, pairs alone": evaluation_scores(rows, both_fused),
                  "fused, as review ranks": evaluation_scores(rows, both_ranked)}
    rate = throughput(embedder, crops, args.threads)
    first = next(iter(results.values()))
    sides = {side: sum(flank == side for flank in flanks) for side in ("left", "right", None)}
    print(f"model {embedder.model_id}; {args.split} split (default keypoint cap {MAX_KEYPOINTS}):")
    print(f"  {len(rows)} images, {len({row.identity for row in rows})} identities, "
          f"{first.identities} identity+view units, {first.queries} queries; flank guessed left {sides['left']}, "
          f"right {sides['right']}, not sure {sides[None]}")
    for title, table in (("same flank only (as review shortlists by default)", results), ("both flanks", any_flank)):
        print(f"{title}:")
        print(f"{'system':<30}{'mAP':>8}{'rank-1':>8}{'rank-5':>8}{'DT5AP':>8}{'T5RMD':>8}")
        for name, scores in table.items():
            print(_row(name, scores))
    print(f"embedding throughput on {args.threads} CPU threads: {rate:.1f} crops/s; "
          f"fused ranking of {len(rows)} crops (embed + features + flanks + verify + vouch): {fused_seconds:.1f} s; "
          f"undetected: {len(folder.undetected)}, unreadable: {len(folder.failures)}")
    if args.survey_scale:
        survey_scale(embedder, args, root, rows, embeddings, flanks)
    print_json("reid", {"model": embedder.model_id, "split": args.split, "keypoints": MAX_KEYPOINTS,
                        "images": len(rows), "queries": first.queries, "crops_per_second": round(rate, 2),
                        "flank_filter": "same flank only", "flank_guesses": {str(side): n for side, n in sides.items()},
                        **{name: scores.as_dict() for name, scores in results.items()},
                        "any_flank": {name: scores.as_dict() for name, scores in any_flank.items()}})


if __name__ == "__main__":
    main()
