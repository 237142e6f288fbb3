"""A real project store filled with synthetic animals: images, detections and embeddings (crops on request).

Each individual has a random unit centre; its photos are the centre plus noise, so the embedding ranks
photos of one animal together roughly as a trained model would. Used by the review tests (hypothesis runs
decisions against it) and by ``bench/review_bench.py`` (10,000 animals).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select

from pelage.store import Project, open_project, transaction
from pelage.store.schema import Camera, Detection, Embedding, Flank, Image, ImageStatus, Station, Survey

MODEL_ID = "synthetic-vectors"


@dataclass(frozen=True)
class SyntheticProject:
    project: Project
    animal_ids: list[int]
    identity: dict[int, int]  # animal id -> true individual
    model_id: str = MODEL_ID


def build_synthetic_project(root: Path, animals: int, dim: int = 64, per_individual: int = 4, noise: float = 0.6, seed: int = 0,
                            flanked: float = 0.5, two_per_photo: float = 0.1, database_url: str | None = None) -> SyntheticProject:
    """``animals`` detections in about ``animals / per_individual`` individuals, embedded under :data:`MODEL_ID`.

    A fraction ``flanked`` has a known flank (the same individual may show either), ``two_per_photo`` of the
    photos hold two animals (so same-photo exclusion is exercised).
    """
    rng = np.random.default_rng(seed)
    project = open_project(root, create=True, database_url=database_url)
    individuals = max(1, animals // per_individual)
    identity = rng.integers(0, individuals, animals)
    centres = rng.standard_normal((individuals, dim)).astype(np.float32)
    vectors = centres[identity] + noise * rng.standard_normal((animals, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    flanks = rng.choice([Flank.LEFT.value, Flank.RIGHT.value], animals)
    known = rng.random(animals) < flanked
    start = datetime(2024, 1, 1)
    with transaction(project.sessions) as session:
        survey = Survey(name="synthetic", root=str(root / "photos"))
        session.add(survey)
        stations = [Station(name=f"S{i:02d}") for i in range(10)]
        session.add_all(stations)
        session.flush()
        cameras = [Camera(station_id=station.id, name="A") for station in stations]
        session.add_all(cameras)
        session.flush()
        photo_of, photos = [], 0
        for animal in range(animals):
            if animal and rng.random() < two_per_photo and (animal < 2 or photo_of[-2] != photo_of[-1]):
                photo_of.append(photos - 1)  # a second animal in the previous photo
            else:
                photo_of.append(photos)
                photos += 1
        session.execute(insert(Image), [
            {"survey_id": survey.id, "path": f"img_{photo:06d}.jpg", "size_bytes": 1000, "status": ImageStatus.DONE,
             "camera_id": cameras[photo % len(cameras)].id, "captured_at": start + timedelta(hours=int(photo))}
            for photo in range(photos)])
        image_ids = list(session.scalars(select(Image.id).where(Image.survey_id == survey.id).order_by(Image.id)))
        session.execute(insert(Detection), [
            {"image_id": image_ids[photo_of[animal]], "x0": 0.0, "y0": 0.0, "x1": 10.0, "y1": 10.0, "score": 0.9, "label": "animal",
             "detector": "synthetic", "flank": flanks[animal] if known[animal] else None}
            for animal in range(animals)])
        ids = list(session.scalars(select(Detection.id).order_by(Detection.id)))
        session.execute(insert(Embedding), [
            {"detection_id": i, "model_id": MODEL_ID, "dim": dim, "vector": vector.astype("<f4").tobytes()}
            for i, vector in zip(ids, vectors, strict=True)])
    return SyntheticProject(project, ids, {i: int(who) for i, who in zip(ids, identity, strict=True)})


def attach_pattern_crops(synthetic: SyntheticProject, pool: int, seed: int = 0, progress=None) -> int:
    """Give every animal a crop, a mask and stored pattern features, so review runs its real pattern checks.

    ``pool`` distinct crops are drawn as the season generator draws its animals (:mod:`pelage.season`), four views
    of each of ``pool // 4`` coats; an individual's photos show one coat (so true matches have verified spots),
    and animals share the pool's files round-robin (a pool larger than the review's feature cache keeps its disk
    reads honest). Returns how many crops were drawn."""
    from PIL import Image as PILImage
    from sqlalchemy import update

    from pelage.reid.feature_store import load_or_extract
    from pelage.season import SeasonSpec, Shot, _Scenes, draw_shot

    coats = max(1, pool // 4)
    spec = SeasonSpec(images=2, individuals=coats, seed=seed)
    scenes = _Scenes(spec)
    artefacts = synthetic.project.artefacts
    (artefacts / "pool").mkdir(parents=True, exist_ok=True)
    files = []
    for entry in range(coats * 4):
        shot = Shot("", "animal", "S", "A", datetime(2024, 6, 1, 12), index=entry, individual=entry // 4, facing_right=False)
        image, box = draw_shot(spec, scenes, shot)
        x0, y0, x1, y1 = box
        crop, mask = f"pool/{entry:05d}_crop.jpg", f"pool/{entry:05d}_mask.png"
        PILImage.fromarray(image[y0:y1, x0:x1]).save(artefacts / crop, quality=90)
        PILImage.fromarray(np.full((y1 - y0, x1 - x0), 255, np.uint8)).save(artefacts / mask)
        load_or_extract(artefacts, crop, mask)
        files.append((crop, mask))
        if progress is not None:
            progress(entry + 1, coats * 4)
    seen: dict[int, int] = {}
    rows = []
    for animal in synthetic.animal_ids:
        who = synthetic.identity[animal]
        view = seen.get(who, 0)
        seen[who] = view + 1
        crop, mask = files[(who % coats) * 4 + view % 4]
        rows.append({"id": animal, "crop_path": crop, "mask_path": mask})
    with transaction(synthetic.project.sessions) as session:
        session.execute(update(Detection), rows)
    return len(files)
