"""What an import will read, before it runs: photos, stations, cameras and capture times.

A user who points the import at the wrong folder, or whose names the parser cannot read, should learn it
in a second, not after an hour of detection. The preview walks the folder like the importer
(:func:`~pelage.ingest.importer.scan_survey`), reads station, camera and time with the same parser
(:func:`~pelage.ingest.naming.parse_path`, :func:`~pelage.ingest.importer.resolve_capture_time`) and reads
EXIF headers only where the name gives no time: no pixel is decoded, so thousands of files take seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pelage.ingest.decode import _pillow_open, read_exif_time
from pelage.ingest.importer import DEFAULT_TIME_PRIORITY, check_survey_root, resolve_capture_time, scan_survey
from pelage.ingest.naming import compile_user_pattern, parse_path
from pelage.store.schema import TimeSource

SAMPLE = 5  # first capture times shown


@dataclass(frozen=True)
class PreviewPhoto:
    path: str  # relative to the survey folder, "/" separators
    station: str | None
    camera: str | None
    time: datetime | None
    source: TimeSource | None  # where the time came from: file name, EXIF, or the file's own date


@dataclass(frozen=True)
class ImportPreview:
    photos: int
    stations: tuple[str, ...]
    cameras: tuple[tuple[str, str], ...]  # (station, camera); camera "" when the path names only a station
    first: tuple[PreviewPhoto, ...]  # the first few photos in import order
    file_time_only: tuple[str, ...]  # no time in the name or EXIF: the file's modification date will be used
    without_station: tuple[str, ...]
    other_files: int  # neither photos nor the usual companions (xml, csv…): not imported
    unreadable_folders: tuple[str, ...]
    cancelled: bool = False


def _exif_time(path: Path) -> datetime | None:
    """DateTimeOriginal from the file's header only (Pillow opens lazily; pixels are never decoded)."""
    try:
        with _pillow_open(path) as image:
            return read_exif_time(image)
    except Exception:  # an unreadable file is the import's to report, with its reason
        return None


def _needs_exif(name_time: datetime | None, priority: Sequence[TimeSource]) -> bool:
    """Whether EXIF could decide the time: it comes before the name in ``priority``, or the name has none."""
    if TimeSource.EXIF not in priority:
        return False
    if name_time is None or TimeSource.FILENAME not in priority:
        return True
    return priority.index(TimeSource.EXIF) < priority.index(TimeSource.FILENAME)


def preview_survey(
    survey_root: Path | str,
    pattern: str | None = None,
    priority: Sequence[TimeSource] = DEFAULT_TIME_PRIORITY,
    exclude: Sequence[Path] = (),
    sample: int = SAMPLE,
    should_stop: Callable[[], bool] = lambda: False,
) -> ImportPreview:
    """What importing ``survey_root`` with ``pattern`` would read; ValueError or SurveyImportError in plain words.

    ``should_stop`` ends the walk early (a new folder was typed); the partial preview says ``cancelled``.
    """
    root = check_survey_root(survey_root)
    user_pattern = compile_user_pattern(pattern)
    scan = scan_survey(root, exclude=exclude)
    stations: set[str] = set()
    cameras: set[tuple[str, str]] = set()
    first: list[PreviewPhoto] = []
    file_time_only: list[str] = []
    without_station: list[str] = []
    cancelled = False
    for relative in scan.images:
        if should_stop():
            cancelled = True
            break
        facts = parse_path(relative, user_pattern)
        path = root / relative
        exif = _exif_time(path) if _needs_exif(facts.time, priority) else None
        time, source = resolve_capture_time(exif, facts, path, priority)
        if source in (TimeSource.FILE_TIME, None):
            file_time_only.append(relative)
        if facts.station:
            stations.add(facts.station)
            cameras.add((facts.station, facts.camera or ""))
        else:
            without_station.append(relative)
        if len(first) < sample:
            first.append(PreviewPhoto(relative, facts.station, facts.camera, time, source))
    return ImportPreview(
        photos=len(scan.images), stations=tuple(sorted(stations)), cameras=tuple(sorted(cameras)), first=tuple(first),
        file_time_only=tuple(file_time_only), without_station=tuple(without_station), other_files=len(scan.other_files),
        unreadable_folders=tuple(sorted(scan.unreadable)), cancelled=cancelled,
    )
