"""Training that protects the user, without a training run: whether a job can be checked, what its outcome is
called, one progress figure for the whole job, how long it should take, and a cancelled job never coming back."""

from __future__ import annotations

import pytest

from pelage.training import events as ev
from pelage.training.dataset import Sample
from pelage.training.progress import JobProgress
from pelage.training.readiness import (
    BETTER,
    NOT_BETTER,
    NOT_CHECKED,
    describe_duration,
    estimate_seconds,
    measured_speed,
    readiness_of,
    verdict,
)


def samples(individuals: int, photos: int = 2, sightings: bool = True) -> list[Sample]:
    """``photos`` left-flank photos per individual, each its own sighting (or all one burst)."""
    return [Sample(100 * i + p, str(100 * i), "left", f"image:{100 * i + (p if sightings else 0)}", "c", "m", "e")
            for i in range(1, individuals + 1) for p in range(photos)]


def spec(**changes) -> ev.TrainingSpec:
    return ev.TrainingSpec(project_root="/nowhere", **changes)


def test_three_individuals_cannot_be_checked_and_the_reason_gives_the_numbers():
    ready = readiness_of(samples(3), spec())
    assert (ready.individuals, ready.photos, ready.checkable, ready.held_out) == (3, 6, 3, 0)
    assert not ready.checked and not ready.can_start and ready.can_start_unchecked
    text = ready.explain()
    assert "3 confirmed individuals" in text and "4 in all" in text and "at least 2 individuals aside" in text
    assert "nobody can tell whether the new model is better" in text
    unchecked = readiness_of(samples(3), spec(unchecked=True))
    assert unchecked.can_start and unchecked.held_out == 0 and not unchecked.checked


def test_four_individuals_set_two_aside_unless_their_photos_are_one_burst_or_the_model_learnt_them():
    ready = readiness_of(samples(4), spec())
    assert ready.checked and ready.can_start and ready.held_out == 2 and ready.explain() == ""
    burst = readiness_of(samples(4, sightings=False), spec())
    assert burst.checkable == 0 and not burst.can_start and "(0 of them were)" in burst.explain()
    learnt = readiness_of(samples(4), spec(), trained_on={100, 200, 300})
    assert learnt.checkable == 1 and not learnt.checked


def test_one_individual_cannot_train_even_without_checking():
    ready = readiness_of(samples(1), spec(unchecked=True))
    assert not ready.can_start and not ready.can_start_unchecked
    assert "at least 2 confirmed individuals" in ready.explain() and "has 1." in ready.explain()


def test_unsupervised_adaptation_is_never_unchecked():
    with pytest.raises(ValueError, match="cannot run without checking"):
        spec(kind=ev.UNSUPERVISED, unchecked=True)
    ready = readiness_of(samples(1), spec(kind=ev.UNSUPERVISED))
    assert not ready.can_start and not ready.can_start_unchecked and "needs at least 2" in ready.explain()
    assert readiness_of(samples(2), spec(kind=ev.UNSUPERVISED)).can_start


def test_no_verdict_without_measured_figures():
    measured = {"queries": 4, "map": 0.5, "rank1": 0.5, "rank5": 1.0}
    assert verdict({"before": measured, "after": measured, "improved": True}) == BETTER
    assert verdict({"before": measured, "after": measured, "improved": False}) == NOT_BETTER
    assert verdict({"before": {"queries": 0}, "after": {"queries": 0}, "improved": False}) == NOT_CHECKED
    assert verdict({}) == NOT_CHECKED


