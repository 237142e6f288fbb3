"""Batch import of a survey season into a project.

Contract:
- Walks the survey folder in a stable order; never writes to it (it may be read-only).
- Each image is one transaction: a kill loses at most the image in flight, and a re-run carries on
  with the first image not yet recorded, so an interrupted and an uninterrupted import end with the
  same rows. Already recorded paths are skipped without being read (incremental re-import).
- Content already imported under another path is recorded as a duplicate, not processed again.
- Every failure is recorded with its reason and the import goes on; a folder the scan cannot read is
  recorded as a failure too (path ending in "/"), so what was found and what was recorded add up.
- Images already recorded whose cached crops, masks or edge images went missing get them rebuilt.
- One import at a time per project (:mod:`pelage.ingest.lock`): a second one waits, or refuses.
- :func:`run_import` is a generator that yields one :class:`ImportProgress` per file, so the CLI
  shows a progress bar and the GUI a progress dialog with a working Cancel (stop iterating).
- Photos are decoded, detected and masked by a few worker threads (onnxruntime, OpenCV, Pillow and hashlib
  release the GIL) while the calling thread records the results one transaction each, in the scan's order; a
  kill loses at most the few photos in flight.
- Or by the workers of a Dask cluster (:mod:`pelage.cluster`, passed in as ``remote``): the same analysis on
  other machines, recorded here in the same order and transactions, so the project is the same.
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from pelage.ingest.decode import ImageReadError
from pelage.ingest.errors import ImportBusyError, SurveyImportError
from pelage.ingest.lock import ImportLock, import_lock
from pelage.ingest.naming import PathFacts, compile_user_pattern, parse_path
from pelage.ingest.pipeline import Analysis, Pipeline, ProcessedDetection
from pelage.ingest.repair import BrokenImage, find_broken_images, repair_image
from pelage.store import (
    Camera,
    Detection,
    Image,
    ImageStatus,
    Project,
    Station,
    Survey,
    TimeSource,
    transaction,
)
from pelage.weights.verify import file_digest

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"})
# Files every camera-trap card or annotation tool leaves beside the photos; not worth a warning.
QUIET_SUFFIXES = frozenset({".xml", ".json", ".csv", ".txt", ".db", ".ini", ".thm", ".log"})


DEFAULT_TIME_PRIORITY = (TimeSource.FILENAME, TimeSource.EXIF, TimeSource.FILE_TIME)


@dataclass(frozen=True)
class ImportOptions:
    pattern: str | None = None  # extra regex for station/camera/time in paths (see naming.py)
    survey_name: str | None = None  # default: the survey folder's name
    retry_failed: bool = False
    time_priority: tuple[TimeSource, ...] = DEFAULT_TIME_PRIORITY
    wait: bool = True  # another import into the project is running: wait for it (else ImportBusyError)
    lock_poll_seconds: float = 1.0
    workers: int | None = None  # threads processing photos; None: one per CPU core, at most 4; 1: one photo at a time


def worker_count(options: ImportOptions) -> int:
    """How many photos are processed at once (more than 4 threads gain nothing on a laptop's memory bus)."""
    return max(1, options.workers if options.workers is not None else min(4, os.cpu_count() or 1))


def model_threads(options: ImportOptions) -> int:
    """onnxruntime threads per model call: the cores shared out among the workers, so they do not fight over them."""
    return max(1, (os.cpu_count() or 1) // worker_count(options))


class RemotePhotoWorkers(Protocol):
    """Somewhere else that analyses photos (:class:`pelage.cluster.PhotoWorkers`): it is handed a photo's path and
    content hash and returns a future of its :class:`Analysis` (cached files written) or the :class:`ImageReadError`."""

    slots: int  # photos to keep in flight

    def submit(self, path: Path, sha256: str) -> Future[Analysis | ImageReadError]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ScanResult:
    images: list[str]  # relative paths, "/" separators, sorted
    other_files: list[str]
    unreadable: dict[str, str] = field(default_factory=dict)  # folder ("ST03/", ending in "/") → why it cannot be read


@dataclass(frozen=True)
class ImportProgress:
    done: int
    total: int
    path: str
    outcome: str  # imported | failed | duplicate | skipped | repaired | waiting (for another import; done = total = 0)
    message: str | None = None
    detections: int = 0


@dataclass
class ImportSummary:
    survey: str
    images_found: int = 0
    imported: int = 0
    already_imported: int = 0
    duplicates: int = 0
    failed: int = 0
    detections: int = 0
    unreadable_folders: int = 0  # found besides the image files; each is one failure (new) or one already recorded
    repaired: int = 0  # already imported images whose missing cached files were rebuilt
    other_files: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    unrepaired: list[tuple[str, str]] = field(default_factory=list)  # already imported, cached files missing for good
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    cancelled: bool = False

    def as_dict(self) -> dict:
        return {
            "survey": self.survey, "images_found": self.images_found, "imported": self.imported,
            "already_imported": self.already_imported, "duplicates": self.duplicates, "failed": self.failed,
            "detections": self.detections, "unreadable_folders": self.unreadable_folders, "repaired": self.repaired,
            "other_files": len(self.other_files),
            "failures": [{"path": p, "reason": r} for p, r in self.failures],
            "unrepaired": [{"path": p, "reason": r} for p, r in self.unrepaired],
            "seconds": round(self.seconds, 2), "cancelled": self.cancelled,
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
        }


def scan_survey(root: Path, exclude: Iterable[Path] = ()) -> ScanResult:
    """All image files under ``root`` (hidden files and ``exclude`` folders skipped), sorted, and the folders
    that could not be read."""
    root = Path(root)
    excluded = {Path(p).resolve() for p in exclude}
    images, others = [], []
    unreadable: dict[str, str] = {}

    def on_error(error: OSError) -> None:
        folder = Path(error.filename or root)
        if folder == root:
            raise SurveyImportError(f"The survey folder {root} cannot be read ({error.strerror}); check its permissions.")
        unreadable[f"{folder.relative_to(root).as_posix()}/"] = (
            f"cannot read this folder ({error.strerror}); its photos were not imported. Fix its permissions and re-run the import."
        )

    for folder, dirs, files in os.walk(root, onerror=on_error):
        current = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (current / d).resolve() not in excluded)
        for name in sorted(files):
            if name.startswith("."):
                continue
            relative = (current / name).relative_to(root).as_posix()
            suffix = Path(name).suffix.lower()
            if suffix in IMAGE_SUFFIXES:
                images.append(relative)
            elif suffix not in QUIET_SUFFIXES:
                others.append(relative)
    return ScanResult(images=sorted(images), other_files=others, unreadable=unreadable)


def check_survey_root(survey_root: Path | str) -> Path:
    """The survey folder, resolved; :class:`SurveyImportError` when it is missing, a file or unreadable.

    Cheap and writes nothing, so a caller can check before it creates a project.
    """
    root = Path(survey_root).expanduser().resolve()
    if not root.is_dir():
        what = "is a file, not a folder" if root.is_file() else "does not exist"
        raise SurveyImportError(f"The survey folder {root} {what}. Give the folder that holds the survey's photos.")
    if not os.access(root, os.R_OK | os.X_OK):
        raise SurveyImportError(f"The survey folder {root} cannot be read; check its permissions.")
    return root


def sha256_file(path: Path) -> str:
    return file_digest(path, "sha256")


def resolve_capture_time(
    exif_time: datetime | None,
    facts: PathFacts,
    path: Path,
    priority: Sequence[TimeSource] = DEFAULT_TIME_PRIORITY,
) -> tuple[datetime | None, TimeSource | None]:
    """The capture time and where it came from, taking the first source in ``priority`` that has one.

    A full date and time in a file name is something the field team (or their renaming software)
    wrote on purpose, usually after correcting the camera's clock, so by default it wins over the
    raw EXIF clock; EXIF comes next, and the file's modification time is the last resort. The EXIF
    time is kept on the image either way, so clock offsets stay visible.
    """
    for source in priority:
        if source == TimeSource.EXIF and exif_time is not None:
            return exif_time, TimeSource.EXIF
        if source == TimeSource.FILENAME and facts.time is not None:
            return facts.time, TimeSource.FILENAME
        if source == TimeSource.FILE_TIME:
            try:
                return datetime.fromtimestamp(path.stat().st_mtime), TimeSource.FILE_TIME
            except OSError:
                continue
    return None, None


def _get_or_create_survey(session: Session, root: Path, name: str | None) -> Survey:
    root_text = str(root)
    if name:
        survey = session.scalar(select(Survey).where(Survey.name == name))
        if survey is not None:
            survey.root = root_text  # the same season, moved (another drive letter, a copy)
            return survey
    else:
        survey = session.scalar(select(Survey).where(Survey.root == root_text))
        if survey is not None:
            return survey
        name = root.name or "survey"
        taken = set(session.scalars(select(Survey.name)))
        base, number = name, 2
        while name in taken:
            name, number = f"{base}-{number}", number + 1
    survey = Survey(name=name, root=root_text)
    session.add(survey)
    session.flush()
    return survey


def _get_or_create_camera(session: Session, facts: PathFacts) -> Camera | None:
    if not facts.station:
        return None
    station = session.scalar(select(Station).where(Station.name == facts.station))
    if station is None:
        station = Station(name=facts.station)
        session.add(station)
        session.flush()
    camera_name = facts.camera or ""
    camera = session.scalar(select(Camera).where(Camera.station_id == station.id, Camera.name == camera_name))
    if camera is None:
        camera = Camera(station_id=station.id, name=camera_name)
        session.add(camera)
        session.flush()
    return camera


def _detection_row(processed: ProcessedDetection, detector: str) -> Detection:
    box = processed.box
    return Detection(
        x0=box.x0, y0=box.y0, x1=box.x1, y1=box.y1, score=box.score, label=box.label, detector=detector,
        crop_path=processed.paths.crop, mask_path=processed.paths.mask, edge_path=processed.paths.edge,
        mask_source=processed.mask.source, mask_error=processed.mask.error,
    )


@dataclass
class _Outcome:
    status: ImageStatus
    size_bytes: int = 0
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    captured_at: datetime | None = None
    exif_time: datetime | None = None
    time_source: TimeSource | None = None
    error: str | None = None
    duplicate_of_id: int | None = None
    detections: list[ProcessedDetection] = field(default_factory=list)
    detector: str = ""


@dataclass
class _Prepared:
    """A photo read and hashed on the calling thread, and what will happen to it."""

    path: Path
    facts: PathFacts
    outcome: _Outcome | None = None  # already settled: unreadable, or empty
    size: int = 0
    sha256: str = ""
    maybe_duplicate: bool = False  # the same content is recorded, or ahead of it in this run
    analysis: Future[Analysis] | None = None


def _prepare(path: Path, facts: PathFacts) -> _Prepared:
    """Size and content hash (cheap, and needed before anything is decided about the photo)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return _Prepared(path, facts, _Outcome(ImageStatus.FAILED, error=f"cannot read the file ({exc.strerror})"))
    if size == 0:
        return _Prepared(path, facts, _Outcome(ImageStatus.FAILED, error="the file is empty (0 bytes)"))
    try:
        digest = sha256_file(path)
    except OSError as exc:
        return _Prepared(path, facts, _Outcome(ImageStatus.FAILED, size_bytes=size, error=f"cannot read the file ({exc.strerror})"))
    return _Prepared(path, facts, size=size, sha256=digest)


def _recorded_original(project: Project, digest: str) -> int | None:
    with project.sessions() as session:
        return session.scalar(
            select(Image.id).where(Image.sha256 == digest, Image.status == ImageStatus.DONE).order_by(Image.id).limit(1)
        )


def _analyse(pipeline: Pipeline, prepared: _Prepared) -> Analysis | ImageReadError:
    """The photo's analysis, or why it cannot be read (a value, so a worker thread hands it back like a result)."""
    try:
        return pipeline.analyse(prepared.path, prepared.sha256)
    except ImageReadError as exc:
        return exc


def _settle(project: Project, models: Callable[[], Pipeline], prepared: _Prepared,
            time_priority: Sequence[TimeSource]) -> _Outcome:
    """The photo's outcome, on the calling thread and in the scan's order (so duplicates find their original)."""
    if prepared.outcome is not None:
        return prepared.outcome
    path, facts, size, digest = prepared.path, prepared.facts, prepared.size, prepared.sha256
    captured_at, time_source = resolve_capture_time(None, facts, path, time_priority)
    original = _recorded_original(project, digest) if prepared.maybe_duplicate else None
    if original is not None:
        return _Outcome(ImageStatus.DUPLICATE, size_bytes=size, sha256=digest, duplicate_of_id=original,
                        captured_at=captured_at, time_source=time_source)
    result = prepared.analysis.result() if prepared.analysis is not None else _analyse(models(), prepared)
    if isinstance(result, ImageReadError):
        return _Outcome(ImageStatus.FAILED, size_bytes=size, sha256=digest, error=str(result),
                        captured_at=captured_at, time_source=time_source)
    captured_at, time_source = resolve_capture_time(result.exif_time, facts, path, time_priority)
    return _Outcome(ImageStatus.DONE, size_bytes=size, sha256=digest, width=result.width, height=result.height,
                    captured_at=captured_at, exif_time=result.exif_time, time_source=time_source,
                    detections=result.detections, detector=result.detector)


def _record(project: Project, survey_id: int, relative: str, facts: PathFacts, outcome: _Outcome) -> None:
    with transaction(project.sessions) as session:
        camera = _get_or_create_camera(session, facts)
        image = session.scalar(select(Image).where(Image.survey_id == survey_id, Image.path == relative))
        if image is None:
            image = Image(survey_id=survey_id, path=relative, size_bytes=0, status=outcome.status)
            session.add(image)
        else:  # a retried failure: replace its outcome
            image.detections.clear()
        image.sha256 = outcome.sha256
        image.size_bytes = outcome.size_bytes
        image.width, image.height = outcome.width, outcome.height
        image.camera_id = camera.id if camera else None
        image.captured_at, image.time_source = outcome.captured_at, outcome.time_source
        image.exif_time = outcome.exif_time
        image.status, image.error, image.duplicate_of_id = outcome.status, outcome.error, outcome.duplicate_of_id
        image.detections.extend(_detection_row(d, outcome.detector) for d in outcome.detections)


def _wait_for_lock(lock: ImportLock, options: ImportOptions, should_stop: Callable[[], bool]) -> Generator[ImportProgress, None, bool]:
    """Take the project's import lock, waiting for another import if need be; False when stopped while waiting."""
    if lock.try_acquire():
        return True
    busy = lock.holder().describe()
    if not options.wait:
        raise ImportBusyError(f"{busy}. Wait for it to finish, or run the import without --no-wait.")
    yield ImportProgress(0, 0, "", "waiting", f"{busy}; waiting…")
    while not lock.try_acquire():
        if should_stop():
            return False
        time.sleep(options.lock_poll_seconds)
    return True


def _forget_readable_folders(session: Session, survey_id: int, unreadable: dict[str, str]) -> None:
    """Drop the failures of folders that can be read now: their photos are imported as new ones."""
    for image in session.scalars(select(Image).where(Image.survey_id == survey_id, Image.path.endswith("/"))):
        if image.path not in unreadable:
            session.delete(image)


@dataclass
class _Pending:
    """An entry handed to the workers (or to be revisited), waiting for its turn to be recorded."""

    relative: str
    done: int
    prepared: _Prepared | None = None  # None: recorded in an earlier run


@dataclass
class _Run:
    """One import under the project's lock: what the scan found, what the project holds, the models once loaded,
    the worker threads once started."""

    project: Project
    root: Path
    survey_id: int
    scan: ScanResult
    recorded: dict[str, ImageStatus]
    broken: dict[str, BrokenImage]
    pipeline_factory: Callable[[], Pipeline]
    options: ImportOptions
    user_pattern: re.Pattern[str] | None
    summary: ImportSummary
    remote: RemotePhotoWorkers | None = None
    pipeline: Pipeline | None = None
    pool: ThreadPoolExecutor | None = None
    digests: set[str] = field(default_factory=set)  # content hashes handed out in this run

    def entries(self) -> list[str]:
        return sorted([*self.scan.images, *self.scan.unreadable])

    def models(self) -> Pipeline:
        """The pipeline, loaded the first time something needs processing."""
        if self.pipeline is None:
            self.pipeline = self.pipeline_factory()
        return self.pipeline

    def is_recorded(self, relative: str) -> bool:
        status = self.recorded.get(relative)
        return status is not None and not (self.options.retry_failed and status == ImageStatus.FAILED)

    def revisit(self, relative: str, done: int, total: int) -> ImportProgress:
        """An entry recorded in an earlier run: skipped, unless its cached files went missing."""
        self.summary.already_imported += 1
        broken = self.broken.get(relative)
        if broken is None:
            return ImportProgress(done, total, relative, "skipped")
        try:
            repair_image(self.project, self.models(), self.root / relative, broken)
        except (ImageReadError, OSError, ValueError) as exc:
            reason = f"its cached crops are missing and cannot be rebuilt: {exc}"
            self.summary.unrepaired.append((relative, reason))
            return ImportProgress(done, total, relative, "failed", reason)
        self.summary.repaired += 1
        return ImportProgress(done, total, relative, "repaired", "missing cached crops rebuilt")

    def submit(self, relative: str, done: int) -> _Pending:
        """Read and hash a new entry and hand it to a worker; entries recorded earlier wait for :meth:`finish`."""
        if self.is_recorded(relative):
            return _Pending(relative, done)
        if relative in self.scan.unreadable:
            failed = _Outcome(ImageStatus.FAILED, error=self.scan.unreadable[relative])
            return _Pending(relative, done, _Prepared(self.root / relative, PathFacts(), failed))
        prepared = _prepare(self.root / relative, parse_path(relative, self.user_pattern))
        if prepared.outcome is None:
            prepared.maybe_duplicate = prepared.sha256 in self.digests or _recorded_original(self.project, prepared.sha256) is not None
            self.digests.add(prepared.sha256)
            if not prepared.maybe_duplicate and self.remote is not None:
                prepared.analysis = self.remote.submit(prepared.path, prepared.sha256)
            elif not prepared.maybe_duplicate and worker_count(self.options) > 1:
                prepared.analysis = self.workers().submit(_analyse, self.models(), prepared)
        return _Pending(relative, done, prepared)

    def workers(self) -> ThreadPoolExecutor:
        if self.pool is None:
            self.pool = ThreadPoolExecutor(worker_count(self.options), thread_name_prefix="pelage-import")
        return self.pool

    def close(self) -> None:
        """Drop the photos not started, wait for those being processed (they write only cached files)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        if self.remote is not None:
            self.remote.close()

    def finish(self, pending: _Pending, total: int) -> ImportProgress:
        """Record one entry (one transaction) once its processing is done; the scan's order is kept."""
        relative, done, prepared = pending.relative, pending.done, pending.prepared
        if prepared is None:
            return self.revisit(relative, done, total)
        outcome = _settle(self.project, self.models, prepared, self.options.time_priority)
        _record(self.project, self.survey_id, relative, prepared.facts, outcome)
        summary = self.summary
        if outcome.status == ImageStatus.FAILED:
            summary.failed += 1
            summary.failures.append((relative, outcome.error or "unknown error"))
            return ImportProgress(done, total, relative, "failed", outcome.error)
        if outcome.status == ImageStatus.DUPLICATE:
            summary.duplicates += 1
            return ImportProgress(done, total, relative, "duplicate", "same content as an image already imported")
        summary.imported += 1
        summary.detections += len(outcome.detections)
        return ImportProgress(done, total, relative, "imported", detections=len(outcome.detections))


def _start_run(project: Project, root: Path, pipeline_factory: Callable[[], Pipeline], options: ImportOptions,
               remote: RemotePhotoWorkers | None) -> _Run:
    """Scan the survey and read what the project already holds of it (the lock is held)."""
    user_pattern = compile_user_pattern(options.pattern)
    scan = scan_survey(root, exclude=[project.root])
    with transaction(project.sessions) as session:
        survey = _get_or_create_survey(session, root, options.survey_name)
        survey_id, survey_name = survey.id, survey.name
        _forget_readable_folders(session, survey_id, scan.unreadable)
    with project.sessions() as session:
        rows = session.execute(select(Image.path, Image.status).where(Image.survey_id == survey_id))
        recorded = {path: status for path, status in rows}
    summary = ImportSummary(survey=survey_name, images_found=len(scan.images), other_files=scan.other_files,
                            unreadable_folders=len(scan.unreadable))
    return _Run(project, root, survey_id, scan, recorded, find_broken_images(project, survey_id), pipeline_factory, options,
                user_pattern, summary, remote)


def _drive(run: _Run, should_stop: Callable[[], bool]) -> Generator[ImportProgress, None, None]:
    """Keep the workers busy a few photos ahead while recording in order; stop before the next file when asked."""
    entries = run.entries()
    ahead = run.remote.slots if run.remote is not None else worker_count(run.options) + 1 if worker_count(run.options) > 1 else 0
    window: deque[_Pending] = deque()
    for done, relative in enumerate(entries, start=1):
        if should_stop():
            run.summary.cancelled = True
            return
        window.append(run.submit(relative, done))
        while len(window) > ahead:
            yield run.finish(window.popleft(), len(entries))
    while window:
        if should_stop():
            run.summary.cancelled = True
            return
        yield run.finish(window.popleft(), len(entries))


def run_import(
    project: Project,
    survey_root: Path | str,
    pipeline_factory: Callable[[], Pipeline],
    options: ImportOptions = ImportOptions(),
    should_stop: Callable[[], bool] = lambda: False,
    remote: RemotePhotoWorkers | None = None,
) -> Generator[ImportProgress, None, ImportSummary]:
    """Import ``survey_root`` into ``project``, yielding progress per file; returns the summary.

    ``pipeline_factory`` is called only if there is something new to process or repair, so a re-run of a
    finished import does not load any model. ``should_stop`` is asked before each file (and while waiting
    for another import): when it says yes the import ends there and still returns its summary (marked
    cancelled). While another import into the project runs, this one yields one ``waiting`` event and waits
    (or raises :class:`ImportBusyError` when ``options.wait`` is off). With ``remote``, photos are analysed there
    (a Dask cluster) instead of in this process's threads; ``remote`` is closed when the import ends.
    """
    started = time.perf_counter()
    root = check_survey_root(survey_root)
    compile_user_pattern(options.pattern)  # a bad pattern is refused before waiting for anything
    lock = import_lock(project)
    try:
        if not (yield from _wait_for_lock(lock, options, should_stop)):
            return ImportSummary(survey=options.survey_name or root.name, cancelled=True)
        run = _start_run(project, root, pipeline_factory, options, remote)
        try:
            yield from _drive(run, should_stop)
        except GeneratorExit:
            run.summary.cancelled = True
            raise
        finally:
            run.close()
            run.summary.seconds = time.perf_counter() - started
            if run.pipeline is not None:
                run.summary.stage_seconds = dict(run.pipeline.timer.seconds)
        return run.summary
    finally:
        lock.release()


def import_survey(
    project: Project,
    survey_root: Path | str,
    pipeline_factory: Callable[[], Pipeline],
    options: ImportOptions = ImportOptions(),
    on_progress: Callable[[ImportProgress], None] | None = None,
) -> ImportSummary:
    """Run :func:`run_import` to the end, passing each progress event to ``on_progress``."""
    events = run_import(project, survey_root, pipeline_factory, options)
    while True:
        try:
            event = next(events)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(event)
