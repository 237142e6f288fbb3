"""A project's own score calibration: reliability figures, the refit toward the model's fit, and `pelage calibrate`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pelage.reid.calibration import MIN_EACH, calibration_path, cross_validate, enough, ranking_auc, reliability, saved_calibration
from pelage.reid.rerank import DEFAULT_CALIBRATION, FusionCalibration, fit_calibration, fuse_scores
from pelage.review.model import resolve_review_model
from pelage.store import open_project, transaction
from pelage.store.schema import Decision, DecisionKind
from tests.review_synthetic import build_synthetic_project
from tests.test_cli import pelage


def test_reliability_and_ranking_figures_on_hand_made_scores():
    probability = np.array([0.05, 0.05, 0.95, 0.95])
    ece, bins = reliability(probability, np.array([0, 0, 1, 1]))
    assert ece == pytest.approx(0.05) and [b.count for b in bins] == [2, 2]
    assert reliability(probability, np.array([1, 1, 0, 0]))[0] == pytest.approx(0.95)
    assert ranking_auc(np.array([0.9, 0.8, 0.1]), np.array([True, True, False])) == 1.0
    assert ranking_auc(np.array([0.5, 0.5]), np.array([True, False])) == 0.5


def test_a_refit_corrects_scores_that_do_not_fit_another_species():
    """Pairs drawn from a 'true' calibration unlike the prior's: cross-validated, the refit is far better calibrated."""
    rng = np.random.default_rng(0)
    cosine = rng.uniform(0.2, 0.9, 400)
    inliers = rng.poisson(6, 400).astype(float)
    truth = FusionCalibration(cosine_weight=8.0, inlier_weight=0.5, bias=-5.0)
    same = rng.random(400) < fuse_scores(cosine, inliers, truth)
    check = cross_validate(cosine, inliers, same, DEFAULT_CALIBRATION)
    assert check.prior_ece > 0.15  # the prior says something else…
    assert check.ece < 0.06 and check.ece < check.prior_ece / 3  # …the refit, judged on pairs it did not see, fits
    assert check.auc > 0.7 and sum(b.count for b in check.bins) == 400


def test_too_few_decisions_of_either_kind_are_not_used_and_one_kind_only_keeps_the_prior():
    same = np.array([True] * MIN_EACH + [False] * (MIN_EACH - 1))
    assert not enough(same) and enough(np.r_[same, False])
    with pytest.raises(ValueError, match="needs at least"):
        cross_validate(np.zeros(len(same)), np.zeros(len(same)), same, DEFAULT_CALIBRATION)
    kept = fit_calibration(np.full(3, 0.5), np.zeros(3), np.ones(3, bool), prior=DEFAULT_CALIBRATION, prior_precision=1e6)
    assert kept.bias == pytest.approx(DEFAULT_CALIBRATION.bias, abs=1e-3)


def decided_synthetic_project(root, matches: int, rejections: int):
    """Synthetic animals with ``matches`` confirmed matches (within individuals) and ``rejections`` (between them)."""
    synthetic = build_synthetic_project(root, 120, dim=32, per_individual=4, noise=0.8, seed=5)
    by_identity: dict[int, list[int]] = {}
    for animal, who in synthetic.identity.items():
        by_identity.setdefault(who, []).append(animal)
    groups = [members for members in by_identity.values() if len(members) >= 2]
    with transaction(synthetic.project.sessions) as session:
        session.add_all(Decision(a_id=g[0], b_id=g[1], kind=DecisionKind.MATCH) for g in groups[:matches])
        session.add_all(Decision(a_id=groups[i][0], b_id=groups[i + 1][0], kind=DecisionKind.NONMATCH) for i in range(rejections))
    synthetic.project.close()
    return synthetic


