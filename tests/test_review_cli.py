"""Review on a real project (the demo survey imported and embedded with the bundled model), through the
session and through ``pelage propose / decide / undo / redo / individuals / rename / flank / conflicts``."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import select

from pelage.ingest import build_pipeline, import_survey
from pelage.paths import UserPaths
from pelage.reid.candidates import embed_project, propose_candidates
from pelage.reid.flank_project import same_flank_animals
from pelage.review import actions
from pelage.review.session import ReviewSession
from pelage.store import open_project
from pelage.store.schema import Detection, Flank
from tests.review_synthetic import build_synthetic_project
from tests.test_cli import pelage


@pytest.fixture(scope="module")
def embedder():
    from pelage.reid.embed import Embedder

    return Embedder(device="cpu", threads=2)


@pytest.fixture(scope="module")
def demo_project(tmp_path_factory, installed_u2netp, demo_survey, embedder):
    """The demo survey imported and embedded once for the module; tests copy it when they decide."""
    home = UserPaths(tmp_path_factory.mktemp("home"))
    home.rembg_home.mkdir(parents=True)
    os.symlink(installed_u2netp, home.rembg_home / "u2netp.onnx")
    root = tmp_path_factory.mktemp("review-cli") / "project"
    with open_project(root, create=True) as project:
        import_survey(project, demo_survey, lambda: build_pipeline(home, project.artefacts, threads=2))
        embed_project(project, embedder)
    return root


def as_json(*args: str):
    return json.loads(pelage(*args).stdout)


def test_session_scores_like_the_reference_candidates(demo_project, embedder):
    """With no decisions, the session proposes what reid.candidates.propose_candidates (the reference: reloads,
    verifies the shortlist with SIFT) proposes, with the same calibrated scores, once the vouchers' pairs the session
    verifies behind its first proposal are done: the caching changes nothing."""
    with open_project(demo_project) as project, ReviewSession(project, k=5) as session:
        assert session.model.model_id == embedder.model_id
        for anchor in list(session._row)[:4]:
            session.next_proposal(anchor)
            assert session.scorer.wait_idle(timeout=120)
            proposal = session.next_proposal(anchor)
            reference = propose_candidates(project, embedder, anchor, k=5, allowed=same_flank_animals(project, anchor))
            assert [c.id for c in proposal.candidates] == [c.id for c in reference]
            for mine, theirs in zip(proposal.candidates, reference, strict=True):
                assert mine.score == pytest.approx(theirs.score, abs=1e-5) and mine.inliers == theirs.inliers
                assert mine.verified and mine.cosine == pytest.approx(theirs.cosine, abs=1e-5)
            assert session.crop_path(anchor).is_file() and session.image_path(anchor).is_file()
            assert proposal.anchor.station and proposal.anchor.time


def test_cli_review_cycle(demo_project, tmp_path):
    import shutil

    project = tmp_path / "project"
    shutil.copytree(demo_project, project)
    p = str(project)

    proposal = as_json("propose", p, "--json")
    assert set(proposal) == {"anchor", "candidates"} and set(proposal["anchor"]) == {"id"}
    assert 1 <= len(proposal["candidates"]) <= 5 and all(set(c) == {"id", "score"} for c in proposal["candidates"])
    scores = [c["score"] for c in proposal["candidates"]]
    assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)
    anchor, first = proposal["anchor"]["id"], proposal["candidates"][0]["id"]
    animals = {a["id"] for a in as_json("animals", p, "--json")}
    assert anchor in animals and {c["id"] for c in proposal["candidates"]} <= animals - {anchor}

    assert "nonmatch" in pelage("decide", p, str(anchor), str(first), "nonmatch").stdout
    again = as_json("propose", p, "--json")  # the anchor is unfinished: the review stays on it, without the rejected one
    assert again["anchor"]["id"] == anchor and first not in [c["id"] for c in again["candidates"]]
    assert "Undid" in pelage("undo", p).stdout
    assert first in [c["id"] for c in as_json("propose", p, "--json", "--anchor", str(anchor))["candidates"]]
    assert "Redid" in pelage("redo", p).stdout
    assert first not in [c["id"] for c in as_json("propose", p, "--anchor", str(anchor), "--json")["candidates"]]
    assert "Nothing to redo" in pelage("redo", p).stdout

    second = again["candidates"][0]["id"]
    pelage("decide", p, str(anchor), str(second), "match")
    assert as_json("individuals", p, "--json") == [{"id": min(anchor, second), "name": f"ID-{min(anchor, second)}",
                                                    "members": sorted([anchor, second])}]
    pelage("rename", p, str(second), "Spot")
    assert as_json("individuals", p, "--json")[0]["name"] == "Spot"
    assert "Spot" in pelage("individuals", p).stdout

    # Rejecting the first candidate against the partner blocks it from the whole individual.
    pelage("decide", p, str(second), str(first), "nonmatch")
    assert "No conflicts" in pelage("conflicts", p).stdout
    result = pelage("decide", p, str(first), str(anchor), "match")  # ...and a match across that rejection is a conflict
    assert "warning" in result.stderr and str(first) in result.stderr
    (conflict,) = as_json("conflicts", p, "--json")
    assert {conflict["a"], conflict["b"]} == {second, first} and set(conflict["component"]) == {anchor, second, first}

    pelage("flank", p, str(anchor), "left")
    with open_project(project) as opened, opened.sessions() as session:
        assert session.scalar(select(Detection.flank).where(Detection.id == anchor)) == Flank.LEFT
    pelage("flank", p, str(anchor), "unknown")
    with open_project(project) as opened, opened.sessions() as session:
        assert session.scalar(select(Detection.flank).where(Detection.id == anchor)) is None


def test_candidates_leave_out_the_other_known_flank_as_review_does(demo_project, tmp_path):
    import shutil

    project = tmp_path / "project"
    shutil.copytree(demo_project, project)
    p = str(project)
    animals = [a["id"] for a in as_json("animals", p, "--json")]
    anchor = animals[0]
    with open_project(project) as opened:
        for animal in animals:
            actions.set_flank(opened, animal, "unknown")  # whatever identify guessed: every side unknown to start with
    before = [c["id"] for c in as_json("candidates", p, str(anchor), "--json")["candidates"]]
    first, second = before[:2]
    pelage("flank", p, str(anchor), "left")
    pelage("flank", p, str(first), "right")
    pelage("flank", p, str(second), "left")
    shown = [c["id"] for c in as_json("candidates", p, str(anchor), "--json")["candidates"]]
    assert first not in shown and second in shown  # the other flank is left out, the same and the unknown stay
    assert [c["id"] for c in as_json("candidates", p, str(anchor), "--json", "--any-flank")["candidates"]] == before
    assert first not in [c["id"] for c in as_json("propose", p, "--anchor", str(anchor), "--json")["candidates"]]


def test_cli_errors_are_clear(demo_project, tmp_path):
    p = str(demo_project)
    anchor = as_json("animals", p, "--json")[0]["id"]
    for args, message in ((("decide", p, str(anchor), "999999", "match"), "no detected animal with id 999999"),
                          (("decide", p, str(anchor), str(anchor), "match"), "cannot be compared with itself"),
                          (("propose", p, "--anchor", "999999", "--json"), "animal 999999 is not a detected animal"),
                          (("rename", p, "999999", "X"), "no detected animal with id 999999"),
                          (("propose", p, "--model", "no-such-model"), "no-such-model"),
                          (("decide", p, str(anchor), "1", "maybe"), "maybe")):
        result = pelage(*args, check=False)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)
    result = pelage("propose", str(tmp_path / "nothing"), check=False)
    assert result.returncode == 2 and "not a Pelage project" in result.stderr


def test_propose_says_null_when_nothing_is_left(tmp_path):
    """Two animals in one photo can never be compared: nothing to review, in the contract's shape."""
    synthetic = build_synthetic_project(tmp_path / "tiny", 2, dim=8, two_per_photo=1.0, seed=1)
    synthetic.project.close()
    assert as_json("propose", str(tmp_path / "tiny"), "--json") == {"anchor": None, "candidates": []}
    assert "Nothing left" in pelage("propose", str(tmp_path / "tiny")).stdout
    unembedded = tmp_path / "empty"
    open_project(unembedded, create=True).close()
    result = pelage("propose", str(unembedded), check=False)
    assert result.returncode == 2 and "pelage identify" in result.stderr


