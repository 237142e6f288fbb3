"""A real fine-tuning job on a small nyala project, through the worker process: progress, cancel, resume,
checkpoint, registry, and the CLI on top of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pelage.cli.main import cli
from pelage.reid.bundle import read_bundle
from pelage.store import open_project
from pelage.training import events as ev
from pelage.training.registry import active_model_dir, bundled_entry, list_models
from pelage.training.worker import resume_job, start_job
from tests.conftest import shared_dataset
from tests.training_project import few_individuals_project, small_project

TINY = {"epochs": 2, "classes_per_batch": 2, "images_per_class": 2, "input_size": (96, 192), "frozen_blocks": 5, "threads": 2,
        "holdout_fraction": 0.5}


def pipelines(artefacts: Path):
    from pelage.ingest import build_pipeline
    from pelage.paths import resolve_user_paths

    return lambda: build_pipeline(resolve_user_paths(), artefacts, threads=2)


@pytest.fixture(scope="module")
def project_root(tmp_path_factory, installed_u2netp) -> Path:
    root = tmp_path_factory.mktemp("worker") / "project"
    small_project(tmp_path_factory.getbasetemp(), shared_dataset("nyala"), pipelines, root)
    return root


def collect_until(handle, predicate, timeout: float = 240.0) -> list:
    import time

    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in handle.poll():
            seen.append(event)
            if predicate(event):
                return seen
        if handle.finished is not None:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"timed out; events so far: {seen[-5:]}")


def test_a_job_streams_progress_pauses_resumes_and_registers_its_model(project_root):
    spec = ev.TrainingSpec(project_root=str(project_root), **TINY)
    handle = start_job(spec)
    first = collect_until(handle, lambda e: isinstance(e, ev.Progress))
    assert isinstance(first[0], ev.Started) and not first[0].resumed
    progress = first[-1]
    assert isinstance(progress, ev.Progress), first
    assert progress.epoch == 1 and progress.step == 1 and progress.steps >= 1
    assert progress.loss > 0 and progress.eta_s >= 0 and progress.images_per_s > 0
    handle.cancel()
    rest = list(handle.iter_events())
    handle.join(30)
    stopped = rest[-1]
    assert isinstance(stopped, ev.Cancelled), rest
    folder = ev.job_folder(project_root, handle.job_id)
    assert (folder / ev.CHECKPOINT_FILE).is_file()
    assert not (folder / "model.safetensors").exists()
    assert [job.job_id for job in ev.resumable_jobs(project_root)] == [handle.job_id]
    assert ev.JobRecord.load(folder).status == "cancelled"
    done_before = (stopped.epoch - 1) * progress.steps + stopped.step

    resumed = resume_job(str(project_root), handle.job_id)
    events = list(resumed.iter_events())
    resumed.join(30)
    assert isinstance(events[0], ev.Started) and events[0].resumed
    steps = [e for e in events if isinstance(e, ev.Progress)]
    # The resumed job continues where the pause left it: it repeats no finished step.
    assert (steps[0].epoch - 1) * steps[0].steps + steps[0].step == done_before + 1
    assert steps[-1].epoch == spec.epochs and steps[-1].step == steps[-1].steps
    validations = [e for e in events if isinstance(e, ev.Validation)]
    assert validations and validations[-1].epoch == spec.epochs
    assert validations[-1].before["queries"] > 0 and 0.0 <= validations[-1].metrics["map"] <= 1.0
    finished = events[-1]
    assert isinstance(finished, ev.Finished), events[-3:]

    bundle = read_bundle(Path(finished.model_dir))
    assert bundle.model_id == finished.model_id and (Path(finished.model_dir) / ev.CHECKPOINT_FILE).is_file()
    assert (bundle.config.input_height, bundle.config.input_width) == (96, 192)
    with open_project(project_root) as project:
        with project.sessions() as session:
            entries = {entry.id: entry for entry in list_models(session)}
        entry = entries[finished.model_id]
        assert entry.parent == bundled_entry().id and not entry.active and entries[bundled_entry().id].active
        assert entry.metrics["before"]["queries"] == entry.metrics["after"]["queries"] > 0
        assert entry.metrics["held_out"]["individuals"] >= 2
        held = set(entry.data["held_out"]["detections"])
        assert held and held.isdisjoint(entry.data["train"]["detections"])
        assert entry.recipe["margin_function"] == "adaptive" and entry.recipe["epochs"] == 2
        assert active_model_dir(project) == read_bundle(active_model_dir(project)).directory
        assert "nyala-lite0" in str(active_model_dir(project))
    assert ev.resumable_jobs(project_root) == []


def test_a_failing_job_reports_instead_of_crashing(project_root):
    from pelage.training.finetune import run_job

    events = []
    result = run_job(ev.TrainingSpec(project_root=str(project_root), parent="no-such-model", **TINY), "broken", events.append, lambda: False)
    assert isinstance(result, ev.Failed) and "no-such-model" in result.message and "Traceback" in result.details
    assert isinstance(events[0], ev.Started)
    assert ev.JobRecord.load(ev.job_folder(project_root, "broken")).status == "failed"


def test_unsupervised_adaptation_needs_unconfirmed_photos(project_root):
    from pelage.training.finetune import run_job

    result = run_job(ev.TrainingSpec(project_root=str(project_root), kind=ev.UNSUPERVISED, **TINY), "adapt", lambda event: None, lambda: False)
    assert isinstance(result, ev.Failed) and "nothing to adapt to" in result.message


def test_cli_trains_lists_and_switches_models(project_root):
    runner = CliRunner()
    result = runner.invoke(cli, ["train", "--project", str(project_root), "--epochs", "1", "--input-size", "96x192", "--frozen-blocks", "5",
                                 "--holdout", "0.5", "--triplet", "0.5", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    trained = json.loads(result.stdout)
    listed = json.loads(runner.invoke(cli, ["models", "list", str(project_root), "--json"]).output)
    assert all(set(item) >= {"id", "parent", "created", "recipe", "data", "metrics", "active"} for item in listed)
    by_id = {item["id"]: item for item in listed}
    assert by_id[trained["model"]]["recipe"]["triplet_weight"] == 0.5 and not by_id[trained["model"]]["active"]
    assert [item["id"] for item in listed if item["active"]] == [bundled_entry().id]

    switched = runner.invoke(cli, ["models", "use", str(project_root), trained["model"], "--no-embed"])
    assert switched.exit_code == 0, switched.output
    listed = json.loads(runner.invoke(cli, ["models", "list", str(project_root), "--json"]).output)
    assert [item["id"] for item in listed if item["active"]] == [trained["model"]]
    with open_project(project_root) as project:
        assert active_model_dir(project) == Path(trained["path"])
    unknown = runner.invoke(cli, ["models", "use", str(project_root), "nope", "--no-embed"])
    assert unknown.exit_code != 0
    mixed = runner.invoke(cli, ["train", "--project", str(project_root), "--labels", __file__])
    assert mixed.exit_code != 0 and "--labels" in mixed.output
    # Without --project the command is still the folder trainer (its own checks answer).
    folder = runner.invoke(cli, ["train", "--labels", __file__, "--out", str(project_root / "elsewhere")])
    assert folder.exit_code != 0 and "give --data" in folder.output
    assert "--project" in runner.invoke(cli, ["train", "--holdout", "0.3"]).output


@pytest.fixture(scope="module")
def few_root(tmp_path_factory, installed_u2netp) -> Path:
    root = tmp_path_factory.mktemp("worker-few") / "project"
    few_individuals_project(tmp_path_factory.getbasetemp(), shared_dataset("nyala"), pipelines, root)
    return root


def test_cli_refuses_a_job_nobody_could_check_in_one_line_unless_told_to_train_without_checking(few_root):
    runner = CliRunner()
    base = ["train", "--project", str(few_root), "--epochs", "1", "--input-size", "96x192", "--frozen-blocks", "5"]
    refused = runner.invoke(cli, base)
    line = refused.output.strip()
    assert refused.exit_code == 2 and line.startswith("Error: not started"), line
    assert len(line.splitlines()) == 1, line
    assert "not started" in line and "2 confirmed individuals" in line and "--without-checking" in line and "NOT better" not in line
    assert ev.list_jobs(few_root) == []  # refused before any worker started
    # The worker refuses on its own too (a job started some other way).
    from pelage.training.finetune import run_job

    failed = run_job(ev.TrainingSpec(project_root=str(few_root), **TINY), "direct", lambda event: None, lambda: False)
    assert isinstance(failed, ev.Failed) and "4 in all" in failed.message

    trained = runner.invoke(cli, [*base, "--without-checking"], catch_exceptions=False)
    assert trained.exit_code == 0, trained.output
    assert "not checked" in trained.stdout and "NOT better" not in trained.stdout and "better on" not in trained.stdout
    listed = json.loads(runner.invoke(cli, ["models", "list", str(few_root), "--json"]).output)
    new = [item for item in listed if not item["active"]]
    assert len(new) == 1 and new[0]["metrics"]["checked"] is False and new[0]["metrics"]["held_out"]["individuals"] == 0
    unsupervised = runner.invoke(cli, [*base, "--unsupervised", "--without-checking"])
    assert unsupervised.exit_code != 0 and "cannot run without checking" in str(unsupervised.exception or unsupervised.output)
