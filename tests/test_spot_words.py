"""Spot words: the bag of keypoint kinds appended to identification vectors, so a shortlist sets other coats aside."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pelage.reid.bundle import add_spot_words, load_model, save_model
from pelage.reid.embed import embed_with, identification_vectors, mirror_halves
from pelage.reid.errors import ModelFolderError
from pelage.reid.nets import EmbeddingNet
from pelage.reid.spot_words import VOCABULARY_FILE, SpotVocabulary, fit_vocabulary, model_input_descriptors, save_vocabulary
from pelage.reid.transforms import mirror
from tests.conftest import shared_dataset
from tests.test_training import SMALL


def coats(count: int = 6, seed: int = 0) -> list[np.ndarray]:
    """Model inputs (masked RGB + edge) with random blotches on a grey animal inside a black background."""
    rng = np.random.default_rng(seed)
    crops = []
    for _ in range(count):
        image = np.zeros((120, 240, 4), np.uint8)
        image[10:110, 10:230, :3] = 150
        for _ in range(60):
            y, x = rng.integers(15, 105), rng.integers(15, 225)
            image[y - 3:y + 3, x - 4:x + 4, :3] = rng.integers(0, 80)
        crops.append(image)
    return crops


@pytest.fixture(scope="module")
def vocabulary() -> SpotVocabulary:
    return fit_vocabulary([model_input_descriptors(crop) for crop in coats()], size=48)


def test_a_crops_words_are_a_unit_vector_and_a_crop_without_keypoints_has_none(vocabulary):
    descriptors = model_input_descriptors(coats(1, seed=5)[0])
    assert len(descriptors) > 20  # the blotches give keypoints inside the animal
    words = vocabulary.histogram(descriptors)
    assert words.shape == (48,) and abs(np.linalg.norm(words) - 1) < 1e-5 and (words >= 0).all()
    assert not vocabulary.histogram(model_input_descriptors(np.zeros((60, 120, 4), np.uint8))).any()
    again = fit_vocabulary([model_input_descriptors(crop) for crop in coats()], size=48)
    assert again.signature() == vocabulary.signature()  # fitted with a seed: the same words, the same model id


def test_a_model_with_spot_words_ranks_by_the_weighted_sum_and_gets_its_own_id(tmp_path, vocabulary):
    model = EmbeddingNet(SMALL, pretrained=False).eval()
    plain = save_model(model, tmp_path / "plain", "tiny")
    model.spot_words = vocabulary
    with_words = save_model(model, tmp_path / "words", "tiny")
    assert with_words.model_id == f"{plain.model_id}-words48.{vocabulary.signature()}"
    assert with_words.config.spot_words == 48 and (tmp_path / "words" / VOCABULARY_FILE).is_file()
    loaded, _ = load_model(tmp_path / "words")
    crops = coats(5, seed=1)
    vectors = identification_vectors(loaded, crops, batch_size=2)
    assert vectors.shape == (5, SMALL.embedding_dim + 48)
    embedding = embed_with(loaded, crops)
    words = np.stack([vocabulary.histogram(model_input_descriptors(crop)) for crop in crops])
    weight = SMALL.spot_words_weight
    np.testing.assert_allclose(vectors @ vectors.T, (embedding @ embedding.T + weight * words @ words.T) / (1 + weight), atol=1e-5)
    assert identification_vectors(load_model(tmp_path / "plain")[0], crops).shape == (5, SMALL.embedding_dim)


def test_the_flank_predictor_reads_both_looks_back_off_vectors_with_words(tmp_path, vocabulary):
    model = EmbeddingNet(SMALL, pretrained=False).eval()
    model.config = replace(SMALL, mirror_features=True)
    model.spot_words = vocabulary
    bundle = save_model(model, tmp_path / "both", "tiny")
    loaded, _ = load_model(tmp_path / "both")
    crops = coats(3, seed=2)
    as_is, mirrored = mirror_halves(identification_vectors(loaded, crops), bundle.config)
    np.testing.assert_allclose(as_is, embed_with(loaded, crops), atol=1e-5)
    np.testing.assert_allclose(mirrored, embed_with(loaded, [mirror(crop) for crop in crops]), atol=1e-5)


def test_a_damaged_or_swapped_vocabulary_is_a_clear_error(tmp_path, vocabulary):
    model = EmbeddingNet(SMALL, pretrained=False).eval()
    save_model(model, tmp_path / "model", "tiny")
    bundle = add_spot_words(tmp_path / "model", vocabulary)  # how the bundled model got its words
    assert bundle.extra["earlier_model_ids"] and bundle.model_id.startswith(bundle.extra["earlier_model_ids"][0])
    assert load_model(tmp_path / "model")[0].spot_words.signature() == vocabulary.signature()
    other = SpotVocabulary(vocabulary.centres[::-1].copy(), vocabulary.idf[::-1].copy())
    save_vocabulary(other, tmp_path / "model")
    with pytest.raises(ModelFolderError, match="is not the vocabulary model tiny-.* was made with: copy the model folder again"):
        load_model(tmp_path / "model")
    (tmp_path / "model" / VOCABULARY_FILE).write_bytes(b"not a safetensors file")
    with pytest.raises(ModelFolderError, match="is not a readable spot vocabulary"):
        load_model(tmp_path / "model")
    (tmp_path / "model" / VOCABULARY_FILE).unlink()
    with pytest.raises(ModelFolderError, match="is not a readable spot vocabulary"):
        load_model(tmp_path / "model")


def test_the_bundled_words_keep_lions_out_of_a_nyalas_shortlist(installed_u2netp, tmp_path_factory):
    """The reason spot words exist: the nyala-trained embedding lets other species' coats into a nyala's neighbours."""
    from pelage.reid.embed import Embedder
    from pelage.reid.metrics import load_labels
    from pelage.reid.workflow import prepare_folder

    embedder = Embedder(device="cpu", threads=2)
    assert embedder.bundle.config.spot_words
    nyala_root, lion_root = shared_dataset("nyala"), shared_dataset("lion")
    held_out = set(embedder.bundle.extra["training_data"]["validation"]["identities"])
    nyala = [row.path for row in load_labels(nyala_root / "labels.csv") if row.identity in held_out][:30]
    lions = sorted(row.path for row in load_labels(lion_root / "labels.csv"))[:60]
    crops = (prepare_folder(nyala_root, tmp_path_factory.mktemp("nyala"), nyala, threads=2).crops()
             + prepare_folder(lion_root, tmp_path_factory.mktemp("lion"), lions, threads=2).crops())
    is_lion = np.arange(len(crops)) >= 30
    vectors = embedder.embed(crops)
    embedding = vectors[:, :embedder.bundle.config.embedding_width]
    embedding /= np.linalg.norm(embedding, axis=1, keepdims=True)

    def lions_among_neighbours(v: np.ndarray) -> float:
        similarity = v[:30] @ v.T
        similarity[np.arange(30), np.arange(30)] = -np.inf
        return float(is_lion[np.argsort(-similarity, axis=1)[:, :10]].mean())

    with_words, without = lions_among_neighbours(vectors), lions_among_neighbours(embedding)
    # By chance 60 of the other 89 crops (67 %) are lions; the embedding alone keeps some, the words fewer.
    assert with_words < without and with_words < 0.5 * (60 / 89)