def test_pelage_calibrate_refits_from_the_decisions_and_review_uses_the_refit(tmp_path):
    synthetic = decided_synthetic_project(tmp_path / "project", matches=5, rejections=0)
    few = pelage("calibrate", str(tmp_path / "project"))
    assert "Not enough decisions" in few.stdout and "5 confirmed matches and 0 rejections" in few.stdout
    assert not calibration_path(tmp_path / "project", synthetic.model_id).exists()

    synthetic = decided_synthetic_project(tmp_path / "more", matches=14, rejections=14)
    report = json.loads(pelage("calibrate", str(tmp_path / "more"), "--json").stdout)
    assert report["matches"] == 14 and report["rejections"] == 14 and report["saved"]
    assert 0 <= report["check"]["ece"] <= 1 and report["check"]["auc"] > 0.5
    saved = saved_calibration(tmp_path / "more", synthetic.model_id)
    assert saved == FusionCalibration.from_dict(report["calibration"]) and saved != DEFAULT_CALIBRATION
    with open_project(tmp_path / "more") as project:
        assert resolve_review_model(project).calibration == saved
        assert resolve_review_model(project, project_calibration=False).calibration != saved

    stored = json.loads(calibration_path(tmp_path / "more", synthetic.model_id).read_text())
    stored["matcher"] = "an older pattern matcher"  # its inlier counts meant something else: refit, do not reuse
    calibration_path(tmp_path / "more", synthetic.model_id).write_text(json.dumps(stored))
    assert saved_calibration(tmp_path / "more", synthetic.model_id) is None

    calibration_path(tmp_path / "more", synthetic.model_id).write_text('{"format": "pelage-calibration/1", "calibration": "x"}')
    assert saved_calibration(tmp_path / "more", synthetic.model_id) is None  # not sound: the model's own is used
    with open_project(tmp_path / "more") as project:
        assert resolve_review_model(project).calibration != saved


def test_the_training_tab_checks_the_scores_draws_their_reliability_and_asks_review_to_reopen(qtbot, tmp_path):
    from pelage.ui.score_check import ScoreCheck

    few = decided_synthetic_project(tmp_path / "few", matches=3, rejections=3)
    widget = ScoreCheck(tmp_path / "few")
    qtbot.addWidget(widget)
    widget.run_check()
    qtbot.waitUntil(lambda: widget.button.isEnabled(), timeout=60_000)
    assert "Not enough decisions yet: 3 confirmed matches and 3 rejections" in widget.result.text() and widget.plot.isHidden()
    assert saved_calibration(tmp_path / "few", few.model_id) is None

    enough_decided = decided_synthetic_project(tmp_path / "enough", matches=14, rejections=14)
    widget = ScoreCheck(tmp_path / "enough")
    qtbot.addWidget(widget)
    with qtbot.waitSignal(widget.refitted, timeout=60_000):
        widget.button.click()
    qtbot.waitUntil(lambda: widget.button.isEnabled(), timeout=10_000)
    assert "14 confirmed matches and 14 rejections" in widget.result.text() and "Review now shows" in widget.result.text()
    assert widget.plot.check is not None and sum(b.count for b in widget.plot.check.bins) == 28
    assert saved_calibration(tmp_path / "enough", enough_decided.model_id) is not None


def test_the_verdict_claims_a_better_fit_only_when_the_figures_shown_say_so():
    from pelage.reid.calibration import CalibrationCheck
    from pelage.ui.score_check import describe

    def check(ece: float, prior_ece: float) -> CalibrationCheck:
        return CalibrationCheck(pairs=54, matches=14, ece=ece, auc=0.98, prior_ece=prior_ece, prior_auc=0.99, bins=())

    assert describe(check(0.030, 0.060), 14, 40, saved=True).startswith("Adjusted to your decisions, the scores fit them better")
    same = describe(check(0.0598, 0.0601), 14, 40, saved=True)  # both read 0.060: no gain to claim
    assert same.startswith("The nyala scores already fit your decisions about as well") and "0.060 adjusted, 0.060 before" in same
