"""What every export starts from: the project's animals with their individuals, flanks, stations and times.

Read once from the store into plain records, so each format is a pure function of this snapshot and the
options. Individuals come from the review decisions (singletons included: an animal nobody matched is an
individual seen once). Flanks decide what an exported *entity* is: with ``linked`` flanks an individual is
one entity whatever side shows; with ``separate`` flanks its left and right sides are two entities (the
usual choice when cameras were single and the two sides cannot be tied together); ``left``/``right`` keep
one side only. Photos of an unknown flank cannot be given a side, so the flank-split modes leave them out.
"""

from __future__ import annotations

import enum
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pelage.export.stations import StationInfo, load_stations
from pelage.review.individuals import individual_of
from pelage.store.schema import Camera, Decision, Detection, Image, ImageStatus, IndividualName, Station, Survey

SETTINGS_FILE = "export-settings.json"
SAMPLING_DESIGNS = ("simpleRandom", "systematicRandom", "clusteredRandom", "experimental", "targeted", "opportunistic")


class ExportError(ValueError):
    """An export that cannot be written as asked; the message says what to fix."""


class FlankMode(str, enum.Enum):
    LINKED = "linked"  # both flanks of an individual are one animal
    SEPARATE = "separate"  # each flank is its own entity
    LEFT = "left"  # left flanks only
    RIGHT = "right"  # right flanks only


@dataclass(frozen=True)
class ExportOptions:
    species: str = "unknown"
    flanks: FlankMode = FlankMode.LINKED
    occasion_days: int = 1
    start: date | None = None  # first day of occasion 1; default: the earliest setup date
    independence_minutes: float = 30.0
    session_per_survey: bool = False  # secr sessions: one per survey instead of one for the project
    utc_offset: str | None = None  # the cameras' clock offset, e.g. "+03:00" (Camtrap DP needs it)
    contributor: str = "unknown"
    sampling_design: str = "targeted"
    max_span_years: int = 5  # a longer span between the first and last occasion day is refused as mistyped dates

    def __post_init__(self) -> None:
        object.__setattr__(self, "flanks", FlankMode(self.flanks))
        if self.occasion_days < 1:
            raise ExportError(f"an occasion lasts at least one day, not {self.occasion_days}")
        if self.max_span_years < 1:
            raise ExportError(f"--max-span-years must be at least 1, not {self.max_span_years}")
        if self.independence_minutes < 0:
            raise ExportError(f"the independence interval cannot be negative ({self.independence_minutes} min)")
        if self.utc_offset is not None:
            object.__setattr__(self, "utc_offset", parse_utc_offset(self.utc_offset))
        if self.sampling_design not in SAMPLING_DESIGNS:
            raise ExportError(f"sampling design {self.sampling_design!r} is not one of {', '.join(SAMPLING_DESIGNS)}")

    def as_json(self) -> dict:
        return {"species": self.species, "flanks": self.flanks.value, "occasion_days": self.occasion_days,
                "start": self.start.isoformat() if self.start else None, "independence_minutes": self.independence_minutes,
                "session_per_survey": self.session_per_survey, "utc_offset": self.utc_offset}


def parse_utc_offset(text: str) -> str:
    """``+3``, ``+03``, ``+0300``, ``-05:30``, ``Z`` → ``+03:00`` style (``Z`` stays ``Z``)."""
    text = text.strip()
    if text.upper() in ("Z", "UTC", "+00:00", "0"):
        return "Z"
    match = re.fullmatch(r"([+-])(\d{1,2}):?(\d{2})?", text)
    if not match or int(match.group(2)) > 14 or int(match.group(3) or 0) >= 60:
        raise ExportError(f"{text!r} is not a UTC offset; write it like +03:00 or -05:30")
    return f"{match.group(1)}{int(match.group(2)):02d}:{match.group(3) or '00'}"


@dataclass(frozen=True)
class Setting:
    """One key of ``export-settings.json``: what its value must be (said when it is not) and how it is read."""

    expected: str
    read: Callable[[object], object]  # the option's value; raises ValueError or TypeError for a value of the wrong kind


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _one_of(choices: tuple[str, ...]) -> Callable[[object], str]:
    def read(value: object) -> str:
        if value not in choices:
            raise ValueError(value)
        return value
    return read


def _at_least(minimum: int, *, whole: bool) -> Callable[[object], float]:
    def read(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) or not minimum <= value < float("inf"):
            raise ValueError(value)
        return value
    return read


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(value)
    return value


SETTINGS: dict[str, Setting] = {
    "species": Setting('a text such as "Panthera pardus"', _text),
    "contributor": Setting('a text such as "Field Team"', _text),
    "flanks": Setting(f"one of {', '.join(repr(m.value) for m in FlankMode)}", _one_of(tuple(m.value for m in FlankMode))),
    "occasion_days": Setting("a whole number of days, 1 or more (e.g. 2)", _at_least(1, whole=True)),
    "start": Setting('a date written as "YYYY-MM-DD"', lambda value: date.fromisoformat(_text(value))),
    "independence_minutes": Setting("a number of minutes, 0 or more (e.g. 30)", _at_least(0, whole=False)),
    "session_per_survey": Setting("true or false", _boolean),
    "utc_offset": Setting('an offset such as "+03:00"', lambda value: parse_utc_offset(_text(value))),
    "sampling_design": Setting(f"one of {', '.join(repr(d) for d in SAMPLING_DESIGNS)}", _one_of(SAMPLING_DESIGNS)),
    "max_span_years": Setting("a whole number of years, 1 or more (e.g. 10)", _at_least(1, whole=True)),
}
_JSON_KINDS = {list: "a list", str: "a text", int: "a number", float: "a number", bool: "true or false", type(None): "null"}


