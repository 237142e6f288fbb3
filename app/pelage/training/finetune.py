"""Fine-tuning the project's model on its confirmed individuals, with an honest before/after on held-out ones.

The job starts from a registered model's weights (never from ImageNet), learns CosFace classes of
individual + flank (and their mirror images, as the identification engine does), and writes its
checkpoint and finally its model folder into ``PROJECT/models/JOB_ID``. The class centres start at the
start model's mean embedding of each class ("imprinting"): the first steps then refine what the model
already sees instead of pushing random centres through it, which is what keeps a short fine-tune from
making a good model worse. Held-out individuals are scored with the start model before training and
with the saved (float16) model after it, the figures the user decides on.
"""

from __future__ import annotations

import copy
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pelage.reid.bundle import load_model, save_model
from pelage.reid.checkpoints import CheckpointError, read_checkpoint
from pelage.reid.devices import resolve_device
from pelage.reid.embed import embed_with, identification_vectors
from pelage.reid.metrics import evaluate_similarity
from pelage.reid.nets import EmbeddingNet
from pelage.reid.ranking import cosine_similarity
from pelage.reid.train import ClassTable, LabelledCrop, LoopState, Recipe, StepReport, SupervisedTask, run_loop, write_training_record
from pelage.reid.transforms import mirror
from pelage.store import Project, open_project
from pelage.training import events as ev
from pelage.training.dataset import Sample, Split, confirmed_samples, entity_labels, load_crops, split_by_individual
from pelage.training.readiness import SPEED_KEY, readiness_of
from pelage.training.registry import ModelEntry, active_entry, get_model, lineage, model_dir, register_model

Emit = Callable[[object], None]
FIGURES = ("map", "rank1", "rank5")


def new_job_id(kind: str) -> str:
    return f"{kind}-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')[:-3]}"


def recipe_for(spec: ev.TrainingSpec) -> Recipe:
    """The identification engine's recipe, shortened and gentled for a model that is already trained."""
    warmup = 1 if spec.epochs > 2 else 0
    return Recipe(epochs=spec.epochs, classes_per_batch=spec.classes_per_batch, images_per_class=spec.images_per_class,
                  learning_rate=spec.learning_rate, warmup_epochs=warmup, decay_epochs=(max(1, round(0.75 * spec.epochs)),),
                  margin_function=spec.margin_function, triplet_weight=spec.triplet_weight, smoothed_ce_weight=spec.smoothed_ce_weight,
                  adaptive_l2=spec.adaptive_l2, frozen_blocks=spec.frozen_blocks, frozen_batchnorm=True, seed=spec.seed, workers=0,
                  device=spec.device)


def held_out_scores(model: EmbeddingNet, crops: Sequence[np.ndarray], samples: Sequence[Sample]) -> dict:
    """mAP, rank-1 and rank-5 among the held-out photos (the protocol of reid.metrics), ranked by the vectors review
    ranks by (:func:`pelage.reid.embed.identification_vectors`: mirror features and spot words when the model has them)."""
    if not samples:
        return {"queries": 0}
    entity, sighting = entity_labels(samples)
    scores = evaluate_similarity(cosine_similarity(identification_vectors(model, crops)), entity, sighting)
    return {"queries": scores.queries, "identities": scores.identities,
            **{key: round(value, 4) for key, value in scores.as_dict().items() if key in FIGURES}}


def improved(before: dict, after: dict) -> bool:
    """Better held-out mAP and no worse rank-1: the only case in which the app recommends adopting."""
    if not before.get("queries") or not after.get("queries"):
        return False
    return after["map"] > before["map"] and after["rank1"] >= before["rank1"]


def folder_crops(labels_csv: str, root: str) -> list[LabelledCrop]:
    """A ``../shared``-style labelled folder (labels.csv + photos) as extra training crops.

    Identities are prefixed with the folder so they can never be confused with the project's individuals.
    """
    from pelage.reid.metrics import load_labels
    from pelage.reid.workflow import labelled_crops, prepare_folder

    rows = load_labels(labels_csv)
    folder = prepare_folder(Path(root), relpaths=[row.path for row in rows], threads=torch.get_num_threads())
    tag = Path(root).name
    return [replace(crop, identity=f"{tag}:{crop.identity}") for crop in labelled_crops(folder, rows)]