def test_missing_crops_fall_back_to_the_embedding_and_prefetch_fills_the_cache(demo_project, tmp_path):
    import shutil

    from tests.conftest import wait_for

    project_dir = tmp_path / "project"
    shutil.copytree(demo_project, project_dir)
    with open_project(project_dir) as project, ReviewSession(project, k=3, shortlist=3) as session:
        anchor = next(iter(session._row))
        proposal = session.next_proposal(anchor)
        assert all(c.verified for c in proposal.candidates)
        first = proposal.candidates[0].id
        assert session.scorer.inliers(anchor, first) == session.scorer.inliers(first, anchor) == proposal.candidates[0].inliers
        extra = [hit.id for hit in session._search(anchor, 6)[3:]]  # beyond the shortlist: verified ahead, in the background
        assert extra and wait_for(lambda: all((min(anchor, i), max(anchor, i)) in session.scorer._inliers for i in extra), timeout=60)

        session.crop_path(first).unlink()  # a crop lost from the cache: that pair scores on the embedding alone
        session.scorer.forget_animal(first)
        again = session.next_proposal(anchor)  # k = shortlist: every shortlisted animal is shown, the lost one too
        (lost,) = [c for c in again.candidates if c.id == first]
        assert not lost.verified and lost.inliers == 0 and 0 < lost.score < 1
        assert all(c.verified for c in again.candidates if c.id != first)
        assert session.scorer.features(first) is None


