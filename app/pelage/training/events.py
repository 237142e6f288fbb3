"""What a training job is asked to do and what it reports, as plain dataclasses that cross a process boundary.

No torch here: the GUI builds a :class:`TrainingSpec` and reads events without loading any model.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

FINETUNE = "finetune"
UNSUPERVISED = "unsupervised"
KINDS = (FINETUNE, UNSUPERVISED)


@dataclass(frozen=True)
class TrainingSpec:
    """A training job: start model, data, recipe and machine. Saved as ``job.json`` so a job resumes after a restart.

    ``project_root`` is not saved: a job folder lies inside its project (``PROJECT/models/JOB_ID``), so the
    root is where the job was found, and a copied or moved project resumes its jobs in the new place.
    ``extra_folders`` stay absolute: they are outside the project by nature (a labelled data set the
    user pointed at), so no project-relative path could name them.
    """

    project_root: str
    kind: str = FINETUNE
    parent: str | None = None  # registry model id to start from; None: the project's active model
    epochs: int = 8
    device: str | None = None  # None: CUDA when available, else the CPU
    margin_function: str = "adaptive"  # CosFace margin: spotID's adaptive one, or "constant"
    triplet_weight: float = 0.0  # PGNet-AL2 switches, as in the identification engine's recipe
    smoothed_ce_weight: float = 0.0
    adaptive_l2: bool = False
    learning_rate: float = 1e-4  # a tenth of training from ImageNet: the start model already knows the patterns
    frozen_blocks: int = 3
    # Share of the start model kept in the saved weights (WiSE-FT: fine-tuned and start weights averaged).
    # A survey's confirmed animals are few; averaging keeps what the start model knew about all the others.
    start_weight: float = 0.5
    classes_per_batch: int = 16
    images_per_class: int = 4
    input_size: tuple[int, int] | None = None  # (height, width); None: the start model's
    holdout_fraction: float = 0.2
    held_out: tuple[str, ...] | None = None  # individuals to hold out instead of drawing them (benchmarks)
    extra_folders: tuple[tuple[str, str], ...] = ()  # (labels.csv, image folder) pairs added to the training data
    min_images: int = 2
    # Train on every confirmed individual and hold none out: the user chose this knowingly, and the result
    # is never called better or worse (there is nothing to compare it on).
    unchecked: bool = False
    seed: int = 0
    threads: int = 2
    name: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown training kind {self.kind!r}; choose one of: {', '.join(KINDS)}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, not {self.epochs}")
        if not 0.0 <= self.start_weight < 1.0:
            raise ValueError(f"start_weight must be in [0, 1), not {self.start_weight}")
        if self.margin_function not in ("adaptive", "constant"):
            raise ValueError(f"unknown margin {self.margin_function!r}: use adaptive or constant")
        if self.unchecked and self.kind == UNSUPERVISED:
            raise ValueError("unsupervised adaptation is kept only when it checks better on confirmed individuals: "
                             "it cannot run without checking")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainingSpec:
        """The spec ``data`` describes (unknown keys ignored); ``ValueError`` naming the field for a value of the wrong type."""
        if not isinstance(data, dict):
            raise ValueError("the job's spec is not a JSON object")
        hints = typing.get_type_hints(cls)
        known = {}
        for item in fields(cls):
            if item.name in data:
                known[item.name] = _typed(item.name, data[item.name], hints[item.name])
        return cls(**known)


def _typed(name: str, value: object, hint: object) -> object:
    """``value`` (read from JSON) as ``hint`` says: lists become tuples, whole numbers may stand for floats."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (arg for arg in args if arg is not type(None)):
            try:
                return _typed(name, value, option)
            except ValueError:
                continue
    elif origin is tuple and isinstance(value, list | tuple):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(name, item, args[0]) for item in value)
        if len(value) == len(args):
            return tuple(_typed(name, item, arg) for item, arg in zip(value, args, strict=True))
    elif hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    elif hint in (int, str, bool) and type(value) is hint:
        return value
    raise ValueError(f"{name} should be {_describe(hint)}, not {json.dumps(value)[:60]}")


def _describe(hint: object) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


@dataclass(frozen=True)
class Started:
    job_id: str
    kind: str
    epochs: int
    resumed: bool


PREPARE, TRAIN, CHECK, EMBED = "prepare", "train", "check", "embed"  # the phases of a job, for one progress bar


@dataclass(frozen=True)
class Stage:
    """A step outside the training loop, in plain words: getting ready, clustering, checking the result, embedding."""

    job_id: str
    stage: str
    done: int = 0
    total: int = 0
    phase: str = PREPARE


@dataclass(frozen=True)
class Progress:
    job_id: str
    epoch: int  # 1-based epoch in progress
    step: int  # steps done in this epoch
    steps: int  # steps per epoch
    loss: float
    eta_s: float
    images_per_s: float


@dataclass(frozen=True)
class Validation:
    """Held-out figures after an epoch; ``before`` holds the start model's on the same photos."""

    job_id: str
    epoch: int
    metrics: dict
    before: dict


@dataclass(frozen=True)
class Finished:
    job_id: str
    model_id: str
    model_dir: str
    metrics: dict  # {"held_out": …, "before": …, "after": …, "improved": bool}


@dataclass(frozen=True)
class Cancelled:
    """Stopped on request; the checkpoint holds every finished step, so the job can resume."""

    job_id: str
    epoch: int
    step: int


@dataclass(frozen=True)
class Failed:
    job_id: str
    message: str
    details: str = ""


@dataclass(frozen=True)
class Embedded:
    """An adopted model has embedded the project's animals and rebuilt the index."""

    job_id: str
    model_id: str
    embedded: int
    indexed: int
    cancelled: bool = False