def imprint_centres(model: EmbeddingNet, crops: Sequence[LabelledCrop], table: ClassTable) -> torch.Tensor:
    """Each class's mean embedding under the start model (mirrored classes from mirrored crops)."""
    images = [crop.image for crop in crops]
    vectors = embed_with(model, images)
    if table.mirrored:
        vectors = np.concatenate([vectors, embed_with(model, [mirror(image) for image in images])])
    centres = np.zeros((len(table.names), vectors.shape[1]), np.float32)
    np.add.at(centres, table.labels, vectors)
    return F.normalize(torch.from_numpy(centres), dim=1)


@dataclass
class JobSetup:
    """What every kind of job prepares before its first step."""

    project: Project
    record: ev.JobRecord
    folder: Path
    parent: ModelEntry
    parent_dir: Path
    device: torch.device
    model: EmbeddingNet
    split: Split
    held_out_crops: list[np.ndarray]
    before: dict
    start_state: dict[str, torch.Tensor]  # the start model's weights, for averaging into what is saved


def averaged_with_start(model: EmbeddingNet, start_state: dict[str, torch.Tensor], start_weight: float) -> EmbeddingNet:
    """A copy of ``model`` whose floating-point weights and statistics are ``start_weight``·start + the rest·trained.

    Weight-space averaging (WiSE-FT, Wortsman et al. 2022): fine-tuning moves the weights within one basin,
    so the average is a model too, and it keeps most of the gain on the survey's animals while losing
    less on the ones it has not confirmed. Integer buffers (batch counters) are the trained model's.
    """
    mixed = copy.deepcopy(model)
    if start_weight == 0.0:
        return mixed
    state = mixed.state_dict()
    for key, value in state.items():
        if value.is_floating_point():
            value.mul_(1.0 - start_weight).add_(start_state[key].to(value.device, value.dtype), alpha=start_weight)
    return mixed


def _is_sample(sample: Sample) -> bool:
    texts = (sample.individual, sample.view, sample.sighting, sample.crop, sample.mask, sample.edge)
    return type(sample.detection_id) is int and all(isinstance(text, str) for text in texts)


def _samples_from(data: object) -> list[Sample]:
    """The photos frozen in job.json (which may come from anyone's project): a damaged list says so."""
    try:
        samples = [Sample(**item) for item in data]
    except TypeError:
        samples = None
    if samples is None or not all(_is_sample(sample) for sample in samples):
        raise ValueError(f"{ev.JOB_FILE} lists its photos in an unknown form; start the training again")
    return samples


def prepare_job(spec: ev.TrainingSpec, job_id: str, emit: Emit, resume: bool, samples_for_job: Callable[[Project, set[int]], Split]) -> JobSetup:
    """Open the project, fix the start model and the data (frozen in job.json on the first run), score the start model."""
    device = resolve_device(spec.device)  # before anything is written: a machine without the device changes nothing
    folder = ev.job_folder(spec.project_root, job_id)
    record = ev.JobRecord.load(folder) if resume else ev.JobRecord(job_id, spec)
    record.status, record.message = "running", ""
    record.save(folder)
    emit(ev.Started(job_id, spec.kind, spec.epochs, resume))
    torch.set_num_threads(max(1, spec.threads))
    project = open_project(spec.project_root)
    with project.sessions() as session:
        if "parent" not in record.extra:
            record.extra["parent"] = spec.parent or active_entry(session).id
        parent = get_model(session, record.extra["parent"])
        ancestors = lineage(session, parent.id)
    parent_dir = model_dir(project.root, parent)
    if "train" not in record.extra:
        trained_on = {int(i) for entry in ancestors for i in ((entry.data or {}).get("train", {}) or {}).get("detections", [])}
        split = samples_for_job(project, trained_on)
        record.extra.update({"train": [asdict(s) for s in split.train], "held_out": [asdict(s) for s in split.held_out]})
    split = Split(_samples_from(record.extra["train"]), _samples_from(record.extra["held_out"]))
    emit(ev.Stage(job_id, "loading the photos set aside for checking", 0, len(split.held_out)))
    held_out_crops = load_crops(project.artefacts, split.held_out)
    model, _ = load_model(parent_dir, device)
    if "before" not in record.extra:
        emit(ev.Stage(job_id, "measuring the current model on the animals set aside", 0, len(split.held_out)))
        record.extra["before"] = held_out_scores(model, held_out_crops, split.held_out)
    record.save(folder)
    if spec.input_size is not None:
        model.config = replace(model.config, input_height=int(spec.input_size[0]), input_width=int(spec.input_size[1]))
    start_state = {key: value.detach().clone() for key, value in model.state_dict().items()}
    return JobSetup(project, record, folder, parent, parent_dir, device, model, split, held_out_crops, record.extra["before"], start_state)


