"""The training core without a training run: held-out splits, sightings, the registry, DBSCAN, feature-aware
noise and one unsupervised step on synthetic crops."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import torch

from pelage.store import open_project
from pelage.store.schema import Image, TimeSource
from pelage.training import events as ev
from pelage.training.dataset import Sample, _sightings, scorable, split_by_individual
from pelage.training.registry import (
    RegistryError,
    active_model_dir,
    bundled_entry,
    lineage,
    list_models,
    register_model,
    set_active,
)
from pelage.training.unsupervised import ClusterContrastTask, adaptive_eps, dbscan, feature_aware_noise


def samples(individuals: int, photos: int = 3) -> list[Sample]:
    return [Sample(100 * i + p, str(100 * i), "left", f"image:{100 * i + p}", "c", "m", "e")
            for i in range(1, individuals + 1) for p in range(photos)]


def test_the_held_out_split_is_by_individual_stable_and_never_reuses_an_ancestors_training_photos():
    data = samples(10)
    split = split_by_individual(data, 0.3, seed=1)
    held = {s.individual for s in split.held_out}
    assert len(held) == 3 and held.isdisjoint(s.individual for s in split.train)
    assert len(split.train) + len(split.held_out) == len(data)
    # Stable as the survey grows: the same individuals stay held out when new ones arrive.
    grown = split_by_individual(data + samples(14)[len(data):], 0.3, seed=1)
    assert len(held & {s.individual for s in grown.held_out}) >= 2
    touched = split_by_individual(data, 0.3, seed=1, never_hold_out={s.detection_id for s in split.held_out})
    assert held.isdisjoint(s.individual for s in touched.held_out)
    # Never fewer than two held out (one individual always ranks itself first), never fewer than two to train on.
    assert len({s.individual for s in split_by_individual(samples(4), 0.05).held_out}) == 2
    assert split_by_individual(samples(3), 0.5).held_out == []
    assert {s.individual for s in split_by_individual(data, 0.3, held_out=["100", "200"]).held_out} == {"100", "200"}
    with pytest.raises(ValueError):
        split_by_individual(data, 1.0)


def test_photos_of_one_burst_are_one_sighting_but_file_times_never_group():
    t = datetime(2024, 5, 1, 6, 0, 0)
    images = {1: Image(camera_id=1, captured_at=t, time_source=TimeSource.EXIF),
              2: Image(camera_id=1, captured_at=t + timedelta(seconds=20), time_source=TimeSource.EXIF),
              3: Image(camera_id=1, captured_at=t + timedelta(minutes=5), time_source=TimeSource.EXIF),
              4: Image(camera_id=2, captured_at=t + timedelta(seconds=5), time_source=TimeSource.EXIF),
              5: Image(camera_id=3, captured_at=t, time_source=TimeSource.FILE_TIME),
              6: Image(camera_id=3, captured_at=t, time_source=TimeSource.FILE_TIME)}
    key = _sightings(images)
    assert key[1] == key[2] and len({key[1], key[3], key[4], key[5], key[6]}) == 5
    burst = [Sample(i, "7", "left", key[i], "c", "m", "e") for i in (1, 2)]
    assert scorable(burst) == set() and scorable([*burst, Sample(3, "7", "left", key[3], "c", "m", "e")]) == {"7"}


def test_a_job_record_round_trips_and_bad_specs_are_refused(tmp_path):
    spec = ev.TrainingSpec(project_root=str(tmp_path), input_size=(96, 192), held_out=("4", "9"), extra_folders=(("a.csv", "a"),))
    ev.JobRecord("job-1", spec, status="cancelled", extra={"before": {"map": 0.5}}).save(tmp_path / "models" / "job-1")
    loaded = ev.list_jobs(tmp_path)[0]
    assert loaded.spec == spec and loaded.status == "cancelled" and loaded.extra["before"] == {"map": 0.5}
    saved = json.loads((tmp_path / "models" / "job-1" / ev.JOB_FILE).read_text(encoding="utf-8"))
    assert "project_root" not in saved["spec"]  # where the job folder lies says where its project is
    assert ev.JobRecord.load(Path(shutil.copytree(tmp_path / "models", tmp_path / "moved" / "models")) / "job-1").spec.project_root \
        == str(tmp_path / "moved")
    assert ev.resumable_jobs(tmp_path) == []  # no checkpoint: nothing to resume
    (tmp_path / "models" / "job-1" / ev.CHECKPOINT_FILE).write_bytes(b"x")
    assert [job.job_id for job in ev.resumable_jobs(tmp_path)] == ["job-1"]
    for bad in ({"kind": "magic"}, {"epochs": 0}, {"margin_function": "huge"}):
        with pytest.raises(ValueError):
            ev.TrainingSpec(project_root=".", **bad)


def fake_model(folder, name: str) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"format": 1, "name": name}))


def test_the_registry_tracks_provenance_and_one_active_model(tmp_path, database_url):
    with open_project(tmp_path / "p", create=True, database_url=database_url) as project:
        with project.sessions() as session:
            (only,) = list_models(session)
        bundled = bundled_entry()
        assert only.id == bundled.id and only.active and only.bundled
        assert active_model_dir(project).name == "nyala-lite0"
        fake_model(project.root / "models" / "a", "a")
        fake_model(project.root / "models" / "b", "b")
        register_model(project, "a-1", "a", project.root / "models" / "a", bundled.id, {"epochs": 1}, {"images": 5}, {"after": {"map": 0.5}})
        register_model(project, "b-1", "b", project.root / "models" / "b", "a-1", {"epochs": 2}, {"images": 6}, {})
        with project.sessions() as session:
            entries = {entry.id: entry for entry in list_models(session)}
            assert [entry.id for entry in lineage(session, "b-1")] == ["b-1", "a-1", bundled.id]
        assert entries[bundled.id].active and not entries["a-1"].active and entries["a-1"].data == {"images": 5}
        assert entries["a-1"].path == "models/a" and entries["a-1"].created is not None
        set_active(project, "b-1")
        assert active_model_dir(project) == project.root / "models" / "b"
        set_active(project, bundled.id)  # the previous models stay selectable
        with project.sessions() as session:
            assert [entry.id for entry in list_models(session) if entry.active] == [bundled.id]
        with pytest.raises(RegistryError, match="no model"):
            set_active(project, "c-1")
        with pytest.raises(RegistryError, match="inside the project"):
            register_model(project, "x", "x", tmp_path, None, {}, {}, {})
        (project.root / "models" / "a" / "config.json").unlink()
        with pytest.raises(RegistryError, match="no config.json"):
            set_active(project, "a-1")


def test_a_row_naming_the_bundled_model_by_an_id_it_replaced_lists_as_the_bundled_model_now(tmp_path):
    from pelage.reid.bundle import read_bundle, resolve_model_dir
    from pelage.store import RegisteredModel, transaction

    earlier = read_bundle(resolve_model_dir()).extra["earlier_model_ids"][0]  # the id before the last upgrade
    bundled = bundled_entry()
    with open_project(tmp_path / "p", create=True) as project:
        with transaction(project.sessions) as session:  # "Use this model" before the upgrade, and a fine-tune of it
            session.add(RegisteredModel(id=earlier, name="nyala-lite0", path="nyala-lite0", active=True))
        fake_model(project.root / "models" / "a", "a")
        register_model(project, "a-1", "a", project.root / "models" / "a", earlier, {}, {}, {})
        with project.sessions() as session:
            entries = list_models(session)
            assert [(entry.id, entry.active) for entry in entries] == [(bundled.id, True), ("a-1", False)]
            assert [entry.id for entry in lineage(session, "a-1")] == ["a-1", bundled.id]
        assert active_model_dir(project).name == "nyala-lite0"
        set_active(project, "a-1")
        set_active(project, bundled.id)
        with project.sessions() as session:
            assert [entry.id for entry in list_models(session) if entry.active] == [bundled.id]


def test_dbscan_finds_dense_groups_and_leaves_outliers_out():
    points = np.array([[0, 0], [0, 0.1], [0.1, 0], [5, 5], [5, 5.1], [20, 20]], float)
    distance = np.linalg.norm(points[:, None] - points[None], axis=2)
    labels = dbscan(distance, eps=0.5)
    assert labels[0] == labels[1] == labels[2] != labels[3] == labels[4] and labels[5] == -1
    assert 0.09 < adaptive_eps(distance) < 0.2
    assert (dbscan(distance, eps=0.01) == -1).all()


def pattern(identity: int, seed: int) -> np.ndarray:
    """Three very different coats (a colour and a stripe direction each), a little noise per photo."""
    rng = np.random.default_rng(seed)
    image = np.zeros((60, 120, 4), np.uint8)
    image[:, :, :3] = (60, 60, 60)
    image[:, :, identity] = 200
    stripes = image[::8] if identity == 0 else image[:, ::8] if identity == 1 else image[::8, ::8]
    stripes[..., :3] = 250
    stripes[..., 3] = 255
    image[:, :, :3] = np.clip(image[:, :, :3].astype(int) + rng.integers(-8, 8, (60, 120, 3)), 0, 255)
    return image


def test_one_unsupervised_epoch_clusters_trains_and_checkpoints(tmp_path):
    from pelage.reid.nets import EmbeddingNet, ModelConfig
    from pelage.reid.train import run_loop
    from pelage.training.finetune import recipe_for

    torch.manual_seed(0)
    model = EmbeddingNet(ModelConfig(input_height=64, input_width=128, embedding_dim=32), pretrained=True).eval()
    images = torch.randn(2, 4, 64, 128)
    noised = feature_aware_noise(model, images, share=0.1)
    changed = (noised != images).any(dim=1).float().mean().item()
    assert 0.05 < changed < 0.15  # about the share asked for, on the places the stem responds to most

    crops = [pattern(identity, seed) for identity in range(3) for seed in range(4)]
    spec = ev.TrainingSpec(project_root=".", epochs=1, classes_per_batch=2, images_per_class=2, frozen_blocks=5)
    task = ClusterContrastTask(crops, recipe_for(spec), model, torch.device("cpu"))
    steps: list = []
    statistics = {key: value.clone() for key, value in model.state_dict().items() if "running_" in key}
    state, cancelled = run_loop(model, task, recipe_for(spec), tmp_path / "checkpoint.pt", torch.device("cpu"), on_step=steps.append)
    assert not cancelled and state.epoch == 1 and steps and all(np.isfinite(s.loss) for s in steps)
    # A fine-tune keeps the start model's batch-norm statistics: small P×K batches would only make them noisy.
    assert statistics and all(torch.equal(model.state_dict()[key], value) for key, value in statistics.items())
    assert task.history[0]["clusters"] >= 2 and (task.labels >= 0).sum() >= 4
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)  # everything a checkpoint holds loads without pickle
    assert saved["epoch"] == 1 and len(saved["task"]["memory"]) == task.history[0]["clusters"]


def test_the_saved_fine_tune_is_the_weight_average_of_start_and_trained_models():
    from pelage.reid.nets import EmbeddingNet, ModelConfig
    from pelage.training.finetune import averaged_with_start

    config = ModelConfig(input_height=32, input_width=64, embedding_dim=16)
    torch.manual_seed(0)
    start = EmbeddingNet(config, pretrained=False)
    trained = EmbeddingNet(config, pretrained=False)  # different random weights stand in for training
    trained_before = {key: value.clone() for key, value in trained.state_dict().items()}
    start_state = start.state_dict()
    mixed = averaged_with_start(trained, start_state, 0.25).state_dict()
    for key, value in mixed.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.25 * start_state[key] + 0.75 * trained_before[key])
        else:
            assert torch.equal(value, trained_before[key])  # batch counters are the trained model's
    assert all(torch.equal(trained.state_dict()[key], value) for key, value in trained_before.items())  # a copy: the trained model is untouched
    unchanged = averaged_with_start(trained, start_state, 0.0).state_dict()
    assert all(torch.equal(unchanged[key], value) for key, value in trained_before.items())
    with pytest.raises(ValueError, match="start_weight"):
        ev.TrainingSpec(project_root=".", start_weight=1.0)