Event = Started | Stage | Progress | Validation | Finished | Cancelled | Failed | Embedded
TERMINAL = (Finished, Cancelled, Failed, Embedded)


JOB_FILE = "job.json"
CHECKPOINT_FILE = "checkpoint.pt"  # reid.checkpoints.CHECKPOINT (not imported: this module stays free of torch)
STATUSES = ("running", "cancelled", "failed", "finished", "stopped")  # cancelled: paused; stopped: given up by the user


class JobFileError(ValueError):
    """A ``job.json`` that is not one Pelage wrote: not JSON, missing fields, or values of the wrong type."""

    def __init__(self, folder: Path, reason: str) -> None:
        super().__init__(f"{Path(folder) / JOB_FILE} is not a readable training job ({reason}); "
                         f"it cannot be resumed: delete {folder} and start the training again")


@dataclass
class JobRecord:
    """``job.json``: the spec and how far the job got, read to offer "resume" after an app restart."""

    job_id: str
    spec: TrainingSpec
    status: str = "running"  # running | cancelled (paused) | failed | finished | stopped (cancelled for good)
    model_id: str | None = None
    message: str = ""
    extra: dict = field(default_factory=dict)

    def save(self, folder: Path) -> None:
        """Write atomically, without the project's own location (see :class:`TrainingSpec`)."""
        folder.mkdir(parents=True, exist_ok=True)
        spec = {key: value for key, value in self.spec.to_dict().items() if key != "project_root"}
        tmp = folder / f".{JOB_FILE}.tmp"
        tmp.write_text(json.dumps({"job_id": self.job_id, "spec": spec, "status": self.status, "model_id": self.model_id,
                                   "message": self.message, "extra": self.extra}, indent=1), encoding="utf-8")
        tmp.replace(folder / JOB_FILE)

    @classmethod
    def load(cls, folder: Path) -> JobRecord:
        """The job in ``folder`` (``PROJECT/models/JOB_ID``); :class:`JobFileError` for anything but a job Pelage wrote."""
        folder = Path(folder)
        try:
            data = json.loads((folder / JOB_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise JobFileError(folder, "the file is missing") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise JobFileError(folder, f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise JobFileError(folder, "not a JSON object")
        try:
            return cls._from_json(data, folder)
        except (ValueError, TypeError, KeyError) as exc:
            raise JobFileError(folder, str(exc) if not isinstance(exc, KeyError) else f"no {exc} field") from None

    @classmethod
    def _from_json(cls, data: dict, folder: Path) -> JobRecord:
        if data["job_id"] != folder.name:  # the id names the folder: one that points elsewhere is not this job
            raise ValueError(f"job_id {json.dumps(data['job_id'])[:60]} is not the folder's name {folder.name!r}")
        spec = data["spec"]
        if not isinstance(spec, dict):
            raise ValueError("spec is not a JSON object")
        spec = TrainingSpec.from_dict({**spec, "project_root": str(folder.parent.parent)})
        status, model_id = data.get("status", "running"), data.get("model_id")
        message, extra = data.get("message", ""), data.get("extra", {})
        if status not in STATUSES:
            raise ValueError(f"status should be one of {', '.join(STATUSES)}, not {json.dumps(status)[:60]}")
        if not (model_id is None or isinstance(model_id, str)) or not isinstance(message, str) or not isinstance(extra, dict):
            raise ValueError("model_id, message or extra has the wrong type")
        return cls(folder.name, spec, status, model_id, message, extra)


def job_folder(project_root: Path | str, job_id: str) -> Path:
    """Where a job keeps its spec and checkpoint, and where its model is saved when it finishes."""
    from pelage.training.registry import MODELS_FOLDER

    return Path(project_root) / MODELS_FOLDER / job_id


def list_jobs(project_root: Path | str) -> list[JobRecord]:
    """Every readable training job of the project, oldest first (a damaged ``job.json`` is left out)."""
    from pelage.training.registry import MODELS_FOLDER

    root = Path(project_root) / MODELS_FOLDER
    records = []
    for folder in sorted(root.glob(f"*/{JOB_FILE}")) if root.is_dir() else []:
        try:
            records.append(JobRecord.load(folder.parent))
        except JobFileError:
            continue
    return records


def resumable_jobs(project_root: Path | str) -> list[JobRecord]:
    """Jobs that stopped before the end (paused, failed or killed with the app) and have a checkpoint.

    A job the user cancelled for good is not offered again.
    """
    return [record for record in list_jobs(project_root) if record.status not in ("finished", "stopped")
            and (job_folder(project_root, record.job_id) / CHECKPOINT_FILE).is_file()]


def mark_stopped(project_root: Path | str, job_id: str) -> None:
    """Record that the user cancelled ``job_id`` for good (its worker is already ended), so no one offers to resume it."""
    folder = job_folder(project_root, job_id)
    try:
        record = JobRecord.load(folder)
    except JobFileError:
        return  # an embedding job, or one killed before it wrote job.json: nothing to resume anyway
    if record.status != "finished":
        record.status, record.message = "stopped", "cancelled by the user"
        record.save(folder)


def newest_resumable_job(project_root: Path | str) -> JobRecord | None:
    """The job ``--resume`` carries on: the newest unfinished one with a checkpoint.

    A damaged ``job.json`` beside the newest checkpoint is a :class:`JobFileError`, not a reason to resume
    an older job instead: the user would not know which job went on.
    """
    from pelage.training.registry import MODELS_FOLDER

    root = Path(project_root) / MODELS_FOLDER
    for checkpoint in sorted(root.glob(f"*/{CHECKPOINT_FILE}"), reverse=True) if root.is_dir() else []:
        record = JobRecord.load(checkpoint.parent)
        if record.status not in ("finished", "stopped"):
            return record
    return None
