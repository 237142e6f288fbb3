"""Boxes a user draws around an animal the detector missed, stored like any other detection."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from pelage.ingest.detect import ANIMAL, Box
from pelage.ingest.pipeline import Pipeline
from pelage.store import Detection, Image, ImageStatus, Project, transaction

USER_DETECTOR = "user"


def add_user_box(project: Project, pipeline: Pipeline, image_id: int, box: tuple[float, float, float, float],
                 label: str = ANIMAL) -> int:
    """Crop, mask and edge ``box`` (pixels of the oriented image) and record it; returns its id."""
    with project.sessions() as session:
        image = session.get(Image, image_id)
        if image is None or image.status != ImageStatus.DONE:
            raise ValueError(f"No imported image with id {image_id}.")
        path = Path(image.survey.root) / image.path
        sha256 = image.sha256
        rank = int(session.scalar(select(func.count(Detection.id)).where(Detection.image_id == image_id)) or 0)
    decoded = pipeline.decode(path)
    height, width = decoded.rgb.shape[:2]
    drawn = Box(*box, score=1.0, label=label).clipped(width, height)
    if drawn.x1 - drawn.x0 < 4 or drawn.y1 - drawn.y0 < 4:
        raise ValueError(f"The box {box} is empty inside this {width}×{height} image.")
    processed = pipeline.process_box(decoded.rgb, sha256, rank, drawn)
    with transaction(project.sessions) as session:
        row = Detection(
            image_id=image_id, x0=drawn.x0, y0=drawn.y0, x1=drawn.x1, y1=drawn.y1, score=1.0, label=label,
            detector=USER_DETECTOR, crop_path=processed.paths.crop, mask_path=processed.paths.mask,
            edge_path=processed.paths.edge, mask_source=processed.mask.source, mask_error=processed.mask.error,
        )
        session.add(row)
        session.flush()
        return row.id
