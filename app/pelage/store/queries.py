"""Read-only views of a project that the CLI, the GUI and exports share."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pelage.store.schema import Camera, Detection, Image, ImageStatus, MaskSource, Station, Survey


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


def list_animals(session: Session, label: str | None = "animal") -> list[AnimalRecord]:
    statement = (
        select(Detection, Image.path, Survey.name, Station.name, Camera.name, Image.captured_at)
        .join(Image, Detection.image_id == Image.id)
        .join(Survey, Image.survey_id == Survey.id)
        .outerjoin(Camera, Image.camera_id == Camera.id)
        .outerjoin(Station, Camera.station_id == Station.id)
        .order_by(Detection.id)
    )
    if label is not None:
        statement = statement.where(Detection.label == label)
    return [
        AnimalRecord(
            id=detection.id, image=path, survey=survey, station=station, camera=camera or None, time=captured_at,
            box=detection.box, score=detection.score, label=detection.label, detector=detection.detector,
        )
        for detection, path, survey, station, camera, captured_at in session.execute(statement)
    ]
