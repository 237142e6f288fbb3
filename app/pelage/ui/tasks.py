"""The long tasks the window starts (import a survey, embed new animals), as plain functions.

Each takes ``report`` and ``should_stop`` so a :class:`~pelage.ui.workers.TaskRunner` can run it off the
GUI thread; the models load inside the task, never at import time of the GUI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pelage.store import Project
from pelage.ui.settings import AppSettings
from pelage.ui.workers import Progress

Report = Callable[[Progress], None]
ShouldStop = Callable[[], bool]


@dataclass
class ImportOutcome:
    survey: str
    total: int = 0
    imported: int = 0
    skipped: int = 0
    duplicates: int = 0
    detections: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0

    def describe(self) -> str:
        head = "Import cancelled" if self.cancelled else "Import finished"
        return (f"{head}: {self.imported} new images ({self.detections} detections), {self.skipped} already imported, "
                f"{self.duplicates} duplicates, {len(self.failures)} failed.")


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
        events = run_import(project, survey_root, factory, ImportOptions(pattern=pattern or None, survey_name=survey_name or None))
        outcome = ImportOutcome(survey=survey_name or Path(survey_root).name)
        try:
            while True:
                if should_stop():
                    outcome.cancelled = True
                    break
                try:
                    event = next(events)
                except StopIteration as stop:
                    outcome.seconds = stop.value.seconds
                    outcome.survey = stop.value.survey
                    break
                outcome.total = event.total
                if event.outcome == "imported":
                    outcome.imported += 1
                    outcome.detections += event.detections
                elif event.outcome == "skipped":
                    outcome.skipped += 1
                elif event.outcome == "duplicate":
                    outcome.duplicates += 1
                elif event.outcome == "failed":
                    outcome.failures.append((event.path, event.message or "unknown error"))
                report(Progress(event.done, event.total, event.path,
                                f"{event.path}: {event.message}" if event.outcome == "failed" else None))
        finally:
            events.close()  # the image in flight is either recorded or not; a later import picks up the rest
        return outcome

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
