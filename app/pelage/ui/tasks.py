"""The long tasks the window starts (import a survey, embed new animals), as plain functions.

Each takes ``report`` and ``should_stop`` so a :class:`~pelage.ui.workers.TaskRunner` can run it off the
GUI thread; the models load inside the task, never at import time of the GUI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pelage.store import Project
from pelage.ui.settings import AppSettings
from pelage.ui.workers import Progress

if TYPE_CHECKING:  # the importer loads image libraries: only when an import runs
    from pelage.ingest.importer import ImportSummary

Report = Callable[[Progress], None]
ShouldStop = Callable[[], bool]


@dataclass(frozen=True)
class ImportOutcome:
    """The importer's own summary, in the words the import dialog and status bar use."""

    summary: ImportSummary

    @property
    def cancelled(self) -> bool:
        return self.summary.cancelled

    @property
    def imported(self) -> int:
        return self.summary.imported

    @property
    def skipped(self) -> int:
        return self.summary.already_imported

    @property
    def failures(self) -> list[tuple[str, str]]:
        return self.summary.failures

    def describe(self) -> str:
        summary = self.summary
        head = "Import cancelled" if summary.cancelled else "Import finished"
        return (f"{head}: {summary.imported} new images ({summary.detections} detections), {summary.already_imported} already imported, "
                f"{summary.duplicates} duplicates, {summary.failed} failed.")


def import_survey_task(project: Project, survey_root: Path, settings: AppSettings, pattern: str | None = None,
                       survey_name: str | None = None) -> Callable[[Report, ShouldStop], ImportOutcome]:
    def task(report: Report, should_stop: ShouldStop) -> ImportOutcome:
        from functools import partial

        from pelage.ingest import DetectorConfig, ImportOptions, build_pipeline, run_import
        from pelage.ingest.importer import model_threads
        from pelage.paths import resolve_user_paths

        detector = DetectorConfig(name=settings.detector, weights=Path(settings.detector_weights) if settings.detector_weights else None,
                                  confidence=settings.confidence, device=settings.device)
        options = ImportOptions(pattern=pattern or None, survey_name=survey_name or None)
        # The import works on a few photos at once: each model call gets its share of the cores, as on the command line.
        factory = partial(build_pipeline, resolve_user_paths(), project.artefacts, detector,
                          remove_background=settings.remove_background, threads=settings.threads or model_threads(options))
        events = run_import(project, survey_root, factory, options, should_stop=should_stop)
        while True:
            try:
                event = next(events)
            except StopIteration as stop:
                return ImportOutcome(stop.value)  # finished, or stopped before the next image: both summarised
            report(Progress(event.done, event.total, event.path,
                            f"{event.path}: {event.message}" if event.outcome == "failed" else None))

    return task


def embed_task(project: Project, settings: AppSettings) -> Callable[[Report, ShouldStop], object]:
    """Embed the animals not yet embedded by the chosen model and bring its index up to date."""

    def task(report: Report, should_stop: ShouldStop):
        from pelage.reid.candidates import embed_project
        from pelage.reid.embed import Embedder
        from pelage.training.registry import active_model_dir

        report(Progress(0, 0, "Loading the identification model…"))
        embedder = Embedder(settings.model or active_model_dir(project), device=settings.device, threads=settings.threads or None)
        return embed_project(project, embedder, progress=lambda done, total: report(Progress(done, total, "Embedding animals")),
                             should_stop=should_stop)

    return task


def _user_box_pipeline(project: Project):
    """The pipeline ``pelage add-box`` uses: only the box's crop, mask and edge are made (no detector runs)."""
    from pelage.ingest import DetectorConfig, build_pipeline
    from pelage.paths import resolve_user_paths

    return build_pipeline(resolve_user_paths(), project.artefacts, DetectorConfig(name="saliency"))


def add_box_task(project: Project, image_id: int, box: tuple[float, float, float, float]) -> Callable[[Report, ShouldStop], int]:
    """Record an animal the user drew on a photo (the call behind ``pelage add-box``); returns its id."""

    def task(report: Report, should_stop: ShouldStop) -> int:
        from pelage.ingest import add_user_box

        report(Progress(0, 0, "Cutting out the animal you drew…"))
        return add_user_box(project, _user_box_pipeline(project), image_id, box)

    return task


def redraw_box_task(project: Project, animal_id: int, box: tuple[float, float, float, float]) -> Callable[[Report, ShouldStop], int]:
    """Replace an animal's box (the call behind ``pelage redraw-box``); returns the animal's id."""

    def task(report: Report, should_stop: ShouldStop) -> int:
        from pelage.ingest import redraw_box

        report(Progress(0, 0, "Cutting out the animal again…"))
        redraw_box(project, _user_box_pipeline(project), animal_id, box)
        return animal_id

    return task


def export_task(project: Project, format_name: str, out_dir: Path, options, force: bool) -> Callable[[Report, ShouldStop], dict]:
    """Write an export (the call behind ``pelage export``); returns its manifest."""

    def task(report: Report, should_stop: ShouldStop) -> dict:
        from pelage.export import export_project

        report(Progress(0, 0, f"Writing the {format_name} export…"))
        return export_project(project, format_name, out_dir, options, force=force)

    return task
