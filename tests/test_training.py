"""Training on tiny synthetic crops: mirrored classes, checkpoints and resume, and the saved model folder."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from pelage.reid.bundle import load_model, read_bundle, resolve_model_dir, save_model
from pelage.reid.checkpoints import Checkpoint, CheckpointError, read_checkpoint, save_checkpoint
from pelage.reid.embed import embed_with
from pelage.reid.errors import ModelFolderError
from pelage.reid.nets import ModelConfig
from pelage.reid.train import AugmentedCrops, LabelledCrop, Recipe, class_table, learning_rate_factor, train_embedding

SMALL = ModelConfig(input_height=64, input_width=128, embedding_dim=32)
RECIPE = Recipe(epochs=2, classes_per_batch=2, images_per_class=2, warmup_epochs=1, decay_epochs=(2,), workers=0, device="cpu")


def striped_crops(identities: int = 3, per_view: int = 2) -> list[LabelledCrop]:
    """Crops whose left half is bright and right half dark, with a stripe pattern per identity."""
    rng = np.random.default_rng(0)
    crops = []
    for identity in range(identities):
        for view in ("left", "right"):
            for _ in range(per_view):
                image = np.zeros((60, 120, 4), np.uint8)
                image[:, :60, :3] = 220
                image[:, 60:, :3] = 40
                image[:, identity * 10 + 5::30, 3] = 255
                image[:, :, :3] = np.clip(image[:, :, :3] + rng.integers(-10, 10, image[:, :, :3].shape), 0, 255)
                crops.append(LabelledCrop(image, f"id{identity}", view))
    return crops


def test_a_mirrored_crop_is_its_own_class():
    crops = striped_crops()
    table = class_table(crops, mirror_classes=True)
    n = len(crops)
    assert len(table.labels) == 2 * n
    assert set(table.labels[:n]).isdisjoint(table.labels[n:])
    assert len(table.names) == 2 * 3 * 2  # identity × view, and each mirrored
    assert table.names[table.labels[n]] == f"{table.names[table.labels[0]]}/mirrored"
    # Left and right flanks of one animal are different classes too.
    assert table.labels[0] != table.labels[2]
    assert len(class_table(crops, mirror_classes=False).labels) == n


def test_the_mirrored_sample_shows_the_mirrored_pattern():
    crops = striped_crops()
    dataset = AugmentedCrops(crops, class_table(crops, True), SMALL)
    torch.manual_seed(0)
    plain, plain_label = dataset[0]
    mirrored, mirrored_label = dataset[len(crops)]
    assert mirrored_label != plain_label
    width = SMALL.input_width
    # Channel 0 is red: bright on the left of the original photo, on the right of its mirror image.
    assert plain[0, :, : width // 3].mean() > plain[0, :, -width // 3:].mean()
    assert mirrored[0, :, : width // 3].mean() < mirrored[0, :, -width // 3:].mean()


def test_random_erasing_blacks_out_one_rectangle_of_every_channel_only_when_asked():
    from pelage.reid.transforms import augment

    image = np.random.default_rng(1).integers(1, 256, (72, 144, 4)).astype(np.uint8)
    for seed in range(30):  # the same draws with and without erasing: they differ by one black rectangle
        kept = augment(image, 64, 128, np.random.default_rng(seed))
        erased = augment(image, 64, 128, np.random.default_rng(seed), erasing=1.0)
        changed = (kept != erased).any(axis=2)
        assert (erased[changed] == 0).all()
        rows, cols = np.nonzero(changed)
        rectangle = np.zeros_like(changed)
        rectangle[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
        assert ((erased == 0).all(axis=2) | ~rectangle).all()  # every channel black over the whole rectangle
        assert 0.02 * 64 * 128 * 0.9 <= rectangle.sum() <= 0.3 * 64 * 128 * 1.1
        assert (augment(image, 64, 128, np.random.default_rng(seed), erasing=0.0) == kept).all()
    crops = striped_crops()  # the recipe's switch reaches the training samples
    black = torch.tensor([-m / s for m, s in zip(SMALL.mean, SMALL.std, strict=True)]).view(-1, 1, 1)
    blacked_out = []
    for erasing in (0.0, replace(RECIPE, random_erasing=1.0).random_erasing):
        torch.manual_seed(0)
        sample, _ = AugmentedCrops(crops, class_table(crops, True), SMALL, erasing)[0]
        blacked_out.append(int(torch.isclose(sample, black).all(dim=0).sum()))
    assert blacked_out[1] - blacked_out[0] >= 0.02 * 64 * 128 * 0.9


def test_learning_rate_warms_up_then_steps_down():
    recipe = Recipe(warmup_epochs=5, decay_epochs=(40, 52), decay_factor=0.1)
    assert learning_rate_factor(recipe, 0) == pytest.approx(0.1)
    assert learning_rate_factor(recipe, 2.5) == pytest.approx(0.55)
    assert learning_rate_factor(recipe, 10) == 1.0
    assert learning_rate_factor(recipe, 45) == pytest.approx(0.1)
    assert learning_rate_factor(recipe, 59) == pytest.approx(0.01)


def test_training_checkpoints_and_resumes(tmp_path):
    crops = striped_crops()
    seen = []
    model, state = train_embedding(crops, tmp_path, replace(RECIPE, triplet_weight=1.0, smoothed_ce_weight=0.5, adaptive_l2=True),
                                   SMALL, progress=seen.append)
    assert state.epoch == 2 and [record["epoch"] for record in seen] == [1, 2]
    assert {"cosface", "triplet", "smoothed_ce", "adaptive_l2"} <= set(seen[0])
    assert (tmp_path / "checkpoint.pt").is_file()
    _, resumed = train_embedding(crops, tmp_path, replace(RECIPE, epochs=3, triplet_weight=1.0, smoothed_ce_weight=0.5, adaptive_l2=True),
                                 SMALL, resume=True)
    assert resumed.epoch == 3 and len(resumed.history) == 3
    assert resumed.history[:2] == state.history


def test_resume_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train_embedding(striped_crops(), tmp_path, RECIPE, SMALL, resume=True)


def test_a_cancel_between_batches_keeps_every_finished_step_and_resume_continues_that_epoch(tmp_path):
    asked = []
    _, state = train_embedding(striped_crops(), tmp_path, RECIPE, SMALL, should_stop=lambda: asked.append(1) or len(asked) > 1)
    saved = read_checkpoint(tmp_path / "checkpoint.pt")
    assert (state.epoch, state.step) == (0, 1) and (saved.epoch, saved.step) == (0, 1) and saved.history == []
    with pytest.raises(CheckpointError, match="does not fit this model"):
        train_embedding(striped_crops(), tmp_path, RECIPE, replace(SMALL, embedding_dim=16), resume=True)
    _, resumed = train_embedding(striped_crops(), tmp_path, RECIPE, SMALL, resume=True)
    assert resumed.epoch == 2 and [record["epoch"] for record in resumed.history] == [1, 2]


def test_a_checkpoint_holds_only_what_the_weights_only_reader_builds(tmp_path):
    checkpoint = Checkpoint({"w": torch.ones(2)}, {"labels": np.arange(3)}, {"state": {}, "param_groups": []}, torch.get_rng_state(),
                            epoch=1, history=[{"epoch": 1, "validation": {"map": np.float64(0.5), "queries": np.int64(4)}}])
    save_checkpoint(checkpoint, tmp_path / "checkpoint.pt")
    read = read_checkpoint(tmp_path / "checkpoint.pt")  # numpy figures became numbers, arrays tensors: the strict reader takes them
    assert type(read.history[0]["validation"]["queries"]) is int and torch.equal(read.task["labels"], torch.arange(3))
    with pytest.raises(TypeError, match="cannot hold a PosixPath|cannot hold a WindowsPath"):
        save_checkpoint(replace(checkpoint, recipe={"where": tmp_path}), tmp_path / "other.pt")
    assert not (tmp_path / "other.pt").exists()


def test_saved_model_loads_and_embeds_like_the_trained_one(tmp_path):
    crops = striped_crops()
    model, _ = train_embedding(crops, tmp_path / "run", RECIPE, SMALL)
    bundle = save_model(model, tmp_path / "model", "tiny")
    loaded, read = load_model(tmp_path / "model")
    assert read.model_id == bundle.model_id and read.model_id.startswith("tiny-")
    assert read.config == SMALL
    images = [crop.image for crop in crops]
    original, reloaded = embed_with(model, images), embed_with(loaded, images)
    assert reloaded.shape == (len(crops), 32) and reloaded.dtype == np.float32
    assert np.allclose(np.linalg.norm(reloaded, axis=1), 1.0, atol=1e-5)
    assert (original * reloaded).sum(axis=1).min() > 0.995  # float16 storage moves a tiny random net by ~1e-3, a trained one less
    assert resolve_model_dir(tmp_path / "model") == tmp_path / "model"


def test_mirror_features_compare_both_looks_and_get_their_own_model_id(tmp_path):
    from pelage.reid.embed import identification_vectors
    from pelage.reid.transforms import mirror

    model, _ = train_embedding(striped_crops(), tmp_path / "run", RECIPE, SMALL)
    plain = save_model(model, tmp_path / "plain", "tiny")
    model.config = replace(SMALL, mirror_features=True)
    both = save_model(model, tmp_path / "both", "tiny")
    assert both.model_id == plain.model_id + "-mirror"  # same weights, another kind of vector: never mixed in one index
    loaded, read = load_model(tmp_path / "both")
    assert read.config.mirror_features and read.config.vector_dim == 64
    images = [crop.image for crop in striped_crops()]
    vectors = identification_vectors(loaded, images, batch_size=5)  # batches that do not divide the crops
    as_is, mirrored = embed_with(loaded, images), embed_with(loaded, [mirror(image) for image in images])
    assert vectors.shape == (len(images), 64)
    np.testing.assert_allclose(vectors @ vectors.T, (as_is @ as_is.T + mirrored @ mirrored.T) / 2, atol=1e-5)
    assert identification_vectors(loaded, []).shape == (0, 64)
    assert identification_vectors(load_model(tmp_path / "plain")[0], images).shape == (len(images), 32)


def test_different_weights_get_a_different_model_id(tmp_path):
    model, _ = train_embedding(striped_crops(), tmp_path / "run", RECIPE, SMALL)
    first = save_model(model, tmp_path / "a", "tiny").model_id
    with torch.no_grad():
        model.projection.weight.mul_(1.5)
    assert save_model(model, tmp_path / "b", "tiny").model_id != first


def test_a_broken_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ModelFolderError, match="no bundled model"):
        resolve_model_dir(tmp_path / "nothing-here")
    (tmp_path / "config.json").write_text(json.dumps({"format": 99, "name": "x", "model_id": "x", "model": {}}))
    with pytest.raises(ModelFolderError, match="format"):
        read_bundle(tmp_path)


def test_three_way_split_of_the_nyala_labels_keeps_identities_and_sightings_apart():
    from pelage.reid.metrics import load_labels
    from pelage.reid.workflow import split_rows
    from tests.conftest import shared_dataset

    rows = load_labels(shared_dataset("nyala") / "labels.csv")
    split = split_rows(rows, validation_fraction=0.2, calibration_fraction=0.1, seed=0)
    parts = {"train": split.train, "calibration": split.calibration, "validation": split.validation}
    assert sum(len(part) for part in parts.values()) == len(rows)
    identities = {name: {row.identity for row in part} for name, part in parts.items()}
    sightings = {name: {row.sighting for row in part} for name, part in parts.items()}
    for a in parts:
        for b in parts:
            if a < b:
                assert identities[a].isdisjoint(identities[b]) and sightings[a].isdisjoint(sightings[b])
    total = len({row.identity for row in rows})
    assert abs(len(identities["validation"]) - 0.2 * total) <= 2 and abs(len(identities["calibration"]) - 0.1 * total) <= 2
    assert split_rows(rows, 0.2, 0.1, seed=0).summary() == split.summary()  # reproducible


def nyala_subset(labels: Path, identities: int = 10, photos: int = 3) -> None:
    """The first ``identities`` nyala with at least ``photos`` photos, ``photos`` each, as a labels.csv."""
    from tests.conftest import shared_dataset
    from tests.training_project import nyala_rows

    rows = nyala_rows(shared_dataset("nyala"))
    by_identity: dict[str, list[dict]] = {}
    for row in rows:
        by_identity.setdefault(row["identity"], []).append(row)
    chosen = [group[:photos] for _, group in sorted(by_identity.items()) if len(group) >= photos][:identities]
    with labels.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(row for group in chosen for row in group)


@pytest.mark.slow
def test_folder_training_through_the_command_logs_calibration_figures_checkpoints_and_resumes(tmp_path, installed_u2netp):
    from tests.conftest import shared_dataset
    from tests.test_cli import pelage

    nyala_subset(tmp_path / "labels.csv")
    common = ["train", "--labels", str(tmp_path / "labels.csv"), "--data", str(shared_dataset("nyala")), "--out", str(tmp_path / "model"),
              "--cache", str(tmp_path / "cache"), "--input-size", "96x192", "--frozen-blocks", "5", "--workers", "0", "--threads", "2",
              "--validation-fraction", "0.3", "--calibration-fraction", "0.3", "--device", "cpu"]
    pelage(*common, "--epochs", "1")
    assert read_checkpoint(tmp_path / "model" / "checkpoint.pt").epoch == 1
    pelage(*common, "--epochs", "2", "--resume")  # carries on from the first run's checkpoint: one more epoch, not two

    record = json.loads((tmp_path / "model" / "training.json").read_text(encoding="utf-8"))
    assert record["recipe"]["epochs"] == 2 and [epoch["epoch"] for epoch in record["history"]] == [1, 2]
    # the figures logged while training are the calibration identities'; validation is left for the frozen model
    assert all(0.0 <= epoch["calibration"]["map"] <= 1.0 and "validation" not in epoch and epoch["cosface"] > 0 for epoch in record["history"])
    _, bundle = load_model(tmp_path / "model")
    assert (bundle.config.input_height, bundle.config.input_width) == (96, 192) and bundle.extra["training_data"]["validation"]["identities"]
