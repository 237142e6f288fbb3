"""The project store's tables.

A project holds one or more surveys (seasons); each survey is a folder tree of images whose paths are
kept relative to the survey root, so a project folder can be copied to another machine. Stations are
shared by the surveys of a project (a station keeps its name across seasons); cameras belong to a
station. Review decisions are append-only: an undo appends a retraction instead of deleting a row.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so migrations can refer to them on every back-end.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ImageStatus(str, enum.Enum):
    DONE = "done"
    FAILED = "failed"
    DUPLICATE = "duplicate"


class TimeSource(str, enum.Enum):
    EXIF = "exif"
    FILENAME = "filename"
    FILE_TIME = "file_time"


class MaskSource(str, enum.Enum):
    REMBG = "rembg"  # U²-Net-p run again on the crop (after MegaDetector boxes, or when the detector kept no map)
    SALIENCY = "saliency"  # the offline detector's own U²-Net-p map of the crop; a value only, no migration (no CHECK)
    BOX = "box"  # segmentation failed or was skipped: the plain box crop stands in


class Flank(str, enum.Enum):
    LEFT = "left"
    RIGHT = "right"


class FlankSource(str, enum.Enum):
    USER = "user"  # a reviewer said so (also "not known"): never overwritten by a prediction
    PREDICTED = "predicted"  # the flank predictor's guess at identify time (flank None: it was not sure)


class DecisionKind(str, enum.Enum):
    MATCH = "match"
    NONMATCH = "nonmatch"
    NOT_COMPARABLE = "notcomparable"
    RETRACT = "retract"


def _enum(kind: type[enum.Enum], name: str) -> Enum:
    # Store the values as plain strings with a CHECK constraint: portable and readable in SQL.
    return Enum(kind, name=name, native_enum=False, values_callable=lambda e: [m.value for m in e], length=16)


class Survey(Base):
    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    root: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    images: Mapped[list[Image]] = relationship(back_populates="survey")


class Station(Base):
    """A camera-trap location. Coordinates and operation dates come from a station table the user imports."""

    __tablename__ = "stations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    x: Mapped[float | None] = mapped_column(Float)  # projected metres (e.g. UTM easting)
    y: Mapped[float | None] = mapped_column(Float)  # projected metres (e.g. UTM northing)
    crs: Mapped[str | None] = mapped_column(String(100))  # e.g. "EPSG:32643"
    lat: Mapped[float | None] = mapped_column(Float)  # WGS84, for Camtrap DP
    lon: Mapped[float | None] = mapped_column(Float)
    setup_date: Mapped[date | None] = mapped_column(Date)
    retrieval_date: Mapped[date | None] = mapped_column(Date)

    cameras: Mapped[list[Camera]] = relationship(back_populates="station")
    outages: Mapped[list[StationOutage]] = relationship(back_populates="station", order_by="StationOutage.start_date",
                                                        cascade="all, delete-orphan")


class StationOutage(Base):
    """Days (inclusive) on which a station's camera did not work: camtrapR's ProblemN_from/ProblemN_to."""

    __tablename__ = "station_outages"

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id", ondelete="CASCADE"), index=True)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)

    station: Mapped[Station] = relationship(back_populates="outages")


class Camera(Base):
    __tablename__ = "cameras"
    __table_args__ = (UniqueConstraint("station_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("stations.id"))
    name: Mapped[str] = mapped_column(String(200))

    station: Mapped[Station] = relationship(back_populates="cameras")


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (UniqueConstraint("survey_id", "path"), Index(None, "sha256"))

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"))
    path: Mapped[str] = mapped_column(Text)  # relative to the survey root, "/" separators
    sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)  # after EXIF orientation
    height: Mapped[int | None] = mapped_column(Integer)
    camera_id: Mapped[int | None] = mapped_column(ForeignKey("cameras.id"))
    captured_at: Mapped[datetime | None] = mapped_column()  # camera's local clock, naive
    exif_time: Mapped[datetime | None] = mapped_column()  # the camera's own clock, kept to show offsets
    time_source: Mapped[TimeSource | None] = mapped_column(_enum(TimeSource, "time_source"))
    status: Mapped[ImageStatus] = mapped_column(_enum(ImageStatus, "image_status"))
    error: Mapped[str | None] = mapped_column(Text)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("images.id"))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)

    survey: Mapped[Survey] = relationship(back_populates="images")
    camera: Mapped[Camera | None] = relationship()
    detections: Mapped[list[Detection]] = relationship(back_populates="image", order_by="Detection.id")


class Detection(Base):
    """One animal (or person/vehicle) in one image, with its cached crop, mask and edge files."""

    __tablename__ = "detections"

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    x0: Mapped[float] = mapped_column(Float)  # pixels in the oriented image
    y0: Mapped[float] = mapped_column(Float)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(32))
    detector: Mapped[str] = mapped_column(String(100))  # which model drew it, or "user"
    crop_path: Mapped[str | None] = mapped_column(Text)  # relative to the project's artefact folder
    mask_path: Mapped[str | None] = mapped_column(Text)
    edge_path: Mapped[str | None] = mapped_column(Text)
    mask_source: Mapped[MaskSource | None] = mapped_column(_enum(MaskSource, "mask_source"))
    mask_error: Mapped[str | None] = mapped_column(Text)
    flank: Mapped[Flank | None] = mapped_column(_enum(Flank, "flank"))  # which side of the animal shows; None = not known
    flank_source: Mapped[FlankSource | None] = mapped_column(_enum(FlankSource, "flank_source"))  # None: not looked at yet
    flank_confidence: Mapped[float | None] = mapped_column(Float)  # a prediction's P(the more likely side), 0.5–1
    # Set aside by the reviewer (a rock, the wrong animal, only a tail): out of review, listed as left out by every export.
    unusable_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    image: Mapped[Image] = relationship(back_populates="detections")

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x1, self.y1)


class Embedding(Base):
    __tablename__ = "embeddings"
    __table_args__ = (UniqueConstraint("detection_id", "model_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    detection_id: Mapped[int] = mapped_column(ForeignKey("detections.id", ondelete="CASCADE"))
    model_id: Mapped[str] = mapped_column(String(100), index=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Decision(Base):
    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    a_id: Mapped[int] = mapped_column(ForeignKey("detections.id"), index=True)
    b_id: Mapped[int] = mapped_column(ForeignKey("detections.id"), index=True)
    kind: Mapped[DecisionKind] = mapped_column(_enum(DecisionKind, "decision_kind"))
    retracts_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"))
    author: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IndividualName(Base):
    """A name given to an individual. Individuals are the connected components of confirmed matches, so a
    name is attached to one member; the newest name among a component's members is the individual's name.
    Append-only, like decisions: renaming adds a row."""

    __tablename__ = "individual_names"

    id: Mapped[int] = mapped_column(primary_key=True)
    detection_id: Mapped[int] = mapped_column(ForeignKey("detections.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RegisteredModel(Base):
    """An identification model the project can use: the bundled one or a fine-tune, with its provenance.

    ``path`` is relative to the project folder for fine-tunes, or the bundled model's name. JSON columns are
    text so that SQLite and PostgreSQL store them the same way."""

    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # the model id embeddings are keyed by
    name: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[str | None] = mapped_column(String(100))
    recipe: Mapped[str | None] = mapped_column(Text)  # JSON
    data: Mapped[str | None] = mapped_column(Text)  # JSON: what it was trained on
    metrics: Mapped[str | None] = mapped_column(Text)  # JSON: held-out figures before/after
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