def load_export_settings(project_root: Path) -> dict:
    """Project-level export defaults (species, UTC offset, contributor…) from ``export-settings.json``, read
    into option values; a value of the wrong kind is refused with the file, the key and what it must be.
    Unknown keys are left alone and ``null`` means "not set"."""
    path = Path(project_root) / SETTINGS_FILE
    if not path.is_file():
        return {}
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ExportError(f"{path} is not valid JSON ({exc}); fix or delete it") from None
    except UnicodeDecodeError:
        raise ExportError(f"{path} is not UTF-8 text; save it as UTF-8 JSON or delete it") from None
    if not isinstance(settings, dict):
        raise ExportError(f'{path} must hold one JSON object such as {{"species": "Panthera pardus"}}, not '
                          f"{_JSON_KINDS.get(type(settings), 'that')}; fix or delete it")
    values = {}
    for key, setting in SETTINGS.items():
        if settings.get(key) is None:
            continue
        try:
            values[key] = setting.read(settings[key])
        except (TypeError, ValueError):
            shown = json.dumps(settings[key], ensure_ascii=False)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise ExportError(f'{path}: "{key}" must be {setting.expected}, not {shown}; fix that value or delete the key') from None
    return values


def save_export_settings(project_root: Path, settings: dict) -> None:
    path = Path(project_root) / SETTINGS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


@dataclass(frozen=True)
class AnimalPhoto:
    """One detected animal in one image, with everything an export row may need."""

    animal_id: int
    individual_id: int
    individual: str  # the individual's name
    flank: str | None  # "left", "right" or None (not known)
    survey: str
    survey_root: str
    image_id: int
    image: str  # relative to the survey root, "/" separators
    station: str | None
    camera: str | None
    time: datetime | None  # camera-local
    box: tuple[float, float, float, float]
    width: int | None
    height: int | None
    entity: str | None = None  # the exported identity under the flank mode; None = left out (unknown flank)
    entity_key: tuple = ()  # sorts entities naturally (by individual id, then flank)


@dataclass(frozen=True)
class MediaFile:
    image_id: int
    survey: str
    survey_root: str
    image: str
    station: str | None
    camera: str | None
    time: datetime | None


@dataclass(frozen=True)
class ProjectData:
    name: str
    stations: tuple[StationInfo, ...]
    photos: tuple[AnimalPhoto, ...]  # by animal id
    media: tuple[MediaFile, ...]  # every imported image, by id
    surveys: tuple[str, ...]
    updated: datetime | None  # newest import, decision or name: the data's own timestamp
    flank_mode: FlankMode = FlankMode.LINKED
    left_out: dict[str, tuple[int, ...]] = field(default_factory=dict)  # reason -> animal ids
    unusable: dict[str, tuple[int, ...]] = field(default_factory=dict)  # "not usable: REASON" -> animal ids the reviewer set aside
    photos_left_out: dict[str, tuple[str, ...]] = field(default_factory=dict)  # reason -> SURVEY/PATH of photos with no animal to export

    def station(self, name: str) -> StationInfo:
        return next(s for s in self.stations if s.name == name)


def safe_id(text: str) -> str:
    """An identifier R's whitespace-separated readers and MARK comments cannot trip over: letters, digits,
    '.' and '-' only (spaces, underscores and the rest become '-')."""
    cleaned = re.sub(r"[^A-Za-z0-9.\-]+", "-", text.strip()).strip("-")
    return cleaned or "X"


def _entity_labels(names: dict[int, str]) -> dict[int, str]:
    """A unique, safe label per individual: its name, or name-ID where two individuals share a name."""
    safe = {individual: safe_id(name) for individual, name in names.items()}
    counts = Counter(safe.values())
    return {individual: label if counts[label] == 1 else f"{label}-{individual}" for individual, label in safe.items()}


_FLANK_ORDER = {"left": 0, "right": 1, None: 2}


def assign_entities(photos: list[AnimalPhoto], mode: FlankMode) -> tuple[list[AnimalPhoto], dict[str, tuple[int, ...]]]:
    """Label each photo with its exported entity under ``mode``; returns the photos and what was left out."""
    labels = _entity_labels({p.individual_id: p.individual for p in photos})
    out, unknown, other_side = [], [], []
    for photo in photos:
        label = labels[photo.individual_id]
        if mode == FlankMode.LINKED:
            entity, key = label, (photo.individual_id,)
        elif photo.flank is None:
            entity, key = None, ()
            unknown.append(photo.animal_id)
        elif mode in (FlankMode.LEFT, FlankMode.RIGHT) and photo.flank != mode.value:
            entity, key = None, ()
            other_side.append(photo.animal_id)
        else:
            entity = f"{label}-{photo.flank}" if mode == FlankMode.SEPARATE else label
            key = (photo.individual_id, _FLANK_ORDER[photo.flank])
        out.append(replace(photo, entity=entity, entity_key=key))
    left_out = {}
    if unknown:
        left_out["flank not known"] = tuple(unknown)
    if other_side:
        left_out["the other flank"] = tuple(other_side)
    return out, left_out


