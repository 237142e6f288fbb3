"""Pattern features stored at identify time (pelage.reid.feature_store) on a real project: the demo survey imported
and identified with the bundled model. Review reads them instead of extracting, gets the same inliers, and ignores
(then replaces) what is stale or damaged."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
from sqlalchemy import select

from pelage.ingest import build_pipeline, import_survey
from pelage.ingest.user_boxes import redraw_box
from pelage.paths import UserPaths
from pelage.reid import rerank
from pelage.reid.candidates import embed_project
from pelage.reid.feature_store import extract_crop_features, features_path, load_features, load_or_extract
from pelage.reid.rerank import DEFAULT_CALIBRATION, LocalFeatures, match_features
from pelage.reid.scoring import PatternScorer
from pelage.review.session import ReviewSession
from pelage.store import open_project
from pelage.store.schema import Detection


@pytest.fixture(scope="module")
def embedder():
    from pelage.reid.embed import Embedder

    return Embedder(device="cpu", threads=2)


@pytest.fixture(scope="module")
def home(tmp_path_factory, installed_u2netp):
    paths = UserPaths(tmp_path_factory.mktemp("home"))
    paths.rembg_home.mkdir(parents=True)
    os.symlink(installed_u2netp, paths.rembg_home / "u2netp.onnx")
    return paths


@pytest.fixture(scope="module")
def identified(tmp_path_factory, home, demo_survey, embedder):
    """The demo survey imported and identified once; tests that change it work on a copy."""
    root = tmp_path_factory.mktemp("features") / "project"
    with open_project(root, create=True) as project:
        import_survey(project, demo_survey, lambda: build_pipeline(home, project.artefacts, threads=2))
        embed_project(project, embedder)
    return root


@pytest.fixture
def copy(identified, tmp_path):
    shutil.copytree(identified, tmp_path / "project")
    return tmp_path / "project"


def crops(project) -> dict[int, tuple[str, str | None]]:
    with project.sessions() as session:
        rows = session.execute(select(Detection.id, Detection.crop_path, Detection.mask_path)
                               .where(Detection.label == "animal", Detection.crop_path.is_not(None)).order_by(Detection.id)).all()
    return {row.id: (row.crop_path, row.mask_path) for row in rows}


def assert_same(a: LocalFeatures, b: LocalFeatures) -> None:
    assert a.image_size == b.image_size and len(a) == len(b) > 0
    for name in ("keypoints", "sizes", "angles", "descriptors"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert getattr(a, name).dtype == getattr(b, name).dtype == np.float32


def test_identify_stores_every_animals_features_and_they_read_back_equal(identified):
    with open_project(identified) as project:
        animals = crops(project)
        assert len(animals) >= 16
        for crop, mask in animals.values():
            assert (project.artefacts / features_path(crop)).is_file()
            assert_same(load_features(project.artefacts, crop, mask), extract_crop_features(project.artefacts, crop, mask))
            with np.load(project.artefacts / features_path(crop), allow_pickle=False) as stored:
                # the SIFT histograms (a byte each), not float32 RootSIFT: a quarter of the disk for the same matches
                assert stored["sift"].dtype == np.uint8 and "descriptors" not in stored.files
        leftovers = [p.name for p in project.artefacts.rglob(".*.tmp")]
        assert not leftovers  # every write was renamed into place


def test_stored_features_give_the_same_inliers_as_extraction(copy):
    """A scorer reading the stored features and one on the same project without them (so it extracts) agree exactly."""
    with open_project(copy) as project:
        animals = crops(project)
        ids = list(animals)[:8]
        pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:]]
        stored = PatternScorer(project.artefacts, animals, DEFAULT_CALIBRATION)
        from_store = {pair: stored.inliers(*pair) for pair in pairs}
        stored.close()
        assert stored.extracted == 0
        for crop, _mask in animals.values():
            (project.artefacts / features_path(crop)).unlink()
        fresh = PatternScorer(project.artefacts, animals, DEFAULT_CALIBRATION)
        extracted = {pair: fresh.inliers(*pair) for pair in pairs}
        fresh.close()
    assert fresh.extracted == len(ids)
    assert from_store == extracted and any(v for v in from_store.values())
    reference = {(a, b): match_features(extract_crop_features(copy / "artefacts", *animals[a]),
                                        extract_crop_features(copy / "artefacts", *animals[b])).inliers for a, b in pairs}
    assert from_store == reference
    assert all((copy / "artefacts" / features_path(animals[i][0])).is_file() for i in ids)  # the scorer healed the project


def test_a_cold_review_session_on_an_identified_project_extracts_nothing(copy):
    with open_project(copy) as project:
        files = [project.artefacts / features_path(crop) for crop, _ in crops(project).values()]
        before = {f: f.stat().st_mtime_ns for f in files}
        with ReviewSession(project) as session:
            proposal = session.next_proposal()
            assert proposal is not None and proposal.candidates and all(c.verified for c in proposal.candidates)
            for anchor in list(session._row)[:4]:
                assert session.next_proposal(anchor).candidates
            session.scorer.close()  # let the prefetcher finish what it started before counting
            assert session.scorer.extracted == 0
    assert {f: f.stat().st_mtime_ns for f in files} == before


def test_a_redrawn_box_gets_fresh_features(copy, home, embedder):
    with open_project(copy) as project:
        animal, (old_crop, old_mask) = next(iter(crops(project).items()))
        old = load_features(project.artefacts, old_crop, old_mask)
        redraw_box(project, build_pipeline(home, project.artefacts, threads=2), animal, (10.0, 10.0, 300.0, 220.0))
        new_crop, new_mask = crops(project)[animal]
        assert new_crop != old_crop and not (project.artefacts / features_path(new_crop)).exists()
        embed_project(project, embedder)  # identification embeds the new crop, and stores its features
        new = load_features(project.artefacts, new_crop, new_mask)
        assert new is not None and features_path(new_crop) != features_path(old_crop)
        assert_same(new, extract_crop_features(project.artefacts, new_crop, new_mask))
        assert len(new) != len(old) or not np.array_equal(new.descriptors, old.descriptors)
        with ReviewSession(project) as session:
            features = session.scorer.features(animal)
            assert session.scorer.extracted == 0
        assert_same(features, new)


def test_features_from_another_extractor_are_ignored_and_replaced(copy, monkeypatch):
    with open_project(copy) as project:
        animal, (crop, mask) = next(iter(crops(project).items()))
        good = load_features(project.artefacts, crop, mask)
        monkeypatch.setattr(rerank, "EXTRACTOR_VERSION", rerank.EXTRACTOR_VERSION + 1)
        assert load_features(project.artefacts, crop, mask) is None
        scorer = PatternScorer(project.artefacts, crops(project), DEFAULT_CALIBRATION)
        assert_same(scorer.features(animal), good)
        assert scorer.extracted == 1
        with np.load(project.artefacts / features_path(crop), allow_pickle=False) as data:
            assert f"v{rerank.EXTRACTOR_VERSION};" in str(data["signature"])
        assert_same(load_features(project.artefacts, crop, mask), good)
        monkeypatch.setattr(rerank, "MAX_KEYPOINTS", 50)  # a setting changed: old files are stale too, and fewer kept
        fewer, extracted = load_or_extract(project.artefacts, crop, mask)
        assert extracted and 0 < len(fewer) <= 50 < len(good)


def test_features_of_a_rewritten_crop_are_stale(copy):
    with open_project(copy) as project:
        animal, (crop, mask) = next(iter(crops(project).items()))
        (project.artefacts / crop).write_bytes((project.artefacts / crop).read_bytes() + b"\0")  # another crop, another size
        assert load_features(project.artefacts, crop, mask) is None
        assert load_or_extract(project.artefacts, crop, mask)[1]
        assert load_features(project.artefacts, crop, mask) is not None


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong shapes", "empty"])
def test_a_damaged_features_file_is_ignored_and_replaced(copy, damage):
    with open_project(copy) as project:
        animals = crops(project)
        animal, (crop, mask) = next(iter(animals.items()))
        path = project.artefacts / features_path(crop)
        good = load_features(project.artefacts, crop, mask)
        if damage == "garbage":
            path.write_bytes(b"not a zip file at all" * 10)
        elif damage == "truncated":
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        elif damage == "empty":
            path.write_bytes(b"")
        else:
            with np.load(path, allow_pickle=False) as data:
                arrays = dict(data)
            arrays["sift"] = arrays["sift"][:, :64]  # wrong shapes
            with open(path, "wb") as out:
                np.savez(out, **arrays)
        assert load_features(project.artefacts, crop, mask) is None
        scorer = PatternScorer(project.artefacts, animals, DEFAULT_CALIBRATION)
        other = next(a for a in animals if a != animal)
        assert scorer.inliers(animal, other) is not None
        assert scorer.extracted == 1  # only the damaged one
        assert_same(load_features(project.artefacts, crop, mask), good)
