"""Scenery: a detector that fires on a rock or a trunk fires on it in every frame that camera takes.

Such false detections crop the same pixels each time, so pattern matching finds hundreds of spots in the same places
and the fused score says "same animal" at 99.9 %. Two detections are taken for scenery when one camera saw them at the
same spot of its view (crops overlapping by ``MIN_OVERLAP`` or more) on photos at least ``MIN_TIME_APART`` apart, and
the spots match pixel for pixel: the transform pattern matching found puts each point of one crop back on the same
pixel of the photo in the other. An animal resting for a few minutes gives the same picture, hence the time apart; an
animal back at its favourite ledge another day is not where it was to within a few pixels, hence the alignment. Such a
pair's spot matches are not counted as evidence (it keeps the score of its appearance alone), and review says why.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from pelage.ingest.artefacts import crop_rect, padded_box
from pelage.ingest.detect import Box, iou
from pelage.reid.rerank import MatchResult
from pelage.store.schema import Detection, Image

MIN_TIME_APART = timedelta(hours=12)
# Intersection over union of the two crops in the photo: a pre-filter only (the detector draws a rock's box a little
# differently each time: 0.73 to 0.85 in a synthetic season); the alignment below is what decides.
MIN_OVERLAP = 0.5
MAX_DRIFT = 0.03  # how far (a share of the crop's longer side) a crop's corner may land from its own pixel in the photo
# What review and the CLI say of such a pair, briefly and in full.
SCENERY_SHORT = "same place in this camera's view: scenery?"
SCENERY_EXPLAINED = ("The same place in the same camera's view on photos half a day or more apart, matching pixel for pixel: "
                     "probably scenery the detector took for an animal (a rock, a trunk), so its matched keypoints are not "
                     "counted and the chance comes from appearance alone")


@dataclass(frozen=True, slots=True)
class Place:
    """Where and when a detection was seen."""

    camera: int | None  # the store's camera id
    taken: datetime | None
    shown: tuple[float, float, float, float]  # x0, y0, x1, y1 of the photo its crop shows (the box and its padding)


def overlap(a: Place, b: Place) -> float:
    """Intersection over union of what two crops show of their photos."""
    return iou(Box(*a.shown, score=0.0), Box(*b.shown, score=0.0))


def _photo_pixels(place: Place, size: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """Points of a crop's features (its working size ``size``: width, height) in the photo's pixels."""
    x0, y0, x1, y1 = place.shown
    return np.array([x0, y0]) + points * np.array([(x1 - x0) / max(size[0], 1), (y1 - y0) / max(size[1], 1)])


def photo_drift(a: Place, size_a: tuple[int, int], b: Place, size_b: tuple[int, int], match: MatchResult) -> float:
    """How far (photo pixels) the match's transform moves crop ``a``'s corners from where they are in the photo, read
    through crop ``b``: 0 when both crops show the same pixels and the spots matched in place."""
    corners = np.array([[0, 0], [size_a[0], 0], [0, size_a[1]], [size_a[0], size_a[1]]], np.float64)
    turn = math.radians(match.rotation)
    linear = match.scale * np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    moved = corners @ linear.T + np.array(match.shift)
    return float(np.linalg.norm(_photo_pixels(a, size_a, corners) - _photo_pixels(b, size_b, moved), axis=1).max())


def same_scenery(a: Place | None, size_a: tuple[int, int], b: Place | None, size_b: tuple[int, int], match: MatchResult) -> bool:
    """Whether a verified match between two detections (features at working sizes ``size_a``, ``size_b``) is one
    camera's scenery seen twice (see the module docstring)."""
    if (a is None or b is None or a.camera is None or a.camera != b.camera or a.taken is None or b.taken is None
            or match.inliers <= 0 or match.scale <= 0):
        return False
    if abs(a.taken - b.taken) < MIN_TIME_APART or overlap(a, b) < MIN_OVERLAP:
        return False
    longer = max(a.shown[2] - a.shown[0], a.shown[3] - a.shown[1])
    return photo_drift(a, size_a, b, size_b, match) <= MAX_DRIFT * longer


def detection_places(session: Session, ids: Collection[int] | None = None) -> dict[int, Place]:
    """Each detection's camera, photo time and the rectangle of the photo its crop shows (all detections, or ``ids``)."""
    statement = (select(Detection.id, Image.camera_id, Image.captured_at, Image.width, Image.height, Detection.x0, Detection.y0,
                        Detection.x1, Detection.y1).join(Image, Image.id == Detection.image_id))
    if ids is not None:
        statement = statement.where(Detection.id.in_(list(ids)))
    places = {}
    for row in session.execute(statement):
        padded = padded_box(row)
        try:  # as the import cut it: clipped to the photo
            shown = crop_rect((row.height, row.width), padded) if row.width and row.height else padded
        except ValueError:  # a box outside its photo: no crop to compare
            shown = padded
        places[row.id] = Place(row.camera_id, row.captured_at, tuple(float(v) for v in shown))
    return places
