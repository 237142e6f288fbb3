"""Resuming a training job from a project folder that came from elsewhere, and a `pelage train` that is killed.

A project folder is untrusted input: a crafted ``checkpoint.pt`` must not run anything when its job is
resumed, and a copied project must resume its paused job in the copy (job.json holds no absolute path
to the project). A killed ``pelage train`` must not leave its worker training on and registering a model;
the job stays resumable. Everything runs the real command on a small real project (nyala photos)."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from pelage.reid.checkpoints import read_checkpoint
from pelage.store import open_project
from pelage.training import events as ev
from pelage.training.finetune import new_job_id, run_job
from pelage.training.registry import bundled_entry, list_models
from tests.conftest import shared_dataset
from tests.test_cli import pelage
from tests.test_training_worker import TINY, pipelines
from tests.training_project import small_project

WORKER_GONE_S = 10.0  # a killed command's worker must be gone this soon (it notices at once, then saves its checkpoint)


@pytest.fixture(scope="module")
def paused_project(tmp_path_factory, installed_u2netp) -> Path:
    """A small real project with one fine-tuning job paused after its first step, as Pause leaves it."""
    root = tmp_path_factory.mktemp("paused") / "project"
    small_project(tmp_path_factory.getbasetemp(), shared_dataset("nyala"), pipelines, root)
    events: list = []
    result = run_job(ev.TrainingSpec(project_root=str(root), **TINY), new_job_id(ev.FINETUNE), events.append,
                     lambda: any(isinstance(event, ev.Progress) for event in events))
    assert isinstance(result, ev.Cancelled), result
    return root


def copy_of(project: Path, destination: Path) -> tuple[Path, Path]:
    """A copy of ``project`` and its paused job's folder."""
    copy = Path(shutil.copytree(project, destination))
    return copy, ev.job_folder(copy, ev.newest_resumable_job(copy).job_id)


class RunsCode:
    """Pickles to "call pathlib.Path.touch(marker)": what a crafted checkpoint does to whoever unpickles it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def test_resuming_a_crafted_checkpoint_runs_nothing_and_says_so_in_one_line(paused_project, tmp_path):
    import torch

    project, job = copy_of(paused_project, tmp_path / "project")
    marker = tmp_path / "code-ran"
    torch.save({"model": RunsCode(marker), "epoch": 1, "step": 1}, job / ev.CHECKPOINT_FILE)
    job_file = (job / ev.JOB_FILE).read_bytes()

    result = pelage("train", "--project", str(project), "--resume", check=False)

    assert not marker.exists(), "unpickling the checkpoint ran its payload"
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("pelage: error: "), result.stderr
    assert "checkpoint.pt is not a Pelage training checkpoint" in lines[0] and "start the training again" in lines[0]
    assert (job / ev.JOB_FILE).read_bytes() == job_file  # refused before anything was written


def test_a_copied_project_resumes_its_paused_job_in_the_copy_and_never_touches_the_original(paused_project, tmp_path):
    original, _ = copy_of(paused_project, tmp_path / "original")
    copy, job = copy_of(original, tmp_path / "elsewhere" / "copy")
    record = json.loads((job / ev.JOB_FILE).read_text(encoding="utf-8"))
    assert "project_root" not in record["spec"]  # the job folder's place says where its project is
    record["spec"]["project_root"] = str(original)  # what earlier versions wrote: it must be ignored
    (job / ev.JOB_FILE).write_text(json.dumps(record), encoding="utf-8")
    shutil.rmtree(original)  # anything that reached for the original would fail, or bring the folder back

    result = pelage("train", "--project", str(copy), "--resume", "--json", check=False)

    assert result.returncode == 0, result.stderr
    finished = json.loads(result.stdout)
    assert Path(finished["path"]).resolve() == job.resolve()
    with open_project(copy) as project, project.sessions() as session:
        assert finished["model"] in {entry.id for entry in list_models(session)}
    assert ev.JobRecord.load(job).status == "finished"
    assert not original.exists()


def worker_of(command: subprocess.Popen, timeout: float = 120.0) -> psutil.Process:
    """The training worker `pelage train` started (a spawned child, not multiprocessing's resource tracker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process(command.pid).children():
            cmdline = " ".join(child.cmdline())
            if "spawn_main" in cmdline:
                return child
        time.sleep(0.1)
    raise AssertionError("pelage train started no worker process")


def wait_for_checkpoint(project: Path, command: subprocess.Popen, timeout: float = 300.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and command.poll() is None:
        found = sorted((project / "models").glob(f"*/{ev.CHECKPOINT_FILE}"))
        if found:
            return found[0].parent
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint appeared (exit status {command.poll()})")


def test_killing_pelage_train_ends_its_worker_registers_nothing_and_the_job_can_resume(paused_project, tmp_path):
    project = Path(shutil.copytree(paused_project, tmp_path / "project"))
    shutil.rmtree(project / "models")  # only the job this test starts
    command = subprocess.Popen([sys.executable, "-m", "pelage", "train", "--project", str(project), "--epochs", "200",
                                "--input-size", "96x192", "--frozen-blocks", "5", "--holdout", "0.5", "--threads", "2"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = worker_of(command)
    try:
        job = wait_for_checkpoint(project, command)  # the first epoch is done: it is training now
        command.kill()  # SIGKILL: no handler runs, the daemon flag does not help
        command.wait(10)
        _, alive = psutil.wait_procs([worker], timeout=WORKER_GONE_S)
        assert not alive, f"the worker {worker.pid} outlived the killed command by {WORKER_GONE_S} s"
    finally:
        command.kill()
        if worker.is_running():  # a failed test leaves no orphan behind
            worker.kill()

    with open_project(project) as opened, opened.sessions() as session:
        assert [entry.id for entry in list_models(session)] == [bundled_entry().id]
    assert not (job / "model.safetensors").exists()
    paused = ev.newest_resumable_job(project)
    assert paused is not None and paused.job_id == job.name and paused.status == "cancelled"
    assert read_checkpoint(job / ev.CHECKPOINT_FILE).epoch >= 1
