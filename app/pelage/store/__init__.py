"""Project store: tables, sessions, migrations, and the project folder."""

from pelage.store.database import SchemaError, transaction
from pelage.store.project import Project, ProjectError, open_project
from pelage.store.schema import (
    Camera,
    Decision,
    DecisionKind,
    Detection,
    Embedding,
    Flank,
    Image,
    ImageStatus,
    IndividualName,
    MaskSource,
    RegisteredModel,
    Station,
    StationOutage,
    Survey,
    TimeSource,
)

__all__ = [
    "Camera", "Decision", "DecisionKind", "Detection", "Embedding", "Flank", "Image", "ImageStatus", "IndividualName",
    "MaskSource", "Project", "ProjectError", "RegisteredModel", "SchemaError", "Station", "StationOutage", "Survey", "TimeSource",
    "open_project", "transaction",
]
