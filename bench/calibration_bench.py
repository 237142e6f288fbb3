"""Per-project score calibration on real camera-trap species, cross-validated over the decisions a reviewer would make.

The leopard flanks (one folder per flank) and the snow leopards (``right_Cat1`` is one cat; the other folders hold
different cats) go through the pipeline ``pelage rank`` runs (detection, mask, embedding, verified shortlist). Every
pair of photos taken more than an hour apart is decided from the folders' truth (photos closer in time may be one
visit: a burst, or two animals seen together, which a reviewer judges from the scene rather than the coat). The
bundled nyala fit is then refitted on those decisions as ``pelage calibrate`` does, and judged by 5-fold
cross-validation: the expected calibration error, and the chance that a true match outscores a non-match (AUC),
refitted and as bundled.

    python bench/calibration_bench.py [--threads 2] [--sets leopards snow-leopards]
"""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timedelta

import numpy as np

from _common import REPO_ROOT, print_json, shared_dataset
from pelage.reid.calibration import cross_validate
from pelage.reid.embed import Embedder
from pelage.reid.workflow import prepare_folder, rank_prepared

ONE_VISIT = timedelta(hours=1)
# Capture times in the file names: leopards ``…-2019-03-01_19-49-36.jpg``, snow leopards ``…__2012-7-18__6-47-40(4).JPG``.
TAKEN = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})_+(\d{1,2})-(\d{1,2})-(\d{1,2})")


def taken_at(path: str) -> datetime:
    found = TAKEN.search(path)
    if found is None:
        raise ValueError(f"no capture time in {path!r}")
    return datetime(*(int(part) for part in found.groups()))


def same_animal(name: str, a: str, b: str) -> bool:
    """The folders' truth: one leopard flank per folder; among the snow leopards only ``right_Cat1`` is one cat."""
    folder_a, folder_b = a.split("/")[0], b.split("/")[0]
    if name == "snow-leopards":
        return folder_a == folder_b == "right_Cat1"
    return folder_a == folder_b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sets", nargs="+", default=["leopards", "snow-leopards"])
    args = parser.parse_args()
    embedder = Embedder(None, device="cpu", threads=args.threads)
    print(f"model {embedder.model_id}")
    for name in args.sets:
        root = shared_dataset(name)
        if root is None:
            continue
        folder = prepare_folder(root, REPO_ROOT / ".cache" / name, threads=args.threads)
        ranking = rank_prepared(embedder.model, embedder.bundle.calibration, folder)
        times = [taken_at(path) for path in ranking.paths]
        a, b = np.triu_indices(len(ranking.paths), k=1)
        apart = np.array([abs(times[i] - times[j]) >= ONE_VISIT for i, j in zip(a, b, strict=True)], bool)
        a, b = a[apart], b[apart]
        same = np.array([same_animal(name, ranking.paths[i], ranking.paths[j]) for i, j in zip(a, b, strict=True)], bool)
        check = cross_validate(ranking.cosine[a, b], ranking.inliers[a, b], same, embedder.bundle.calibration)
        print(f"{name}: {len(ranking.paths)} photos ({len(folder.undetected)} with no detection: whole photo used), "
              f"{check.pairs} decided pairs, {check.matches} the same animal; calibration error {check.ece:.3f} refitted, "
              f"{check.prior_ece:.3f} as bundled; a true match outscores a non-match {100 * check.auc:.1f} % of the time "
              f"refitted, {100 * check.prior_auc:.1f} % as bundled")
        print_json("calibration", {"set": name, "photos": len(ranking.paths), "undetected": len(folder.undetected),
                                   "pairs": check.pairs, "matches": check.matches, "ece": round(check.ece, 4),
                                   "prior_ece": round(check.prior_ece, 4), "auc": round(check.auc, 4),
                                   "prior_auc": round(check.prior_auc, 4)})


if __name__ == "__main__":
    main()
