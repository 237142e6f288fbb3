"""End to end on real camera-trap crops: `pelage embed` and `pelage rank` with the bundled model.

The 36 leopard crops (three flanks of spotID's data) are new to the model, which saw only nyala.
A flank counts as found when another photo of the same flank is among a crop's five best candidates.
"""

from __future__ import annotations

import numpy as np
import pytest

from pelage.reid.bundle import resolve_model_dir
from tests.conftest import shared_dataset
from tests.test_cli import pelage


def top5_same_flank(sim: np.ndarray, flanks: list[str]) -> int:
    scores = np.where(np.eye(len(flanks), dtype=bool), -np.inf, sim)
    top5 = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    return sum(any(flanks[j] == flanks[i] for j in row) for i, row in enumerate(top5))


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
    assert emb["emb"].dtype == np.float32 and emb["emb"].shape[0] == 36 and 512 <= emb["emb"].shape[1] <= 1024
    assert np.allclose(np.linalg.norm(emb["emb"], axis=1), 1.0, atol=1e-4)
    assert "Embedded 36 images" in leopard_outputs["embed_log"].stdout


def test_rank_finds_a_same_flank_photo_in_the_top_5_for_most_crops(leopard_outputs):
    rank = leopard_outputs["rank"]
    paths = [str(path) for path in rank["paths"]]
    assert paths == [str(path) for path in leopard_outputs["emb"]["paths"]]
    sim = rank["sim"]
    assert sim.shape == (36, 36) and sim.dtype == np.float32 and np.allclose(sim, sim.T)
    flanks = [path.split("/")[0] for path in paths]
    found_fused = top5_same_flank(sim, flanks)
    found_embedding = top5_same_flank(rank["cosine"], flanks)
    print(f"same flank in the top 5: fused {found_fused}/36, embedding alone {found_embedding}/36")
    assert found_fused >= 27  # "most": three in four or more
    # The calibrated score separates the flanks: same-flank pairs score higher on average.
    same = np.array([[a == b for b in flanks] for a in flanks]) & ~np.eye(36, dtype=bool)
    different = np.array([[a != b for b in flanks] for a in flanks])
    assert sim[same].mean() > sim[different].mean()