def run_steps(setup: JobSetup, task, recipe: Recipe, job_id: str, emit: Emit, should_stop: Callable[[], bool],
              resume: bool) -> tuple[LoopState, bool]:
    """The loop with its events wired to ``emit``."""
    def on_step(report: StepReport) -> None:
        # This machine's speed, saved with the job (at a pause or the end) to estimate the next job's length.
        setup.record.extra[SPEED_KEY] = {"images_per_s": round(report.images_per_s, 2), "device": setup.record.spec.device}
        emit(ev.Progress(job_id, report.epoch, report.step, report.steps, report.loss, report.eta_s, report.images_per_s))

    def on_epoch(record: dict) -> None:
        if "validation" in record:
            emit(ev.Validation(job_id, record["epoch"], record["validation"], setup.before))

    def validate(model: EmbeddingNet) -> dict:  # the figures of what would be saved now, so the live plot ends at "after"
        saved = averaged_with_start(model, setup.start_state, setup.record.spec.start_weight)
        return held_out_scores(saved.eval(), setup.held_out_crops, setup.split.held_out)

    state, cancelled = run_loop(setup.model, task, recipe, setup.folder / ev.CHECKPOINT_FILE, setup.device, resume=resume, on_step=on_step,
                                on_epoch=on_epoch, validate=validate if setup.split.held_out else None, should_stop=should_stop)
    # A stop that comes after the last step still pauses before the model is registered (its checkpoint
    # is complete, so resuming only registers it): a worker whose parent was killed registers nothing.
    return state, cancelled or should_stop()


def finish_job(setup: JobSetup, recipe: Recipe, state: LoopState, data: dict, job_id: str, emit: Emit) -> ev.Finished:
    """Save the model folder, score what was saved, register it (not active) and report."""
    spec = setup.record.spec
    name = spec.name or job_id
    parent_bundle = load_model(setup.parent_dir, "cpu")[1]
    data = {**data, "parent": setup.parent.id, "kind": spec.kind, "train": setup.split.summary()["train"],
            "held_out": setup.split.summary()["held_out"]}
    write_training_record(setup.folder, recipe, state, data)
    averaged = averaged_with_start(setup.model, setup.start_state, spec.start_weight)
    bundle = save_model(averaged.cpu(), setup.folder, name, calibration=parent_bundle.calibration,
                        extra={"training_data": {k: v for k, v in data.items() if k not in ("train", "held_out")}, "parent": setup.parent.id})
    emit(ev.Stage(job_id, "measuring the new model on the animals set aside", 0, len(setup.split.held_out), ev.CHECK))
    saved, _ = load_model(setup.folder, setup.device)
    after = held_out_scores(saved, setup.held_out_crops, setup.split.held_out)
    metrics = {"held_out": {"individuals": len({s.individual for s in setup.split.held_out}), "images": len(setup.split.held_out)},
               "before": setup.before, "after": after, "improved": improved(setup.before, after), "checked": bool(setup.split.held_out),
               "epochs": state.history[-1]["epoch"] if state.history else 0}
    register_model(setup.project, bundle.model_id, name, setup.folder, setup.parent.id, {"kind": spec.kind, **recipe.to_dict()}, data, metrics)
    setup.record.status, setup.record.model_id = "finished", bundle.model_id
    setup.record.extra["metrics"] = metrics
    setup.record.save(setup.folder)
    return ev.Finished(job_id, bundle.model_id, str(setup.folder), metrics)


