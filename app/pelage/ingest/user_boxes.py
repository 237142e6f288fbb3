"""Boxes a user draws around an animal the detector missed, or draws again around one it boxed badly, stored
like any other detection."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select

from pelage.ingest.detect import ANIMAL, Box
from pelage.ingest.pipeline import Pipeline, ProcessedDetection
from pelage.store import Detection, Image, ImageStatus, Project, transaction
from pelage.store.schema import Embedding, FlankSource

USER_DETECTOR = "user"
_RANK = re.compile(r"_(\d+)_crop\.[a-z]+$")


@dataclass(frozen=True)
class _Source:
    path: Path
    sha256: str
    rank: int  # a rank no detection of the image uses yet: new cached files never overwrite another's


def _free_rank(session, image_id: int) -> int:
    """One past every rank the image's detections use (their count, or the rank in a cached file's name)."""
    crops = list(session.scalars(select(Detection.crop_path).where(Detection.image_id == image_id)))
    ranks = [int(match.group(1)) for crop in crops if crop and (match := _RANK.search(crop))]
    return max(len(crops), max(ranks, default=-1) + 1)


def _source(session, image_id: int) -> _Source:
    image = session.get(Image, image_id)
    if image is None or image.status != ImageStatus.DONE:
        raise ValueError(f"No imported image with id {image_id}.")
    return _Source(Path(image.survey.root) / image.path, image.sha256, _free_rank(session, image_id))


def _process(pipeline: Pipeline, source: _Source, box: tuple[float, float, float, float], label: str) -> ProcessedDetection:
    decoded = pipeline.decode(source.path)
    height, width = decoded.rgb.shape[:2]
    drawn = Box(*box, score=1.0, label=label).clipped(width, height)
    if drawn.x1 - drawn.x0 < 4 or drawn.y1 - drawn.y0 < 4:
        raise ValueError(f"The box {box} is empty inside this {width}×{height} image.")
    return pipeline.process_box(decoded.rgb, source.sha256, source.rank, drawn)


def _apply(row: Detection, processed: ProcessedDetection) -> None:
    box = processed.box
    row.x0, row.y0, row.x1, row.y1, row.score = box.x0, box.y0, box.x1, box.y1, 1.0
    row.detector = USER_DETECTOR
    row.crop_path, row.mask_path, row.edge_path = processed.paths.crop, processed.paths.mask, processed.paths.edge
    row.mask_source, row.mask_error = processed.mask.source, processed.mask.error


def add_user_box(project: Project, pipeline: Pipeline, image_id: int, box: tuple[float, float, float, float],
                 label: str = ANIMAL) -> int:
    """Crop, mask and edge ``box`` (pixels of the oriented image) and record it; returns its id."""
    with project.sessions() as session:
        source = _source(session, image_id)
    processed = _process(pipeline, source, box, label)
    with transaction(project.sessions) as session:
        row = Detection(image_id=image_id, label=label)
        _apply(row, processed)
        session.add(row)
        session.flush()
        return row.id


def redraw_box(project: Project, pipeline: Pipeline, detection_id: int, box: tuple[float, float, float, float]) -> None:
    """Replace a detection's box (the detector cut the animal off, or boxed two): new cached files, and its
    embeddings dropped so identification embeds the new crop. Its id, name, decisions and a reviewer's flank stay."""
    with project.sessions() as session:
        row = session.get(Detection, detection_id)
        if row is None:
            raise ValueError(f"No detection with id {detection_id} (see `pelage animals PROJECT`).")
        source, label = _source(session, row.image_id), row.label
    processed = _process(pipeline, source, box, label)
    with transaction(project.sessions) as session:
        detection = session.get(Detection, detection_id)
        _apply(detection, processed)
        if detection.flank_source == FlankSource.PREDICTED:  # a guess about the old crop: identification guesses again
            detection.flank, detection.flank_source, detection.flank_confidence = None, None, None
        session.execute(delete(Embedding).where(Embedding.detection_id == detection_id))