def _newest(session: Session) -> datetime | None:
    stamps = [session.scalar(select(func.max(column))) for column in (Image.imported_at, Decision.created_at, IndividualName.created_at)]
    stamps = [s for s in stamps if s is not None]
    return max(stamps) if stamps else None


def load_project_data(session: Session, name: str, flank_mode: FlankMode | str = FlankMode.LINKED) -> ProjectData:
    """Snapshot the project for export (one read transaction)."""
    flank_mode = FlankMode(flank_mode)
    individuals = individual_of(session)
    rows = session.execute(
        select(Detection, Image.path, Image.width, Image.height, Image.captured_at, Survey.name, Survey.root, Station.name, Camera.name)
        .join(Image, Detection.image_id == Image.id)
        .join(Survey, Image.survey_id == Survey.id)
        .outerjoin(Camera, Image.camera_id == Camera.id)
        .outerjoin(Station, Camera.station_id == Station.id)
        .where(Detection.label == "animal", Image.status == ImageStatus.DONE, Detection.unusable_reason.is_(None))
        .order_by(Detection.id)
    ).all()
    photos = []
    for detection, path, width, height, captured_at, survey, root, station, camera in rows:
        individual = individuals[detection.id]
        photos.append(AnimalPhoto(
            animal_id=detection.id, individual_id=individual.id, individual=individual.name,
            flank=detection.flank.value if detection.flank else None, survey=survey, survey_root=root, image_id=detection.image_id,
            image=path, station=station, camera=camera or None, time=captured_at, box=detection.box, width=width, height=height,
        ))
    photos, left_out = assign_entities(photos, flank_mode)
    media = tuple(
        MediaFile(image_id, survey, root, path, station, camera or None, captured_at)
        for image_id, path, captured_at, survey, root, station, camera in session.execute(
            select(Image.id, Image.path, Image.captured_at, Survey.name, Survey.root, Station.name, Camera.name)
            .join(Survey, Image.survey_id == Survey.id)
            .outerjoin(Camera, Image.camera_id == Camera.id)
            .outerjoin(Station, Camera.station_id == Station.id)
            .where(Image.status == ImageStatus.DONE)
            .order_by(Image.id))
    )
    surveys = tuple(sorted(session.scalars(select(Survey.name))))
    return ProjectData(name=name, stations=tuple(load_stations(session)), photos=tuple(photos), media=media, surveys=surveys,
                       updated=_newest(session), flank_mode=flank_mode, left_out=left_out, unusable=_unusable(session),
                       photos_left_out=_photos_left_out(session))


UNUSABLE = "not usable: "  # the left-out reason of a detection the reviewer set aside, before the reason they gave


def _unusable(session: Session) -> dict[str, tuple[int, ...]]:
    """Animals set aside by the reviewer, by ``not usable: REASON``."""
    grouped: dict[str, list[int]] = {}
    for animal_id, reason in session.execute(select(Detection.id, Detection.unusable_reason).join(Image)
                                             .where(Detection.label == "animal", Detection.unusable_reason.is_not(None),
                                                    Image.status == ImageStatus.DONE).order_by(Detection.id)):
        grouped.setdefault(UNUSABLE + reason, []).append(animal_id)
    return {reason: tuple(ids) for reason, ids in sorted(grouped.items())}


def _photos_left_out(session: Session) -> dict[str, tuple[str, ...]]:
    """Every imported photo that gives no animal to export, by why: so each photo of the survey is accounted for."""
    labels: dict[int, set[str]] = {}
    for image_id, label, reason in session.execute(select(Detection.image_id, Detection.label, Detection.unusable_reason)):
        labels.setdefault(image_id, set()).add("set aside" if label == "animal" and reason else label)
    grouped: dict[str, list[str]] = {}
    for image_id, status, error, survey, path in session.execute(
            select(Image.id, Image.status, Image.error, Survey.name, Image.path).join(Survey).order_by(Image.id)):
        found = labels.get(image_id, set())
        if status == ImageStatus.FAILED:
            reason = f"could not be read: {error or 'unknown error'}"
        elif status == ImageStatus.DUPLICATE:
            reason = "a copy of another imported photo"
        elif "animal" in found:
            continue  # it has a row (or its animals are listed in left_out)
        elif "set aside" in found:
            reason = "every animal in it is not usable"
        elif found:
            reason = "no animal in the photo (only people or vehicles)"
        else:
            reason = "no animal in the photo"
        grouped.setdefault(reason, []).append(f"{survey}/{path}")
    return {reason: tuple(names) for reason, names in sorted(grouped.items())}
