"""What a training job is asked to do and what it reports, as plain dataclasses that cross a process boundary.

No torch here: the GUI builds a :class:`TrainingSpec` and reads events without loading any model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

FINETUNE = "finetune"
UNSUPERVISED = "unsupervised"
KINDS = (FINETUNE, UNSUPERVISED)


@dataclass(frozen=True)
class TrainingSpec:
    """A training job: start model, data, recipe and machine. Saved as ``job.json`` so a job resumes after a restart."""

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

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainingSpec:
        known = {key: value for key, value in data.items() if key in {f.name for f in fields(cls)}}
        if known.get("input_size") is not None:
            known["input_size"] = tuple(known["input_size"])
        if known.get("held_out") is not None:
            known["held_out"] = tuple(str(x) for x in known["held_out"])
        known["extra_folders"] = tuple(tuple(pair) for pair in known.get("extra_folders", ()))
        return cls(**known)


@dataclass(frozen=True)
class Started:
    job_id: str
    kind: str
    epochs: int
    resumed: bool


@dataclass(frozen=True)
class Stage:
    """Preparation before the first step (loading crops, scoring the start model, clustering)."""

    job_id: str
    stage: str
    done: int = 0
    total: int = 0


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
CHECKPOINT_FILE = "checkpoint.pt"  # the same name reid.train uses


@dataclass
class JobRecord:
    """``job.json``: the spec and how far the job got, read to offer "resume" after an app restart."""

    job_id: str
    spec: TrainingSpec
    status: str = "running"  # running | cancelled | failed | finished
    model_id: str | None = None
    message: str = ""
    extra: dict = field(default_factory=dict)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{JOB_FILE}.tmp"
        tmp.write_text(json.dumps({"job_id": self.job_id, "spec": self.spec.to_dict(), "status": self.status, "model_id": self.model_id,
                                   "message": self.message, "extra": self.extra}, indent=1), encoding="utf-8")
        tmp.replace(folder / JOB_FILE)

    @classmethod
    def load(cls, folder: Path) -> JobRecord:
        data = json.loads((folder / JOB_FILE).read_text(encoding="utf-8"))
        return cls(data["job_id"], TrainingSpec.from_dict(data["spec"]), data.get("status", "running"), data.get("model_id"),
                   data.get("message", ""), data.get("extra", {}))


def job_folder(project_root: Path | str, job_id: str) -> Path:
    """Where a job keeps its spec and checkpoint, and where its model is saved when it finishes."""
    from pelage.training.registry import MODELS_FOLDER

    return Path(project_root) / MODELS_FOLDER / job_id


def list_jobs(project_root: Path | str) -> list[JobRecord]:
    """Every training job of the project, oldest first."""
    from pelage.training.registry import MODELS_FOLDER

    root = Path(project_root) / MODELS_FOLDER
    records = []
    for folder in sorted(root.glob(f"*/{JOB_FILE}")) if root.is_dir() else []:
        try:
            records.append(JobRecord.load(folder.parent))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a half-written job.json: the job never started
    return records


def resumable_jobs(project_root: Path | str) -> list[JobRecord]:
    """Jobs that stopped before the end (cancelled, failed or killed with the app) and have a checkpoint."""
    return [record for record in list_jobs(project_root) if record.status != "finished"
            and (job_folder(project_root, record.job_id) / CHECKPOINT_FILE).is_file()]
