"""The P×K sampler's guarantee: every batch holds P different classes with exactly K images each."""

from __future__ import annotations

from collections import Counter

import pytest

from pelage.reid.sampler import PKSampler

# Class c has c + 1 images (class 0 is a singleton and cannot give a positive pair).
LABELS = [c for c in range(10) for _ in range(c + 1)]


def test_every_batch_is_p_classes_times_k_images():
    sampler = PKSampler(LABELS, classes_per_batch=3, images_per_class=4, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 9 // 3
    for batch in batches:
        per_class = Counter(LABELS[i] for i in batch)
        assert len(per_class) == 3 and set(per_class.values()) == {4}
        assert 0 not in per_class


def test_classes_with_enough_images_are_drawn_without_repeats():
    sampler = PKSampler(LABELS, classes_per_batch=3, images_per_class=4, seed=1)
    for batch in sampler:
        for label in {LABELS[i] for i in batch}:
            members = [i for i in batch if LABELS[i] == label]
            if label + 1 >= 4:
                assert len(set(members)) == 4


def test_an_epoch_visits_each_class_once_and_epochs_differ():
    sampler = PKSampler(LABELS, classes_per_batch=3, images_per_class=4, seed=1)
    first = list(sampler)
    assert sorted({LABELS[i] for batch in first for i in batch}) == list(range(1, 10))
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first  # reproducible from (seed, epoch)


def test_too_few_classes_is_a_clear_error():
    with pytest.raises(ValueError, match="two or more images"):
        PKSampler([0, 0, 1], classes_per_batch=2)