def test_one_progress_figure_runs_once_from_zero_to_a_hundred_through_every_phase():
    job = JobProgress()
    seen = []
    events = [ev.Started("j", ev.FINETUNE, 2, False),
              ev.Stage("j", "loading the photos set aside for checking", 0, 4),
              ev.Stage("j", "measuring the current model on the animals set aside", 0, 4),
              ev.Stage("j", "loading the photos to learn from", 0, 8),
              *[ev.Progress("j", epoch, step, 3, 1.0, 90.0, 5.0) for epoch in (1, 2) for step in (1, 2, 3)],
              ev.Validation("j", 2, {}, {}),
              ev.Stage("j", "measuring the new model on the animals set aside", 0, 4, ev.CHECK),
              ev.Finished("j", "m", "/m", {})]
    for event in events:
        job.update(event)
        seen.append((job.percent, job.phase))
    percents = [percent for percent, _ in seen]
    assert percents == sorted(percents) and percents[0] == 0 and percents[-1] == 100
    assert all(percent < 10 for percent, phase in seen if phase.startswith("Getting ready"))
    assert seen[4] == (pytest.approx(10 + 85 / 6), "Training: pass 1 of 2 over the photos, about 2 min left")
    assert seen[-2][1] == "Checking: Measuring the new model on the animals set aside" and 95 <= seen[-2][0] < 100
    # A resumed job starts where its pause left it, not at zero.
    resumed = JobProgress()
    resumed.update(ev.Started("j", ev.FINETUNE, 2, True))
    resumed.update(ev.Progress("j", 2, 1, 3, 1.0, 20.0, 5.0))
    assert resumed.phase.startswith("Training: pass 2 of 2") and resumed.percent > 60


def test_an_adoption_fills_the_bar_with_its_embedding():
    job = JobProgress()
    job.update(ev.Stage("e", "describing every animal", 50, 200, ev.EMBED))
    assert job.percent == 25 and job.phase == "Describing every animal"
    job.update(ev.Embedded("e", "m", 200, 200))
    assert job.percent == 100


def test_the_length_comes_from_the_measured_speed_of_the_last_job_on_the_same_device(tmp_path):
    assert measured_speed(tmp_path) is None
    for job_id, speed, device in (("finetune-1", 4.0, None), ("finetune-2", 40.0, "cuda"), ("finetune-3", None, None)):
        record = ev.JobRecord(job_id, spec(), "finished")
        if speed:
            record.extra["speed"] = {"images_per_s": speed, "device": device}
        record.save(ev.job_folder(tmp_path, job_id))
    assert measured_speed(tmp_path) == 4.0 and measured_speed(tmp_path, "cuda") == 40.0 and measured_speed(tmp_path, "cpu") is None
    ready = readiness_of(samples(40, photos=5), spec())
    assert ready.held_out == 8
    slow, quick = estimate_seconds(ready, spec(), 4.0), estimate_seconds(ready, spec(), 40.0)
    assert slow == pytest.approx(10 * quick) and 30 < quick < slow
    assert estimate_seconds(ready, spec(epochs=16), 4.0) > 1.5 * slow
    assert [describe_duration(s) for s in (20, 61, 600, 3 * 3600 + 60)] == ["under a minute", "about 1 minute", "about 10 minutes",
                                                                           "about 3.5 hours"]


def test_a_job_cancelled_for_good_is_never_offered_for_resume(tmp_path):
    for job_id in ("finetune-1", "finetune-2"):
        folder = ev.job_folder(tmp_path, job_id)
        ev.JobRecord(job_id, spec(), "cancelled").save(folder)
        (folder / ev.CHECKPOINT_FILE).write_bytes(b"checkpoint")
    assert [job.job_id for job in ev.resumable_jobs(tmp_path)] == ["finetune-1", "finetune-2"]
    ev.mark_stopped(tmp_path, "finetune-2")
    assert ev.JobRecord.load(ev.job_folder(tmp_path, "finetune-2")).status == "stopped"
    assert [job.job_id for job in ev.resumable_jobs(tmp_path)] == ["finetune-1"]
    assert ev.newest_resumable_job(tmp_path).job_id == "finetune-1"
    ev.mark_stopped(tmp_path, "embed-1")  # no job.json: nothing to do, no error
