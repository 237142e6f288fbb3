"""Rebuilding the cached crops, masks and edge images of images a project already holds.

Cached files can go missing (a cleanup tool, a partial copy of the project folder, a disk error); the
photos and the detections recorded for them are still there, so a re-run of the import puts the files
back from the original photos. Only the missing files are written, each image in its own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from pelage.ingest.artefacts import ArtefactPaths, missing_artefacts
from pelage.ingest.decode import ImageReadError
from pelage.ingest.detect import Box
from pelage.ingest.pipeline import Pipeline
from pelage.store import Detection, Image, ImageStatus, Project, transaction
from pelage.weights.verify import file_digest


@dataclass(frozen=True)
class BrokenDetection:
    detection_id: int
    box: Box
    paths: ArtefactPaths
    missing: frozenset[str]  # of "crop", "mask", "edge"


@dataclass(frozen=True)
class BrokenImage:
    image_id: int
    sha256: str
    detections: tuple[BrokenDetection, ...]


def find_broken_images(project: Project, survey_id: int) -> dict[str, BrokenImage]:
    """Imported images of the survey with a cached file missing, by path relative to the survey root."""
    statement = (
        select(Image.id, Image.path, Image.sha256, Detection)
        .join(Detection, Detection.image_id == Image.id)
        .where(Image.survey_id == survey_id, Image.status == ImageStatus.DONE, Detection.crop_path.is_not(None),
               Detection.mask_path.is_not(None), Detection.edge_path.is_not(None))
        .order_by(Image.id, Detection.id)
    )
    found: dict[str, tuple[int, str, list[BrokenDetection]]] = {}
    with project.sessions() as session:
        for image_id, path, sha256, detection in session.execute(statement):
            paths = ArtefactPaths(crop=detection.crop_path, mask=detection.mask_path, edge=detection.edge_path)
            missing = missing_artefacts(project.artefacts, paths)
            if missing:
                box = Box(detection.x0, detection.y0, detection.x1, detection.y1, detection.score, detection.label)
                found.setdefault(path, (image_id, sha256, []))[2].append(BrokenDetection(detection.id, box, paths, missing))
    return {path: BrokenImage(image_id, sha256, tuple(detections)) for path, (image_id, sha256, detections) in found.items()}


def repair_image(project: Project, pipeline: Pipeline, original: Path, broken: BrokenImage) -> int:
    """Write the missing cached files of one image from its original photo; returns how many detections were mended.

    Raises :class:`ImageReadError` when the photo is gone, unreadable or no longer the photo that was imported.
    """
    try:
        if file_digest(original, "sha256") != broken.sha256:
            raise ImageReadError("the photo changed since it was imported, so its crops cannot be rebuilt from it; "
                                 "import it again as a new survey")
    except OSError as exc:
        raise ImageReadError(f"the original photo cannot be read ({exc.strerror}); reconnect the survey's drive and re-run") from None
    decoded = pipeline.decode(original)
    masks = {item.detection_id: pipeline.rebuild_box(decoded.rgb, item.box, item.paths, item.missing) for item in broken.detections}
    with transaction(project.sessions) as session:
        for detection_id, mask in masks.items():
            if mask is not None:  # the mask was made again: record how, as at import
                detection = session.get(Detection, detection_id)
                detection.mask_source, detection.mask_error = mask.source, mask.error
    return len(masks)
