"""Scenery the detector took for an animal: the same spot of one camera's view on other days is not counted as a match."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage
from sqlalchemy import update

from pelage.ingest.artefacts import crop_rect, padded_box
from pelage.reid.rerank import DEFAULT_CALIBRATION, extract_features, match_features
from pelage.reid.scenery import MIN_TIME_APART, SCENERY_SHORT, Place, detection_places, overlap, same_scenery
from pelage.reid.scoring import PatternScorer
from pelage.review.session import ReviewSession
from pelage.store import transaction
from pelage.store.schema import Detection, Image
from tests.review_synthetic import build_synthetic_project

BOX = (120.0, 90.0, 420.0, 330.0)
NOON = datetime(2024, 6, 1, 12)


def scene(seed: int = 0, width: int = 640, height: int = 480) -> np.ndarray:
    """A camera's view: rocks and leaves as blurred noise at a few scales, full of keypoints."""
    rng = np.random.default_rng(seed)
    grey = sum(cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), sigma) * sigma
               for sigma in (2.0, 4.0, 8.0))
    grey = cv2.normalize(grey, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return np.stack([grey, grey, (grey * 0.8).astype(np.uint8)], axis=2)


def crop_of(photo: np.ndarray, box=BOX) -> np.ndarray:
    x0, y0, x1, y1 = (int(v) for v in box)
    return np.ascontiguousarray(photo[y0:y1, x0:x1])


def features(crop: np.ndarray):
    return extract_features(crop, np.full(crop.shape[:2], 255, np.uint8))


def test_overlap_of_what_two_crops_show():
    def place(shown):
        return Place(1, NOON, shown)

    assert overlap(place((0, 0, 10, 10)), place((0, 0, 10, 10))) == 1.0
    assert overlap(place((0, 0, 10, 10)), place((10, 0, 20, 10))) == 0.0
    assert overlap(place((0, 0, 10, 10)), place((5, 0, 15, 10))) == pytest.approx(50 / 150)


def test_the_same_pixels_on_another_day_are_scenery_an_animal_at_the_same_place_is_not():
    view = scene()
    lit = np.clip(view.astype(np.int16) + np.random.default_rng(1).integers(-6, 7, view.shape), 0, 255).astype(np.uint8)  # another day's light
    first, again = features(crop_of(view)), features(crop_of(lit))
    match = match_features(first, again)
    assert match.inliers > 100  # the detector's "animal" matches itself at 99.9 %: what review proposed before
    here, later = Place(1, NOON, BOX), Place(1, NOON + timedelta(days=2), BOX)
    assert same_scenery(here, first.image_size, later, again.image_size, match)
    assert same_scenery(later, again.image_size, here, first.image_size, match_features(again, first))

    # A burst minutes apart is an animal resting, and another camera's view is another place.
    assert not same_scenery(here, first.image_size, Place(1, NOON + timedelta(minutes=5), BOX), again.image_size, match)
    assert not same_scenery(here, first.image_size, Place(1, NOON + MIN_TIME_APART / 2, BOX), again.image_size, match)
    assert not same_scenery(here, first.image_size, Place(2, later.taken, BOX), again.image_size, match)
    assert not same_scenery(here, first.image_size, Place(None, later.taken, BOX), again.image_size, match)
    assert not same_scenery(here, first.image_size, Place(1, None, BOX), again.image_size, match)

    # The same coat another day in a box of the same place, but not on the same pixels (it lay 24 px further left):
    # spots match, in a transform that moves them, so it stays evidence.
    moved = features(crop_of(np.roll(view, -24, axis=1)))
    shifted = match_features(first, moved)
    assert shifted.inliers > 50
    assert not same_scenery(here, first.image_size, later, moved.image_size, shifted)

    # The same pixels seen through a larger box (the detector drew it 10 % wider): still scenery, read in the photo.
    wide = (BOX[0] - 15, BOX[1], BOX[2] + 15, BOX[3])
    widened = features(crop_of(lit, wide))
    assert same_scenery(here, first.image_size, Place(1, later.taken, wide), widened.image_size, match_features(first, widened))

    # Boxes of a rock at the photo's edge, drawn 7 % wider another day: both crops are cut clipped to the photo, as the
    # import cuts them, and still read back onto the same pixels (a synthetic season's rocks did not, before clipping
    # was accounted for).
    def cut(photo, x1, y1):
        shown = crop_rect(photo.shape, padded_box(SimpleNamespace(x0=0.0, y0=150.0, x1=x1, y1=y1)))
        return shown, features(crop_of(photo, shown))

    (shown_a, edge_a), (shown_b, edge_b) = cut(view, 560.0, 300.0), cut(lit, 600.0, 320.0)
    assert shown_a[0] == shown_b[0] == 0 and shown_a != shown_b
    assert same_scenery(Place(1, NOON, shown_a), edge_a.image_size, Place(1, later.taken, shown_b), edge_b.image_size,
                        match_features(edge_a, edge_b))


@pytest.fixture
def scenery_project(tmp_path):
    """Four animals of one camera: #0 and #1 are one rock two days apart, #2 the rock five minutes after #0 (a burst),
    #3 an animal with other spots; all four look alike to the embedding."""
    synthetic = build_synthetic_project(tmp_path / "p", 4, dim=8, per_individual=4, flanked=0.0, two_per_photo=0.0)
    artefacts = synthetic.project.artefacts
    artefacts.mkdir(parents=True, exist_ok=True)
    view = scene()
    photos = [view, view, view, scene(seed=5)]
    times = [NOON, NOON + timedelta(days=2), NOON + timedelta(minutes=5), NOON + timedelta(days=1)]
    with transaction(synthetic.project.sessions) as session:
        camera = session.get(Image, session.get(Detection, synthetic.animal_ids[0]).image_id).camera_id
        for animal, photo, taken in zip(synthetic.animal_ids, photos, times, strict=True):
            detection = session.get(Detection, animal)
            detection.x0, detection.y0, detection.x1, detection.y1 = BOX
            crop = crop_of(photo, crop_rect(photo.shape, padded_box(detection)))  # as the import cuts it
            PILImage.fromarray(crop).save(artefacts / f"{animal}_crop.png")
            PILImage.fromarray(np.full(crop.shape[:2], 255, np.uint8)).save(artefacts / f"{animal}_mask.png")
            detection.crop_path, detection.mask_path = f"{animal}_crop.png", f"{animal}_mask.png"
            session.execute(update(Image).where(Image.id == detection.image_id)
                            .values(camera_id=camera, captured_at=taken, width=photo.shape[1], height=photo.shape[0]))
    yield synthetic
    synthetic.project.close()


def test_review_does_not_count_scenery_seen_twice_and_says_why(scenery_project):
    rock, again, burst, coat = scenery_project.animal_ids
    with scenery_project.project.sessions() as session:
        places = detection_places(session)
    with scenery_project.project.sessions() as session:
        padded = padded_box(session.get(Detection, rock))
    assert places[rock].taken == NOON and places[again].camera == places[rock].camera and places[rock].shown == padded

    crops = {animal: (f"{animal}_crop.png", f"{animal}_mask.png") for animal in scenery_project.animal_ids}
    scorer = PatternScorer(scenery_project.project.artefacts, crops, DEFAULT_CALIBRATION, places=places)
    blind = PatternScorer(scenery_project.project.artefacts, crops, DEFAULT_CALIBRATION)  # as before: no places known
    try:
        scored = {row[0]: row for row in scorer.score(rock, [(again, 0.9), (burst, 0.9), (coat, 0.9)])}
        before = {row[0]: row for row in blind.score(rock, [(again, 0.9), (burst, 0.9), (coat, 0.9)])}
    finally:
        scorer.close()
        blind.close()
    assert before[again][3] > 100 and before[again][1] > 0.99 and not before[again][5]
    _, p_again, _, inliers, verified, scenery = scored[again]
    assert verified and scenery and inliers == 0 and p_again < 0.5  # appearance alone: no spots counted
    assert not scored[burst][5] and scored[burst][3] > 100 and scored[burst][1] > 0.99  # a resting animal stays a match
    assert scorer.scenery(again, rock) and not scorer.scenery(rock, burst)

    with ReviewSession(scenery_project.project, model=scenery_project.model_id, same_flank=False, k=3) as review:
        proposal = review.next_proposal(rock)
    shown = {candidate.id: candidate for candidate in proposal.candidates}
    assert shown[again].scenery and shown[again].inliers == 0 and not shown[burst].scenery
    assert proposal.candidates[0].id == burst  # the burst first; the rock seen again falls to its appearance alone

    from pelage.ui.review_view import candidate_title, candidate_tooltip, scenery_advice

    assert SCENERY_SHORT in candidate_title(0, shown[again]) and "keypoints" not in candidate_title(0, shown[again])
    assert "probably scenery" in candidate_tooltip(shown[again]) and "matched keypoints" in candidate_title(1, shown[burst])
    # The anchor's note says how to set a rock aside, only when a candidate shows its place again.
    assert scenery_advice(proposal.candidates).startswith("One candidate shows the same place")
    assert "Not usable" in scenery_advice(proposal.candidates)
    assert scenery_advice([shown[burst], shown[coat]]) == ""


def test_the_not_usable_question_starts_at_the_reason_suggested(qtbot):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QInputDialog, QWidget

    from pelage.ui.box_dialogs import NOT_AN_ANIMAL, REASONS, ask_unusable_reason

    parent = QWidget()
    qtbot.addWidget(parent)
    seen = []

    def accept_as_shown() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QInputDialog):
            QTimer.singleShot(20, accept_as_shown)
            return
        seen.append(dialog.textValue())
        dialog.accept()

    for suggested in (NOT_AN_ANIMAL, REASONS[0]):
        QTimer.singleShot(20, accept_as_shown)
        assert ask_unusable_reason(parent, 7, suggested) == suggested
    assert seen == [NOT_AN_ANIMAL, REASONS[0]] and NOT_AN_ANIMAL != REASONS[0]
