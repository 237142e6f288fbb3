"""Read-only views of a project that the CLI, the GUI and exports share."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pelage.store.schema import Camera, Detection, Embedding, Flank, Image, ImageStatus, MaskSource, Station, Survey


@dataclass(frozen=True)
class AnimalRecord:
    """One detected animal: the unit that review and export refer to by ``id``."""

    id: int
    image: str  # path relative to the survey root
    survey: str
    station: str | None
    camera: str | None
    time: datetime | None
    box: tuple[float, float, float, float]
    score: float
    label: str
    detector: str
    flank: str | None = None  # "left", "right", or None (not known)
    flank_source: str | None = None  # "user" (a reviewer's word) or "predicted"; None: not looked at yet
    flank_confidence: float | None = None  # a prediction's P(the more likely side)

    def as_json(self) -> dict:
        record = asdict(self)
        record["time"] = self.time.isoformat() if self.time else None
        record["box"] = [round(v, 1) for v in self.box]
        record["score"] = round(self.score, 4)
        return record


def project_counts(session: Session) -> dict[str, int]:
    def count(statement) -> int:
        return int(session.scalar(statement) or 0)

    return {
        "surveys": count(select(func.count(Survey.id))),
        "images": count(select(func.count(Image.id)).where(Image.status == ImageStatus.DONE)),
        "stations": count(select(func.count(Station.id))),
        "cameras": count(select(func.count(Camera.id))),
        "detections": count(select(func.count(Detection.id))),
        "animals": count(select(func.count(Detection.id)).where(Detection.label == "animal")),
        "failures": count(select(func.count(Image.id)).where(Image.status == ImageStatus.FAILED)),
        "duplicates": count(select(func.count(Image.id)).where(Image.status == ImageStatus.DUPLICATE)),
        "images_without_detection": count(
            select(func.count(Image.id)).where(Image.status == ImageStatus.DONE, ~Image.detections.any())
        ),
        "box_only_masks": count(select(func.count(Detection.id)).where(Detection.mask_source == MaskSource.BOX)),
    }


def list_failures(session: Session) -> list[tuple[str, str]]:
    rows = session.execute(
        select(Survey.name, Image.path, Image.error).join(Survey).where(Image.status == ImageStatus.FAILED).order_by(Image.id)
    )
    return [(f"{survey}/{path}", error or "") for survey, path, error in rows]


@dataclass(frozen=True)
class PhotoRecord:
    """One imported photo, for the lists of photos to look at again (no animal found, set aside)."""

    id: int
    survey: str
    image: str  # path relative to the survey root
    survey_root: str
    station: str | None
    camera: str | None
    time: datetime | None
    width: int | None
    height: int | None

    @property
    def name(self) -> str:
        return f"{self.survey}/{self.image}"


@dataclass(frozen=True)
class UnusableRecord:
    """A detection the reviewer set aside, with the reason given."""

    id: int
    reason: str
    photo: PhotoRecord
    box: tuple[float, float, float, float]


def _photo_columns():
    return (select(Image.id, Survey.name, Image.path, Survey.root, Station.name, Camera.name, Image.captured_at, Image.width, Image.height)
            .join(Survey, Image.survey_id == Survey.id)
            .outerjoin(Camera, Image.camera_id == Camera.id)
            .outerjoin(Station, Camera.station_id == Station.id))


def _photo(row) -> PhotoRecord:
    image_id, survey, path, root, station, camera, time, width, height = row
    return PhotoRecord(image_id, survey, path, root, station, camera or None, time, width, height)


def photo_record(session: Session, image_id: int) -> PhotoRecord | None:
    row = session.execute(_photo_columns().where(Image.id == image_id)).first()
    return _photo(row) if row is not None else None


def list_photos_without_animal(session: Session) -> list[PhotoRecord]:
    """Imported photos in which no animal was found (or every animal found was set aside as not usable):
    the ones to look at for an animal the detector missed."""
    usable_animal = (Detection.label == "animal") & Detection.unusable_reason.is_(None)
    statement = _photo_columns().where(Image.status == ImageStatus.DONE, ~Image.detections.any(usable_animal)).order_by(Image.id)
    return [_photo(row) for row in session.execute(statement)]


def list_unusable(session: Session) -> list[UnusableRecord]:
    """Detections set aside as not usable, oldest id first."""
    statement = (_photo_columns().join(Detection, Detection.image_id == Image.id)
                 .add_columns(Detection.id, Detection.unusable_reason, Detection.x0, Detection.y0, Detection.x1, Detection.y1)
                 .where(Detection.unusable_reason.is_not(None)).order_by(Detection.id))
    return [UnusableRecord(detection_id, reason, _photo(row[:9]), (x0, y0, x1, y1))
            for row in session.execute(statement) for detection_id, reason, x0, y0, x1, y1 in [row[9:]]]


def _value(member) -> str | None:
    return member.value if member is not None else None


def list_animals(session: Session, label: str | None = "animal", usable_only: bool = False) -> list[AnimalRecord]:
    """Every detection (of ``label``) with where and when its photo was taken, by id. Columns, not ORM objects: a review
    session opens with this list, and at 100,000 animals building entities cost seconds."""
    statement = (
        select(Detection.id, Detection.x0, Detection.y0, Detection.x1, Detection.y1, Detection.score, Detection.label, Detection.detector,
               Detection.flank, Detection.flank_source, Detection.flank_confidence, Image.path, Survey.name, Station.name, Camera.name,
               Image.captured_at)
        .join(Image, Detection.image_id == Image.id)
        .join(Survey, Image.survey_id == Survey.id)
        .outerjoin(Camera, Image.camera_id == Camera.id)
        .outerjoin(Station, Camera.station_id == Station.id)
        .order_by(Detection.id)
    )
    if label is not None:
        statement = statement.where(Detection.label == label)
    if usable_only:
        statement = statement.where(Detection.unusable_reason.is_(None))
    return [
        AnimalRecord(
            id=detection_id, image=path, survey=survey, station=station, camera=camera or None, time=captured_at,
            box=(x0, y0, x1, y1), score=score, label=kind, detector=detector,
            flank=_value(flank), flank_source=_value(flank_source), flank_confidence=flank_confidence,
        )
        for (detection_id, x0, y0, x1, y1, score, kind, detector, flank, flank_source, flank_confidence, path, survey, station, camera,
             captured_at) in session.execute(statement)
    ]


@dataclass(frozen=True)
class AnimalFilesRecord:
    """Where one animal's pictures are: its cached crop, mask and edge (relative to the project's artefacts
    folder) and its survey photo, with the box drawn on that photo. The window loads its images from these."""

    id: int
    crop: str | None
    mask: str | None
    edge: str | None
    survey_root: str
    image: str  # path relative to the survey root
    box: tuple[float, float, float, float]  # in the upright original
    flank: Flank | None


def animal_files(session: Session, ids: list[int]) -> dict[int, AnimalFilesRecord]:
    """The files of the animals ``ids`` (ids not in the store are absent from the answer)."""
    statement = (select(Detection, Image.path, Survey.root).join(Image, Detection.image_id == Image.id)
                 .join(Survey, Image.survey_id == Survey.id).where(Detection.id.in_(ids)))
    return {
        detection.id: AnimalFilesRecord(detection.id, detection.crop_path, detection.mask_path, detection.edge_path, root, path,
                                        detection.box, detection.flank)
        for detection, path, root in session.execute(statement)
    }


def count_unembedded(session: Session, model_id: str | None) -> int:
    """Animals with a crop that the model ``model_id`` has not embedded yet (every such animal when None:
    no model to embed with means none is embedded)."""
    animals = select(Detection.id).where(Detection.label == "animal", Detection.crop_path.is_not(None))
    if model_id is not None:
        animals = animals.where(Detection.id.not_in(select(Embedding.detection_id).where(Embedding.model_id == model_id)))
    return int(session.scalar(select(func.count()).select_from(animals.subquery())) or 0)


def photos_per_station(session: Session) -> dict[str, int]:
    """How many imported photos each station took (stations without photos are absent): the stations map's dot sizes."""
    statement = (select(Station.name, func.count(Image.id)).join(Camera, Camera.station_id == Station.id)
                 .join(Image, Image.camera_id == Camera.id).where(Image.status == ImageStatus.DONE).group_by(Station.name))
    return {name: int(count) for name, count in session.execute(statement)}
