"""P×K batches: P classes with K images each, as spotID trains (K = 4).

Every batch then holds positives for every anchor, which batch-hard triplet mining needs and which
also steadies CosFace on small data sets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


class PKSampler(Sampler[list[int]]):
    """Yields batches (lists of dataset indices) of ``classes_per_batch`` × ``images_per_class``.

    Classes with fewer than K images are sampled with replacement inside the class so the shape
    always holds; an epoch visits every eligible class about once per ``len(classes) // P`` batches.
    Classes with a single image cannot give a positive pair and are left out.
    """

    def __init__(self, labels: Sequence[int], classes_per_batch: int, images_per_class: int = 4, seed: int = 0) -> None:
        self.images_per_class = images_per_class
        by_class: dict[int, list[int]] = defaultdict(list)
        for index, label in enumerate(labels):
            by_class[int(label)].append(index)
        self.by_class = {label: indices for label, indices in by_class.items() if len(indices) >= 2}
        if len(self.by_class) < classes_per_batch:
            raise ValueError(f"only {len(self.by_class)} classes have two or more images; a batch needs {classes_per_batch}")
        self.classes_per_batch = classes_per_batch
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.by_class) // self.classes_per_batch

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng((self.seed, self.epoch))
        classes = rng.permutation(sorted(self.by_class))
        for start in range(0, len(self) * self.classes_per_batch, self.classes_per_batch):
            batch: list[int] = []
            for label in classes[start:start + self.classes_per_batch]:
                members = self.by_class[int(label)]
                replace = len(members) < self.images_per_class
                batch.extend(int(i) for i in rng.choice(members, self.images_per_class, replace=replace))
            yield batch
