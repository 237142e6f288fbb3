"""Flank prediction: the bundled head on real crops, its mirror symmetry, and the store's record of whose word a flank is."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from math import comb

import numpy as np
import pytest
from sqlalchemy import delete, text, update

from pelage.reid.embed import Embedder
from pelage.reid.flank import FlankHead, flip_differences, guess, load_head, mirrored, same_flank_allowed
from pelage.reid.metrics import load_labels
from pelage.reid.workflow import prepare_folder
from pelage.store import open_project, transaction
from pelage.store.database import current_revision, head_revision
from pelage.store.queries import AnimalRecord
from pelage.store.schema import Detection, Embedding, Flank, FlankSource
from tests.conftest import shared_dataset
from tests.test_cli import pelage

PER_SIDE = 12  # nyala validation photos per side: a few dozen crops keep the test quick


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(device="cpu", threads=2)


@pytest.fixture(scope="module")
def head() -> FlankHead:
    return load_head()


@pytest.fixture(scope="module")
def nyala_validation(tmp_path_factory, installed_u2netp, embedder):
    """Crops of nyala photos from identities the head never saw (the model's validation identities), half of each side."""
    root = shared_dataset("nyala")
    held_out = set(embedder.bundle.extra["training_data"]["validation"]["identities"])
    rows = [row for row in load_labels(root / "labels.csv") if row.identity in held_out]
    picked = [row for side in ("left", "right") for row in [r for r in rows if r.view == side][:PER_SIDE]]
    folder = prepare_folder(root, tmp_path_factory.mktemp("nyala-crops"), [row.path for row in picked], threads=2)
    by_path = {row.path: row for row in picked}
    return folder.crops(), np.array([by_path[path].view == "left" for path in folder.paths])


def chance_tail(correct: int, n: int) -> float:
    """P(at least ``correct`` of ``n`` right) for a coin toss."""
    return sum(comb(n, k) for k in range(correct, n + 1)) / 2 ** n


def differences(embedder, crops):
    """e(x) − e(flip(x)) as the predictor reads them from this embedder."""
    return flip_differences(embedder.embed, crops, halves=embedder.halves)


def test_the_bundled_head_reads_the_bundled_model(head, embedder):
    assert head.model_id == embedder.model_id
    assert head.weights.shape == (embedder.bundle.config.embedding_dim,)
    assert 0.5 <= head.threshold < 1.0  # some guesses are made, some left unknown


def test_it_beats_chance_on_held_out_nyala_sightings(nyala_validation, head, embedder):
    crops, is_left = nyala_validation
    assert len(crops) >= 2 * PER_SIDE - 2  # a photo without a readable crop may drop out, not more
    p_left = head.p_left(differences(embedder, crops))
    correct = int(np.sum((p_left >= 0.5) == is_left))
    # The margin: a coin would get this many right less than once in a thousand tries.
    needed = min(k for k in range(len(crops) + 1) if chance_tail(k, len(crops)) < 1e-3)
    print(f"flank forced choice on {len(crops)} held-out nyala crops: {correct} right; a coin gets {needed} once in a thousand tries")
    assert correct >= needed
    guesses = head.guesses(differences(embedder, crops))
    made = [(found.flank == "left") == left for found, left in zip(guesses, is_left, strict=True) if found.flank]
    assert made and sum(made) / len(made) >= correct / len(crops) - 0.05  # a confident guess is not worse than a forced one


def test_the_bundled_vectors_hold_the_mirror_images_embedding_so_the_head_embeds_nothing_more(nyala_validation, embedder):
    from pelage.reid.embed import embed_with

    crops = nyala_validation[0][:4]
    vectors = embedder.embed(crops)
    as_is, mirror_image = embed_with(embedder.model, crops), embed_with(embedder.model, [mirrored(crop) for crop in crops])
    config = embedder.bundle.config
    assert embedder.mirror_features and config.spot_words
    assert vectors.shape == (4, 2 * config.embedding_dim + config.spot_words)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    words = vectors[:, 2 * config.embedding_dim:] * np.sqrt((1 + config.spot_words_weight) / config.spot_words_weight)
    # The inner product the shortlist ranks by: the mean cosine of both looks, then the spot words at their weight.
    weight = config.spot_words_weight
    expected = ((as_is @ as_is.T + mirror_image @ mirror_image.T) / 2 + weight * words @ words.T) / (1 + weight)
    np.testing.assert_allclose(vectors @ vectors.T, expected, atol=1e-5)

    def refuse(_crops):
        raise AssertionError("the mirror image was embedded again")

    np.testing.assert_allclose(flip_differences(refuse, crops, vectors, embedder.halves), as_is - mirror_image, atol=1e-5)


def test_a_mirrored_crop_gets_the_other_side(nyala_validation, head, embedder):
    crops = nyala_validation[0][:6]
    p_left = head.p_left(differences(embedder, crops))
    p_left_mirrored = head.p_left(differences(embedder, [mirrored(crop) for crop in crops]))
    np.testing.assert_allclose(p_left_mirrored, 1.0 - p_left, atol=1e-5)
    for one, other in zip(head.guesses(differences(embedder, crops)), [guess(p, head.threshold) for p in p_left_mirrored],
                          strict=True):
        assert {one.flank, other.flank} in ({"left", "right"}, {None})


def test_same_flank_only_leaves_a_pair_out_only_when_both_sides_are_known_and_differ():
    assert same_flank_allowed(["left", "right", None]).tolist() == [[True, False, True], [False, True, True], [True, True, True]]
    assert same_flank_allowed(["right"], ["left", "right", None]).tolist() == [[False, True, True]]
    assert same_flank_allowed([None], ["left", "right"]).tolist() == [[True, True]]  # an anchor of unknown side sees all


def test_a_guess_below_the_threshold_stays_unknown():
    assert guess(0.93, 0.8).flank == "left" and guess(0.07, 0.8).flank == "right"
    unsure = guess(0.6, 0.8)
    assert unsure.flank is None and unsure.confidence == pytest.approx(0.6)
    with pytest.raises(ValueError, match="threshold"):
        FlankHead.from_dict({"format": 1, "model_id": "m", "threshold": 0.3, "weights": [1.0]})


def test_a_project_from_before_flank_prediction_keeps_its_reviewers_flanks(tmp_path):
    from alembic import command

    from pelage.store.database import alembic_config

    root = tmp_path / "p"
    with open_project(root, create=True) as project:
        command.downgrade(alembic_config(project.engine), "0003")
        with project.engine.begin() as connection:
            connection.execute(text("INSERT INTO surveys (id, name, root, created_at) VALUES (1, 's', '/s', '2024-01-01')"))
            connection.execute(text("INSERT INTO images (id, survey_id, path, size_bytes, status, imported_at) "
                                    "VALUES (1, 1, 'a.jpg', 10, 'done', '2024-01-01')"))
            for detection_id, flank in ((1, "'right'"), (2, "NULL")):
                connection.execute(text("INSERT INTO detections (id, image_id, x0, y0, x1, y1, score, label, detector, flank, created_at) "
                                        f"VALUES ({detection_id}, 1, 0, 0, 10, 10, 0.9, 'animal', 't', {flank}, '2024-01-01')"))
    with open_project(root) as project:
        assert current_revision(project.engine) == head_revision(project.engine) == "0004"
        with project.sessions() as session:
            set_by_reviewer, never_set = session.get(Detection, 1), session.get(Detection, 2)
            reviewed = (set_by_reviewer.flank, set_by_reviewer.flank_source, set_by_reviewer.flank_confidence)
            assert reviewed == (Flank.RIGHT, FlankSource.USER, None)
            assert (never_set.flank, never_set.flank_source) == (None, None)  # identification will guess it


@pytest.fixture
def leopard_survey(tmp_path):
    """Two photos of a left flank and two of a right flank, as a survey folder."""
    root = shared_dataset("leopards")
    survey = tmp_path / "survey"
    for folder in ("BRL17_Left", "BGL09_right"):
        (survey / folder).mkdir(parents=True)
        for photo in sorted((root / folder).glob("*.jpg"))[:2]:
            shutil.copy(photo, survey / folder / photo.name)
    return survey


def animals_json(project) -> dict[int, dict]:
    return {row["id"]: row for row in json.loads(pelage("animals", str(project), "--json").stdout)}


def test_identify_guesses_flanks_and_a_reviewers_word_survives_it(tmp_path, user_home, leopard_survey, head):
    project = tmp_path / "project"
    pelage("import", str(leopard_survey), "--project", str(project), "--threads", "2")
    identified = pelage("identify", str(project), "--threads", "2")
    assert "Flank guessed" in identified.stdout or "too unsure" in identified.stdout
    animals = animals_json(project)
    assert len(animals) >= 4
    for row in animals.values():
        assert row["flank_source"] == "predicted" and 0.5 <= row["flank_confidence"] <= 1.0
        assert (row["flank"] is None) == (row["flank_confidence"] < head.threshold) and row["flank"] in ("left", "right", None)

    chosen, row = next(iter(animals.items()))
    told = "right" if row["flank"] == "left" else "left"  # the reviewer disagrees with the guess, or fills a gap
    pelage("flank", str(project), str(chosen), told)
    # Identify again from scratch: a new model's embeddings, and every guess thrown away.
    with open_project(project) as opened, transaction(opened.sessions) as session:
        session.execute(delete(Embedding))
        session.execute(update(Detection).where(Detection.flank_source == FlankSource.PREDICTED)
                        .values(flank=None, flank_source=None, flank_confidence=None))
    pelage("identify", str(project), "--threads", "2")
    again = animals_json(project)
    assert (again[chosen]["flank"], again[chosen]["flank_source"], again[chosen]["flank_confidence"]) == (told, "user", None)
    for animal_id, row in again.items():
        if animal_id != chosen:  # guessed again, the same way: the same crops through the same model
            assert row["flank_source"] == "predicted" and row["flank"] == animals[animal_id]["flank"]
            assert row["flank_confidence"] == pytest.approx(animals[animal_id]["flank_confidence"], abs=1e-3)


def test_the_card_says_whose_word_the_flank_is():
    from pelage.ui.cards import describe_record

    def record(flank, source, confidence) -> AnimalRecord:
        return AnimalRecord(7, "a.jpg", "s", "ST01", "CAM-A", datetime(2024, 3, 1, 19, 49, 36), (0, 0, 1, 1), 0.9, "animal", "saliency",
                            flank, source, confidence)

    assert "left flank, predicted 93 %" in describe_record(record("left", "predicted", 0.931), "left")
    assert "flank unknown, too unsure to guess" in describe_record(record(None, "predicted", 0.61), None)
    assert "right flank, set by reviewer" in describe_record(record("right", "user", None), "right")
    assert "right flank, set by reviewer" in describe_record(record("left", "predicted", 0.9), "right")  # changed in this session
    assert " · flank unknown · " in describe_record(record(None, None, None), None)