def supervised_split(spec: ev.TrainingSpec) -> Callable[[Project, set[int]], Split]:
    """The confirmed photos split as :func:`~pelage.training.readiness.readiness_of` promised: a job that could check
    nothing refuses (the user was told before it started), unless the spec says to train without checking."""
    def split(project: Project, trained_on: set[int]) -> Split:
        samples = confirmed_samples(project, spec.min_images)
        ready = readiness_of(samples, spec, trained_on)
        if not ready.can_start:
            raise ValueError(ready.explain())
        fraction = 0.0 if spec.unchecked else spec.holdout_fraction
        return split_by_individual(samples, fraction, spec.seed, never_hold_out=trained_on, held_out=None if spec.unchecked else spec.held_out)

    return split


def run_finetune(spec: ev.TrainingSpec, job_id: str, emit: Emit, should_stop: Callable[[], bool], resume: bool = False) -> object:
    """One fine-tuning job from start (or checkpoint) to a registered model; returns the terminal event."""
    setup = prepare_job(spec, job_id, emit, resume, supervised_split(spec))
    try:
        recipe = recipe_for(spec)
        emit(ev.Stage(setup.record.job_id, "loading the photos to learn from", 0, len(setup.split.train)))
        crops = [LabelledCrop(image, s.individual, s.view) for image, s in zip(load_crops(setup.project.artefacts, setup.split.train),
                                                                                setup.split.train, strict=True)]
        for labels_csv, root in spec.extra_folders:
            emit(ev.Stage(job_id, f"preparing the photos in {root}"))
            crops += folder_crops(labels_csv, root)
        task = SupervisedTask(crops, recipe, setup.model, setup.device)
        if not resume:
            emit(ev.Stage(job_id, "starting from what the current model knows", 0, len(crops)))
            task.imprint(imprint_centres(setup.model, crops, task.table))
        state, cancelled = run_steps(setup, task, recipe, job_id, emit, should_stop, resume)
        if cancelled:
            setup.record.status = "cancelled"
            setup.record.save(setup.folder)
            return ev.Cancelled(job_id, state.epoch + 1, state.step)
        data = {"individuals": len({s.individual for s in setup.split.train}), "images": len(setup.split.train),
                "extra_folders": [list(pair) for pair in spec.extra_folders], "extra_images": len(crops) - len(setup.split.train)}
        return finish_job(setup, recipe, state, data, job_id, emit)
    finally:
        setup.project.close()


def run_job(spec: ev.TrainingSpec, job_id: str, emit: Emit, should_stop: Callable[[], bool], resume: bool = False) -> object:
    """Dispatch by kind; any exception becomes a :class:`~pelage.training.events.Failed` and the job stays resumable.

    A resumed job's checkpoint is read before anything else: a damaged or crafted one fails the job with
    nothing written, and nothing in it is run (see :mod:`pelage.reid.checkpoints`).
    """
    if resume:
        try:
            read_checkpoint(ev.job_folder(spec.project_root, job_id) / ev.CHECKPOINT_FILE)
        except (CheckpointError, FileNotFoundError) as exc:
            return ev.Failed(job_id, str(exc))
    try:
        if spec.kind == ev.UNSUPERVISED:
            from pelage.training.unsupervised import run_unsupervised

            return run_unsupervised(spec, job_id, emit, should_stop, resume)
        return run_finetune(spec, job_id, emit, should_stop, resume)
    except Exception as exc:  # reported to the GUI or CLI, which decides how to show it
        _record_failure(ev.job_folder(spec.project_root, job_id), str(exc))
        return ev.Failed(job_id, str(exc) or exc.__class__.__name__, traceback.format_exc())


def _record_failure(folder: Path, message: str) -> None:
    """Mark the job failed in its job.json, if it has a readable one (a job that failed before starting has none)."""
    try:
        record = ev.JobRecord.load(folder)
    except ev.JobFileError:
        return
    record.status, record.message = "failed", message
    record.save(folder)
