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
        from pelage.paths import resolve_user_paths

        detector = DetectorConfig(name=settings.detector, weights=Path(settings.detector_weights) if settings.detector_weights else None,
                                  confidence=settings.confidence, device=settings.device)
        factory = partial(build_pipeline, resolve_user_paths(), project.artefacts, detector,
                          remove_background=settings.remove_background, threads=settings.threads or None)
        events = run_import(project, survey_root, factory, ImportOptions(pattern=pattern or None, survey_name=survey_name or None),
                             should_stop=should_stop)
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
