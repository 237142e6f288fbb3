"""Station, camera and capture time from an image's path.

Camera-trap software and field teams encode metadata in names: folder layouts such as
``STATION/CAMERA/IMG_0001.JPG`` and file names such as
``02__Station13__Camera1__2012-7-18__6-47-40(4).JPG`` (HotSpotter/Wild-ID style). A project can add
its own regular expression; its named groups ``station``, ``camera`` and ``year`` … ``second`` win
over the defaults, group by group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath

# Tokens separated by "__": optional prefix, station, camera, date, time, optional "(n)" burst index.
TOKEN_PATTERN = re.compile(
    r"(?:^|__)(?P<station>[A-Za-z]*[Ss]tation[^_/]*|ST?\d+[A-Za-z]?)__(?P<camera>[A-Za-z]*[Cc]am(?:era)?[^_/]*|C\d+)"
    r"(?:__(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})__(?P<hour>\d{1,2})-(?P<minute>\d{1,2})-(?P<second>\d{1,2}))?"
)
# A date and time anywhere in the file name: 2012-07-18 06-47-40, 20120718_064740, 2012_07_18-06_47_40.
DATETIME_PATTERN = re.compile(
    r"(?<!\d)(?P<year>(?:19|20)\d{2})[-_.]?(?P<month>[01]\d)[-_.]?(?P<day>[0-3]\d)[ _T-]{1,3}"
    r"(?P<hour>[0-2]\d)[-_.:hH]?(?P<minute>[0-5]\d)[-_.:mM]?(?P<second>[0-5]\d)(?!\d)"
)
# Folders that cameras and card readers create, which name neither a station nor a camera.
DEVICE_FOLDER = re.compile(r"^(DCIM|\d{3}[A-Z_]{5}|\d{3}_?[A-Z]+\d*|[Ii]mages?|[Pp]hotos?)$")

_TIME_GROUPS = ("year", "month", "day", "hour", "minute", "second")


@dataclass(frozen=True)
class PathFacts:
    station: str | None = None
    camera: str | None = None
    time: datetime | None = None


def _time_from(match: re.Match[str]) -> datetime | None:
    groups = match.groupdict()
    if any(groups.get(name) is None for name in _TIME_GROUPS):
        return None
    try:
        return datetime(*(int(groups[name]) for name in _TIME_GROUPS))
    except ValueError:  # 2012-13-45 and the like: not a date after all
        return None


def _facts_from_regex(pattern: re.Pattern[str], text: str) -> PathFacts:
    match = pattern.search(text)
    if match is None:
        return PathFacts()
    groups = match.groupdict()
    return PathFacts(station=groups.get("station"), camera=groups.get("camera"), time=_time_from(match))


def _facts_from_folders(relative_path: PurePosixPath) -> PathFacts:
    folders = [part for part in relative_path.parent.parts if not DEVICE_FOLDER.match(part)]
    if len(folders) >= 2:
        return PathFacts(station=folders[-2], camera=folders[-1])
    if len(folders) == 1:
        return PathFacts(station=folders[0])
    return PathFacts()


def _merge(*layers: PathFacts) -> PathFacts:
    """The first layer that knows a fact wins; station and camera travel together."""
    station = camera = time = None
    for layer in layers:
        if station is None and layer.station:
            station, camera = layer.station, layer.camera
        if time is None and layer.time:
            time = layer.time
    return PathFacts(station=station, camera=camera, time=time)


def parse_path(relative_path: str, user_pattern: re.Pattern[str] | None = None) -> PathFacts:
    """Facts about one image from its path relative to the survey root ("/" separators)."""
    path = PurePosixPath(relative_path)
    layers = []
    if user_pattern is not None:
        layers.append(_facts_from_regex(user_pattern, relative_path))
    layers += [
        _facts_from_regex(TOKEN_PATTERN, path.name),
        _facts_from_regex(DATETIME_PATTERN, path.name),
        _facts_from_folders(path),
    ]
    return _merge(*layers)


def compile_user_pattern(pattern: str | None) -> re.Pattern[str] | None:
    """Validate a user's pattern early, with a message that says what is wrong."""
    if not pattern:
        return None
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"The file-name pattern {pattern!r} is not a valid regular expression: {exc}") from exc
    known = {"station", "camera", *_TIME_GROUPS}
    unknown = set(compiled.groupindex) - known
    if unknown:
        raise ValueError(f"The file-name pattern has unknown group(s) {sorted(unknown)}; use {sorted(known)}.")
    return compiled
