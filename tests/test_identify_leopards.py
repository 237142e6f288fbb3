"""End to end on real camera-trap crops: `pelage embed` and `pelage rank` with the bundled model.

The 36 leopard crops (three flanks of spotID's data) are new to the model, which saw only nyala. Each crop is
a query against the photos outside its own sighting (same flank, under an hour apart: two frames one second apart
must not find each other); it is answered right when the best candidate shows the same flank. With three flanks
of about twelve photos, a random order is right a third of the time, so the pass mark is computed from that:
the number of right answers fewer than 1 in 1,000 random orders reach.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from math import comb

import numpy as np
import pytest

from pelage.reid.bundle import read_bundle, resolve_model_dir
from tests.conftest import shared_dataset
from tests.test_cli import pelage

SIGHTING = timedelta(hours=1)  # photos of one flank this close in time may be one visit: never query and answer
PATTERN_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})_(\d{2}-\d{2}-\d{2})")


def taken_at(path: str) -> datetime:
    day, clock = PATTERN_TIME.search(path).groups()
    return datetime.strptime(f"{day} {clock}", "%Y-%m-%d %H-%M-%S")


@dataclass
class Ranked:
    """Hits among queries that have a same-flank photo outside their own sighting, and what a random order gets."""

    queries: int = 0
    rank1: int = 0
    top5: int = 0
    chance_rank1: list[float] = field(default_factory=list)  # per query: P(a random first candidate is right)
    chance_top5: list[float] = field(default_factory=list)


def rank_against_other_sightings(sim: np.ndarray, paths: list[str]) -> Ranked:
    """Each photo queried against the photos outside its sighting (same flank folder, under an hour apart)."""
    flanks, times = [p.split("/")[0] for p in paths], [taken_at(p) for p in paths]
    result = Ranked()
    for i in range(len(paths)):
        own = [flanks[j] == flanks[i] and abs(times[j] - times[i]) < SIGHTING for j in range(len(paths))]  # itself included
        gallery = [j for j in range(len(paths)) if not own[j]]
        positives = {j for j in gallery if flanks[j] == flanks[i]}
        if not positives:
            continue
        order = sorted(gallery, key=lambda j: (-sim[i, j], j))
        result.queries += 1
        result.rank1 += order[0] in positives
        result.top5 += bool(positives & set(order[:5]))
        g, k = len(gallery), len(positives)
        result.chance_rank1.append(k / g)
        result.chance_top5.append(1 - comb(g - k, 5) / comb(g, 5))
    return result


def beyond_chance(chances: list[float], p_value: float = 0.001) -> int:
    """The fewest hits a random order reaches with probability below ``p_value`` (independent queries, exact)."""
    counts = np.zeros(len(chances) + 1)
    counts[0] = 1.0
    for p in chances:  # the distribution of the number of hits, one query at a time
        counts[1:] = counts[1:] * (1 - p) + counts[:-1] * p
        counts[0] *= 1 - p
    tail = np.cumsum(counts[::-1])[::-1]  # tail[k] = P(hits >= k)
    return int(np.argmax(tail < p_value))


@pytest.fixture(scope="module")
def leopard_outputs(tmp_path_factory, installed_u2netp):
    resolve_model_dir()  # the bundled model must be in the repository
    root = shared_dataset("leopards")
    work = tmp_path_factory.mktemp("leopards")
    home = work / "home"
    (home / "models" / "rembg").mkdir(parents=True)
    (home / "models" / "rembg" / "u2netp.onnx").symlink_to(installed_u2netp)
    env = {"PELAGE_HOME": str(home)}
    common = ("--cache", str(work / "crops"), "--threads", "2")
    embedded = pelage("embed", str(root), "--out", str(work / "emb.npz"), *common, env=env)
    ranked = pelage("rank", str(root), "--out", str(work / "rank.npz"), *common, env=env)
    with np.load(work / "emb.npz") as emb, np.load(work / "rank.npz") as rank:
        return {"emb": dict(emb), "rank": dict(rank), "embed_log": embedded, "rank_log": ranked}


def test_embed_writes_one_unit_vector_per_image(leopard_outputs):
    emb = leopard_outputs["emb"]
    paths = [str(path) for path in emb["paths"]]
    assert len(paths) == 36 and all(path.count("/") == 1 and "\\" not in path for path in paths)
    width = read_bundle(resolve_model_dir(None)).config.vector_dim  # embedding, mirrored embedding, spot words
    assert emb["emb"].dtype == np.float32 and emb["emb"].shape == (36, width)
    assert np.allclose(np.linalg.norm(emb["emb"], axis=1), 1.0, atol=1e-4)
    assert "Embedded 36 images" in leopard_outputs["embed_log"].stdout


def test_rank_finds_the_same_flank_across_sightings_far_beyond_chance(leopard_outputs):
    rank = leopard_outputs["rank"]
    paths = [str(path) for path in rank["paths"]]
    assert paths == [str(path) for path in leopard_outputs["emb"]["paths"]]
    sim = rank["sim"]
    pairwise = rank["pairwise"]  # each pair's own score is symmetric; sim (rows: queries, vouching included) only raises it
    assert sim.shape == pairwise.shape == (36, 36) and sim.dtype == np.float32 and np.allclose(pairwise, pairwise.T)
    assert (sim >= pairwise - 1e-6).all() and np.allclose(np.diag(sim), 1.0)
    fused, embedding = rank_against_other_sightings(sim, paths), rank_against_other_sightings(rank["cosine"], paths)
    assert fused.queries >= 30  # a few frames share a visit; every other photo is a query
    bar = beyond_chance(fused.chance_rank1)  # fewer than 1 in 1,000 random orders reach it
    print(f"same flank, other sightings: rank-1 fused {fused.rank1}/{fused.queries}, embedding alone {embedding.rank1}, "
          f"random {sum(fused.chance_rank1):.1f} (bar {bar}); top-5 fused {fused.top5}, random {sum(fused.chance_top5):.1f}")
    assert bar > sum(fused.chance_rank1) and fused.rank1 >= bar
    assert fused.top5 > sum(fused.chance_top5)  # a random top 5 nearly always holds one of ~11 same-flank photos: rank-1 is the test
    # The calibrated score separates the flanks: same-flank pairs score higher on average.
    flanks = [path.split("/")[0] for path in paths]
    same = np.array([[a == b for b in flanks] for a in flanks]) & ~np.eye(36, dtype=bool)
    different = np.array([[a != b for b in flanks] for a in flanks])
    assert sim[same].mean() > sim[different].mean()


def test_scores_refitted_on_the_leopard_decisions_are_calibrated_and_rank_true_matches_first(leopard_outputs):
    """Issue #14, per-project calibration: every pair outside one sighting, decided as a reviewer would (same flank or
    not), the nyala-fitted scores refitted on them and judged by 5-fold cross-validation over those decisions."""
    from pelage.reid.calibration import cross_validate
    from pelage.reid.folders import read_model_config
    from pelage.reid.rerank import FusionCalibration

    rank = leopard_outputs["rank"]
    paths = [str(path) for path in rank["paths"]]
    flanks, times = [p.split("/")[0] for p in paths], [taken_at(p) for p in paths]
    a, b = np.triu_indices(len(paths), k=1)
    outside = np.array([not (flanks[i] == flanks[j] and abs(times[i] - times[j]) < SIGHTING) for i, j in zip(a, b, strict=True)])
    a, b = a[outside], b[outside]
    same = np.array([flanks[i] == flanks[j] for i, j in zip(a, b, strict=True)])
    prior = FusionCalibration.from_dict(read_model_config(resolve_model_dir())["calibration"])
    check = cross_validate(rank["cosine"][a, b], rank["inliers"][a, b], same, prior)
    print(f"leopard scores, 5-fold cross-validation over {check.pairs} decided pairs ({check.matches} same flank): calibration "
          f"error {check.ece:.3f} refitted, {check.prior_ece:.3f} as bundled; AUC {check.auc:.3f} refitted, {check.prior_auc:.3f} as bundled")
    assert check.pairs == len(same) and 0 < check.matches < check.pairs
    assert check.ece < 0.1, check  # "80 %" comes true about 4 times in 5, on decisions the fit did not see
    assert check.auc >= 0.9, check  # a true match outscores a non-match 9 times in 10 at least (chance: 5 in 10)
