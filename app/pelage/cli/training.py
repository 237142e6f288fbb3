"""``pelage train --project`` (fine-tune on a project's confirmed individuals) and the project model registry.

``pelage train`` keeps its folder mode (``--labels --data --out``, see :mod:`pelage.cli.identify`); with
``--project`` it runs a training job in a worker process, as the app does, and registers the result.
Ctrl-C pauses the job (its checkpoint is kept); ``--resume`` carries on with the newest paused job.
A job whose result could not be checked (too few confirmed individuals to set any aside) is refused in one
line before any process starts, unless ``--without-checking`` asks for it; its result is then "not checked",
never better or worse.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import click
from tqdm import tqdm

from pelage.cli.identify import _int_tuple
from pelage.cli.identify import train_command as folder_train_command

PROJECT_OPTIONS = ("project_dir", "start_model", "holdout", "unsupervised", "extra", "as_json", "learning_rate", "start_weight",
                   "without_checking")
FOLDER_ONLY = ("labels_csv", "data_dir", "out_dir", "arch", "validation_fraction", "calibration_fraction", "split_seed", "workers", "cache",
               "decay_epochs", "warmup_epochs")


def _figures(metrics: dict) -> str:
    from pelage.training.readiness import NOT_CHECKED, verdict

    if verdict(metrics) == NOT_CHECKED:
        return "Not checked: no individuals were set aside, so the new model was not compared with the start model."

    def row(name: str, figures: dict) -> str:
        if not figures.get("queries"):
            return f"  {name:<8} no held-out queries"
        return f"  {name:<8}{figures['map']:>8.3f}{figures['rank1']:>8.3f}{figures['rank5']:>8.3f}"

    held = metrics.get("held_out", {})
    return "\n".join([f"Held-out: {held.get('individuals', 0)} individuals, {held.get('images', 0)} photos",
                      f"  {'':<8}{'mAP':>8}{'rank-1':>8}{'rank-5':>8}", row("before", metrics.get("before", {})),
                      row("after", metrics.get("after", {}))])


def _given(names) -> list[str]:
    """The options among ``names`` the user typed (defaults do not count)."""
    from click.core import ParameterSource

    context = click.get_current_context()
    return [name for name in names if context.get_parameter_source(name) == ParameterSource.COMMANDLINE]


def _flag(name: str) -> str:
    param = next(p for p in train_command.params if p.name == name)
    return param.opts[0]


def _run_project_job(options: dict) -> None:
    from pelage.store import open_project
    from pelage.training import events as ev
    from pelage.training.worker import resume_job, start_job

    project_dir: Path = options["project_dir"]
    open_project(project_dir).close()  # a clear error for a folder that is not a project, before any process starts
    for name in _given(FOLDER_ONLY):
        raise click.UsageError(f"{_flag(name)} belongs to training on a folder; it cannot be combined with --project")
    if options["resume"]:
        paused = ev.newest_resumable_job(project_dir)  # a damaged job.json is an error here, not skipped
        if paused is None:
            raise click.UsageError(f"{project_dir} has no paused training job to resume")
        handle = resume_job(str(project_dir), paused.job_id)
    else:
        extra = []
        for text in options["extra"]:
            labels, _, root = text.partition(":")
            if not root or not Path(labels).is_file() or not Path(root).is_dir():
                raise click.BadParameter(f"{text!r}: give LABELS.csv:IMAGE_FOLDER", param_hint="--extra")
            extra.append((str(Path(labels).resolve()), str(Path(root).resolve())))
        size = _int_tuple(options["input_size"].lower().replace("x", ","), "--input-size") if options["input_size"] else None
        chosen = {key: options[key] for key in ("epochs", "device", "margin_function", "triplet_weight", "smoothed_ce_weight",
                                                "adaptive_l2", "frozen_blocks", "seed", "learning_rate", "start_weight")
                  if options.get(key) is not None}
        spec = ev.TrainingSpec(project_root=str(project_dir.resolve()), kind=ev.UNSUPERVISED if options["unsupervised"] else ev.FINETUNE,
                               parent=options["start_model"], input_size=size, holdout_fraction=options["holdout"], extra_folders=tuple(extra),
                               threads=options["threads"] or 2, name=options["name"], unchecked=options["without_checking"], **chosen)
        _refuse_unless_ready(spec)
        handle = start_job(spec)
    from pelage.training.progress import JobProgress

    progress = JobProgress()  # one bar for the whole job, as in the window
    bar = tqdm(desc="train", total=100, unit="%", disable=None, file=sys.stderr, bar_format="{desc} {percentage:3.0f}%|{bar}| {postfix}")
    result = None
    try:
        for event in handle.iter_events():
            progress.update(event)
            bar.n = round(progress.percent)
            bar.refresh()
            if isinstance(event, ev.Progress):
                bar.set_description(f"epoch {event.epoch}/{progress.epochs}")
                bar.set_postfix(loss=f"{event.loss:.3f}", eta=f"{event.eta_s:.0f}s", img_s=f"{event.images_per_s:.1f}")
            elif isinstance(event, ev.Stage):
                bar.write(f"{event.stage}…", file=sys.stderr)
            elif isinstance(event, ev.Validation):
                bar.write(f"epoch {event.epoch}: held-out mAP {event.metrics.get('map', float('nan')):.3f} "
                          f"(before {event.before.get('map', float('nan')):.3f})", file=sys.stderr)
            if isinstance(event, ev.TERMINAL):
                result = event
    except KeyboardInterrupt:
        bar.write("Pausing: saving a checkpoint…", file=sys.stderr)
        handle.cancel()
        for event in handle.iter_events():
            result = event
    finally:
        bar.close()
        handle.join(10)
    if isinstance(result, ev.Finished):
        from pelage.training.readiness import NOT_CHECKED, verdict

        outcome = verdict(result.metrics)
        if options["as_json"]:
            payload = {"job": result.job_id, "model": result.model_id, "path": result.model_dir, "verdict": outcome, "metrics": result.metrics}
            click.echo(json.dumps(payload, indent=2))
            return
        click.echo(_figures(result.metrics))
        said = "not checked" if outcome == NOT_CHECKED else f"{outcome} on held-out individuals"
        click.echo(f"Registered model {result.model_id} ({said}). Use it with: pelage models use {project_dir} {result.model_id}")
    elif isinstance(result, ev.Cancelled):
        click.echo(f"Training paused in epoch {result.epoch} after step {result.step}; "
                   f"carry on with: pelage train --project {project_dir} --resume")
        sys.exit(130)
    elif isinstance(result, ev.Failed):
        raise ValueError(result.message)


class NotReady(click.ClickException):
    exit_code = 2  # like every other refusal the user can fix


def _refuse_unless_ready(spec) -> None:
    """One line and exit 2, before any process starts, for a device this machine lacks (checked first: it is the
    command line's mistake) or a job whose result nobody could check."""
    from pelage.reid.devices import resolve_device
    from pelage.training.readiness import project_readiness

    resolve_device(spec.device)
    ready = project_readiness(spec)
    if ready.can_start:
        return
    hint = (" Or add --without-checking to train on all of them, with no comparison."
            if ready.can_start_unchecked and not spec.unchecked else "")
    raise NotReady(f"not started: {ready.explain()}{hint}")


def _train_params() -> list[click.Parameter]:
    """The folder command's options (none required any more) plus the project ones."""
    params = []
    for param in folder_train_command.params:
        param = copy.copy(param)
        param.required = False
        params.append(param)
    return [
        click.Option(["--project", "project_dir"], type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Fine-tune on this project's confirmed individuals and register the model (instead of --labels/--data/--out)."),
        click.Option(["--from", "start_model"], default=None, help="--project: registered model id to start from (default: the active one)."),
        click.Option(["--holdout"], type=click.FloatRange(0, 0.9), default=0.2, show_default=True,
                     help="--project: share of confirmed individuals held out for the before/after figures."),
        click.Option(["--unsupervised"], is_flag=True, help="--project: adapt on the unconfirmed photos (DBSCAN clusters, FANCL)."),
        click.Option(["--without-checking", "without_checking"], is_flag=True,
                     help="--project: train on every confirmed individual with none held out; the result is not compared with the start model "
                          "(needed when too few individuals can be held out)."),
        click.Option(["--extra"], multiple=True, help="--project: LABELS.csv:IMAGE_FOLDER of extra labelled photos to train on (repeatable)."),
        click.Option(["--learning-rate", "learning_rate"], type=float, default=None, help="--project: start learning rate (default 1e-4)."),
        click.Option(["--start-weight", "start_weight"], type=click.FloatRange(0, 1, max_open=True), default=None,
                     help="--project: share of the start model averaged into the saved weights (default 0.5; 0 keeps the fine-tune as is)."),
        click.Option(["--json", "as_json"], is_flag=True, help="--project: print the result as JSON."),
        *params,
    ]


def _train(**options) -> None:
    if options["project_dir"] is not None:
        _run_project_job(options)
        return
    if options["labels_csv"] is None or options["out_dir"] is None:
        raise click.UsageError("give --project PROJECT, or --labels CSV and --out MODEL_DIR (with --data or --cache) to train on a folder")
    for name in _given(PROJECT_OPTIONS):
        raise click.UsageError(f"{_flag(name)} needs --project")
    folder_train_command.callback(**{key: value for key, value in options.items() if key not in PROJECT_OPTIONS})


train_command = click.Command(
    "train", callback=_train, params=_train_params(),
    help="Train an embedding model: on a project's confirmed individuals (--project), or on a labelled folder "
         "(--labels, --data, --out; identity-disjoint validation and calibration splits).")


def _entries(project_dir: Path):
    from pelage.store import open_project
    from pelage.training.registry import list_models

    with open_project(project_dir) as project, project.sessions() as session:
        return list_models(session)


def print_models(project_dir: Path, as_json: bool) -> None:
    """``pelage models list PROJECT``."""
    entries = _entries(project_dir)
    if as_json:
        click.echo(json.dumps([entry.as_json() for entry in entries], indent=2, ensure_ascii=False))
        return
    for entry in entries:
        metrics = entry.metrics or {}
        after, before = metrics.get("after", {}), metrics.get("before", {})
        figures = (f"held-out mAP {before.get('map', float('nan')):.3f} → {after.get('map', float('nan')):.3f}"
                   if after.get("queries") else "")
        created = entry.created.strftime("%Y-%m-%d %H:%M") if entry.created else "bundled"
        click.echo(f"{'*' if entry.active else ' '} {entry.id:<48} {created:<17} parent {entry.parent or '-':<30} {figures}")


def use_model(project_dir: Path, model_id: str, embed: bool, threads: int, device: str | None) -> None:
    """``pelage models use PROJECT MODEL_ID``: embed the project with the model, rebuild the index, make it active."""
    from pelage.store import open_project
    from pelage.training import events as ev
    from pelage.training.adopt import embed_with_model
    from pelage.training.registry import set_active

    if not embed:
        with open_project(project_dir) as project:
            entry = set_active(project, model_id)
        click.echo(f"Model {entry.id} is now active; run `pelage identify {project_dir}` to embed the project with it.")
        return
    with tqdm(desc="embed", unit="animal", disable=None, file=sys.stderr) as bar:
        def emit(event) -> None:
            if isinstance(event, ev.Stage) and event.total:
                bar.total = event.total
                bar.update(event.done - bar.n)

        result = embed_with_model(str(project_dir), model_id, "cli", emit, lambda: False, threads, device)
    if isinstance(result, ev.Failed):
        raise ValueError(result.message)
    click.echo(f"Model {model_id} is now active: {result.embedded} animals embedded, index holds {result.indexed}.")


COMMANDS: list = [train_command]
