"""Images an animal can be looked at through: the cached photo crop, the masked crop, the edge channel,
and the original photo at full resolution.

Loading builds ``QImage`` objects, which (unlike pixmaps) may be made on a worker thread, so the review
view receives its images ready to draw.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtGui import QImage

from pelage.store import Project, queries
from pelage.store.schema import Flank

# The masked crop's background: a neutral grey that neither a dark nor a pale coat disappears into.
MASK_BACKGROUND = 128


class ViewMode(str, enum.Enum):
    PHOTO = "photo"
    MASKED = "masked"
    EDGE = "edge"

    @property
    def label(self) -> str:
        return {"photo": "Photo", "masked": "Masked crop", "edge": "Edge channel"}[self.value]


@dataclass(frozen=True)
class AnimalFiles:
    id: int
    crop: Path | None
    mask: Path | None
    edge: Path | None
    original: Path  # the survey photo
    box: tuple[float, float, float, float]  # in the upright original
    flank: Flank | None


def animal_files(project: Project, ids: list[int]) -> dict[int, AnimalFiles]:
    """The files of the animals ``ids``, as paths on this computer (the store keeps them relative)."""
    with project.sessions() as session:
        records = queries.animal_files(session, ids)

    def cached(relative: str | None) -> Path | None:
        return project.artefacts / relative if relative else None

    return {
        record.id: AnimalFiles(record.id, cached(record.crop), cached(record.mask), cached(record.edge),
                               Path(record.survey_root) / record.image, record.box, record.flank)
        for record in records.values()
    }


def qimage_from_array(array) -> QImage:
    """A QImage owning a copy of an H×W (grey) or H×W×3 (RGB) uint8 array."""
    import numpy as np

    array = np.ascontiguousarray(array)
    height, width = array.shape[:2]
    if array.ndim == 2:
        return QImage(array.data, width, height, array.strides[0], QImage.Format.Format_Grayscale8).copy()
    return QImage(array.data, width, height, array.strides[0], QImage.Format.Format_RGB888).copy()


def load_view(files: AnimalFiles, mode: ViewMode) -> QImage | None:
    """The cached image of ``files`` in ``mode``; None when the cache lacks it (re-import rebuilds it)."""
    path = {ViewMode.PHOTO: files.crop, ViewMode.MASKED: files.crop, ViewMode.EDGE: files.edge}[mode]
    if path is None or not path.is_file():
        return None
    if mode != ViewMode.MASKED:
        image = QImage(str(path))
        return None if image.isNull() else image
    if files.mask is None or not files.mask.is_file():
        return None
    import numpy as np

    from pelage.ingest.artefacts import read_grey, read_rgb

    rgb, mask = read_rgb(path), read_grey(files.mask)
    if mask.shape != rgb.shape[:2]:
        return None
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    masked = rgb.astype(np.float32) * alpha + MASK_BACKGROUND * (1.0 - alpha)
    return qimage_from_array(masked.round().astype(np.uint8))


def load_views(files: AnimalFiles) -> dict[ViewMode, QImage | None]:
    return {mode: load_view(files, mode) for mode in ViewMode}


def load_photo(path: Path, what: str = "photo") -> QImage:
    """The survey photo upright at full resolution (decoded like the import did, so boxes line up)."""
    from pelage.ingest.decode import decode_image

    if not path.is_file():
        raise FileNotFoundError(f"the {what} {path} is not there (was the survey folder moved or its drive unplugged?)")
    return qimage_from_array(decode_image(path).rgb)


def load_original(files: AnimalFiles) -> QImage:
    return load_photo(files.original, "original photo")