def test_while_the_reviewer_looks_the_next_anchors_shortlist_is_verified_ahead(demo_project, tmp_path):
    """The answer that finishes an anchor is followed by a proposal whose pattern checks were all done in the background."""
    import shutil

    project_dir = tmp_path / "project"
    shutil.copytree(demo_project, project_dir)
    with open_project(project_dir) as project, ReviewSession(project, k=3, shortlist=6) as session:
        first = session.next_proposal()
        session._planner.submit(lambda: None).result()  # the look-ahead is planned…
        assert session.scorer.wait_idle(timeout=120)  # …and verified, as it would be while a person looks
        known = set(session.scorer._inliers)
        session.decide(first.anchor.id, first.candidates[0].id, "match")  # a match finishes the anchor
        following = session.next_proposal()
        assert following is not None and following.anchor.id != first.anchor.id
        shortlisted = {tuple(sorted((following.anchor.id, hit.id))) for hit in session._shortlist(following.anchor.id)}
        assert shortlisted and shortlisted <= known  # nothing was verified while the reviewer waited
        assert all(c.verified for c in following.candidates)


def test_looking_past_the_current_anchor_leaves_it_queued():
    from pelage.review.queue import AnchorQueue

    queue = AnchorQueue({1: 0.9, 2: 0.8, 3: 0.7})
    exact = {1: 0.9, 2: 0.5, 3: 0.7}.__getitem__
    assert queue.best(exact, passing={1}) == 3  # 2's exact priority fell below 3's bound
    assert queue.best(exact) == 1  # the anchor looked past is still first


def test_a_proposal_goes_ahead_of_queued_look_ahead_work_and_gets_the_same_scores(demo_project, tmp_path):
    import shutil
    import threading

    project_dir = tmp_path / "project"
    shutil.copytree(demo_project, project_dir)
    with open_project(project_dir) as project, ReviewSession(project, k=3, shortlist=6) as session:
        animals = sorted(session._row)
        anchor, others = animals[0], animals[1:]
        session.scorer.prefetch([(a, b) for a in animals[5:] for b in animals[5:] if a < b])  # plenty queued, not needed now
        result: list = []
        worker = threading.Thread(target=lambda: result.append(session.scorer.score(anchor, [(i, 0.5) for i in others])), daemon=True)
        worker.start()
        worker.join(timeout=120)
        assert result, "scoring waited forever behind the look-ahead work"
        assert session.scorer.wait_idle(timeout=120)
        fresh = {i: session.scorer._compute(anchor, i) for i in others}
        assert {i: inliers for i, _p, _c, inliers, _v, _s in result[0]} == {i: count or 0 for i, count in fresh.items()}
