"""Training inputs a user (or someone who sent them a project) can get wrong (issue #12): a paused job whose
``checkpoint.pt`` is random bytes or a pickle that would run code, a ``job.json`` that is not JSON, holds
values of the wrong type or names another folder, and a ``--device`` this machine does not have, in both
``pelage train`` modes. The paused jobs are written directly (no training), as a paused job leaves them."""

from __future__ import annotations

import atexit
import json
import os
import pathlib
import shutil
import tempfile
from functools import cache
from pathlib import Path

from tests.bad_inputs import BadInput

JOB_ID = "finetune-20250101-120000-000"
PAUSED_JOB = {"job_id": JOB_ID, "spec": {"kind": "finetune", "epochs": 2, "seed": 0}, "status": "cancelled", "model_id": None,
              "message": "", "extra": {}}
MARKER = "code-ran"  # what the crafted checkpoint would create if anything unpickled it
UNAVAILABLE_DEVICE = "cuda:7"


@cache
def _empty_project() -> Path:
    """A project with no photos, made once per session (creating one runs the migrations)."""
    from pelage.store import open_project

    scratch = Path(tempfile.mkdtemp(prefix="pelage-training-cases-"))
    atexit.register(shutil.rmtree, scratch, True)
    open_project(scratch / "project", create=True).close()
    return scratch / "project"


def _paused_job(folder: Path, checkpoint: bytes | Path | None, job: str) -> list[str]:
    """A project holding one paused job with the given ``job.json`` text and checkpoint; the resume command."""
    project = Path(shutil.copytree(_empty_project(), folder / "project"))
    job_dir = project / "models" / JOB_ID
    job_dir.mkdir(parents=True)
    (job_dir / "job.json").write_text(job, encoding="utf-8")
    if isinstance(checkpoint, Path):
        checkpoint.replace(job_dir / "checkpoint.pt")
    else:
        (job_dir / "checkpoint.pt").write_bytes(checkpoint or b"")
    return ["train", "--project", str(project), "--resume"]


class _RunsCode:
    """Pickles to "call pathlib.Path.touch(marker)": what a crafted checkpoint would do to whoever unpickles it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def _garbage_checkpoint(folder: Path) -> list[str]:
    return _paused_job(folder, os.urandom(4096), json.dumps(PAUSED_JOB))


def _code_checkpoint(folder: Path) -> list[str]:
    import torch

    crafted = folder / "crafted.pt"
    torch.save({"model": _RunsCode(folder / "project" / MARKER), "epoch": 1}, crafted)
    return _paused_job(folder, crafted, json.dumps(PAUSED_JOB))


def _job_not_json(folder: Path) -> list[str]:
    return _paused_job(folder, None, '{"job_id": "' + JOB_ID + '", "spec": {')


def _job_wrong_types(folder: Path) -> list[str]:
    return _paused_job(folder, None, json.dumps({**PAUSED_JOB, "spec": {**PAUSED_JOB["spec"], "epochs": "many"}}))


def _job_names_another_folder(folder: Path) -> list[str]:
    return _paused_job(folder, None, json.dumps({**PAUSED_JOB, "job_id": "../../elsewhere"}))


def _project_on_missing_device(folder: Path) -> list[str]:
    project = Path(shutil.copytree(_empty_project(), folder / "project"))
    return ["train", "--project", str(project), "--device", UNAVAILABLE_DEVICE]


def _labelled_folder(folder: Path) -> tuple[Path, Path]:
    (folder / "photos").mkdir()
    labels = folder / "labels.csv"
    labels.write_text("path,identity,view,sighting\na.jpg,1,left,s1\n", encoding="utf-8")
    return labels, folder / "photos"


def _folder_on_missing_device(folder: Path) -> list[str]:
    labels, photos = _labelled_folder(folder)
    return ["train", "--labels", str(labels), "--data", str(photos), "--out", str(folder / "model"), "--device", UNAVAILABLE_DEVICE]


def _folder_resume_garbage_checkpoint(folder: Path) -> list[str]:
    labels, photos = _labelled_folder(folder)
    (folder / "model").mkdir()
    (folder / "model" / "checkpoint.pt").write_bytes(os.urandom(4096))
    return ["train", "--labels", str(labels), "--data", str(photos), "--out", str(folder / "model"), "--resume", "--device", "cpu"]


NOT_A_CHECKPOINT = ("checkpoint.pt", "not a Pelage training checkpoint", "start the training again")
NOT_A_JOB = ("job.json", "not a readable training job", "start the training again")
NO_DEVICE = (UNAVAILABLE_DEVICE, "devices: cpu", "Use --device cpu")

CASES = [
    BadInput("training_resume_checkpoint_of_random_bytes", _garbage_checkpoint, NOT_A_CHECKPOINT),
    BadInput("training_resume_checkpoint_that_would_run_code", _code_checkpoint, (*NOT_A_CHECKPOINT, "nothing was run")),
    BadInput("training_resume_job_json_not_json", _job_not_json, (*NOT_A_JOB, "not JSON")),
    BadInput("training_resume_job_json_wrong_types", _job_wrong_types, (*NOT_A_JOB, "epochs should be int")),
    BadInput("training_resume_job_json_names_another_folder", _job_names_another_folder, (*NOT_A_JOB, "job_id")),
    BadInput("training_project_on_a_missing_device", _project_on_missing_device, NO_DEVICE),
    BadInput("training_folder_on_a_missing_device", _folder_on_missing_device, NO_DEVICE),
    BadInput("training_folder_resume_checkpoint_of_random_bytes", _folder_resume_garbage_checkpoint, NOT_A_CHECKPOINT),
]
