"""Project store: tables, sessions, migrations, and the project folder."""

from pelage.store.database import SchemaError, transaction
from pelage.store.project import Project, ProjectError, open_project
from pelage.store.schema import (
    Camera,
    Decision,
    DecisionKind,
    Detection,
    Embedding,
    Image,
    ImageStatus,
    MaskSource,
    Station,
    Survey,
    TimeSource,
)

__all__ = [
    "Camera", "Decision", "DecisionKind", "Detection", "Embedding", "Image", "ImageStatus",
    "MaskSource", "Project", "ProjectError", "SchemaError", "Station", "Survey", "TimeSource",
    "open_project", "transaction",
]
