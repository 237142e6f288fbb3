"""Unsupervised adaptation to a survey before (or besides) confirmed matches: FANCL, kept small.

After Zhang, Zhao & Liu, "Feature-Aware Noise Contrastive Learning for Unsupervised Red Panda
Re-Identification" (/work/shared/papers/002_…): at the start of every epoch the survey's animals are
embedded and clustered with DBSCAN; clusters become pseudo-identities with a memory of cluster centres,
updated by momentum after every step; each batch is also seen with pepper noise on the places the network
looks at most (its stem's activation map), and the loss is the cluster contrastive loss on the original
and the noised photos plus the consistency between them (the paper's eqs. 4, 7 and 9).

Simplifications, on purpose: one shared encoder instead of two branches and a fusion layer (a laptop
trains one network), and an eps for DBSCAN taken from the data (the median distance of each photo to its
nearest neighbour) instead of a hand-set one. Confirmed individuals are never trained on here: they are
the held-out set the result is judged on, and the app offers the adapted model only when it does better.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from torch.utils.data import DataLoader

from pelage.reid.embed import embed_with
from pelage.reid.nets import EmbeddingNet
from pelage.reid.sampler import PKSampler
from pelage.reid.train import AugmentedCrops, ClassTable, LabelledCrop, Recipe, SkipFirst
from pelage.store import Project
from pelage.store.schema import Detection
from pelage.training import events as ev
from pelage.training.dataset import Split, confirmed_samples, load_crops, samples_for, scorable
from pelage.training.finetune import Emit, finish_job, prepare_job, recipe_for, run_steps

TEMPERATURE = 0.05  # τ of eq. 4 (the paper's value)
MOMENTUM = 0.1  # α of eq. 9 (the paper's value)
NOISE_SHARE = 0.1  # share of the image hidden by feature-aware noise (the paper's best: 5–10 %)


def dbscan(distance: np.ndarray, eps: float, min_samples: int = 2) -> np.ndarray:
    """DBSCAN on a precomputed distance matrix: cluster index per point, −1 for noise.

    Core points have ``min_samples`` points (themselves included) within ``eps``; clusters are the
    connected components of cores; a border point joins its nearest core's cluster.
    """
    near = distance <= eps
    core = near.sum(axis=1) >= min_samples
    labels = np.full(len(distance), -1, np.int64)
    if not core.any():
        return labels
    core_index = np.flatnonzero(core)
    _, components = connected_components(csr_matrix(near[np.ix_(core_index, core_index)]), directed=False)
    labels[core_index] = components
    for point in np.flatnonzero(~core):
        reachable = core_index[near[point, core_index]]
        if len(reachable):
            labels[point] = labels[reachable[np.argmin(distance[point, reachable])]]
    return labels


def adaptive_eps(distance: np.ndarray) -> float:
    """The median distance from each photo to its nearest other photo."""
    masked = distance + np.diag(np.full(len(distance), np.inf))
    return float(np.median(masked.min(axis=1)))


def feature_aware_noise(model: EmbeddingNet, images: torch.Tensor, share: float = NOISE_SHARE) -> torch.Tensor:
    """Pepper noise (pixel value 0) on the ``share`` of each image where the stem responds most (eqs. 1–3)."""
    backbone = model.backbone
    with torch.no_grad():
        activation = backbone.bn1(backbone.conv_stem(images)).relu().mean(dim=1, keepdim=True)
        activation = F.interpolate(activation, size=images.shape[-2:], mode="bilinear", align_corners=False).flatten(1)
        threshold = torch.quantile(activation.float(), 1.0 - share, dim=1, keepdim=True)
        positions = (activation >= threshold).view(images.shape[0], 1, *images.shape[-2:])
        mean = torch.tensor(model.config.mean, device=images.device, dtype=images.dtype).view(1, -1, 1, 1)
        std = torch.tensor(model.config.std, device=images.device, dtype=images.dtype).view(1, -1, 1, 1)
        black = (0.0 - mean) / std  # what a 0 pixel becomes after normalisation
    return torch.where(positions, black.expand_as(images), images)


class ClusterContrastTask:
    """Pseudo-identities from DBSCAN each epoch; cluster memories for original and noised features."""

    def __init__(self, crops: Sequence[np.ndarray], recipe: Recipe, model: EmbeddingNet, device: torch.device,
                 on_clusters: Callable[[int, int, int], None] = lambda epoch, clusters, clustered: None) -> None:
        self.crops = list(crops)
        self.recipe, self.device, self.config = recipe, device, model.config
        self.labels = np.full(len(self.crops), -1, np.int64)
        self.memory = torch.zeros(0, model.config.embedding_dim)
        self.noised_memory = torch.zeros(0, model.config.embedding_dim)
        self.sampler: PKSampler | None = None
        self.dataset: AugmentedCrops | None = None
        self.on_clusters = on_clusters
        self.history: list[dict] = []

    def trainable(self) -> list[torch.nn.Parameter]:
        return []

    def _cluster(self, model: EmbeddingNet, epoch: int) -> None:
        vectors = embed_with(model, self.crops)
        distance = np.clip(1.0 - vectors @ vectors.T, 0.0, 2.0)
        labels = dbscan(distance, adaptive_eps(distance))
        clusters = int(labels.max()) + 1
        centres = np.zeros((max(clusters, 1), vectors.shape[1]), np.float32)
        if clusters:
            np.add.at(centres, labels[labels >= 0], vectors[labels >= 0])
        self.labels = labels
        self.memory = F.normalize(torch.from_numpy(centres), dim=1).to(self.device)
        self.noised_memory = self.memory.clone()  # the paper initialises each memory from its own branch; one encoder shares them
        self.history.append({"epoch": epoch + 1, "clusters": clusters, "clustered": int((labels >= 0).sum())})
        self.on_clusters(epoch + 1, clusters, int((labels >= 0).sum()))

    def _build(self) -> int:
        kept = np.flatnonzero(self.labels >= 0)
        if len(np.unique(self.labels[kept])) < 2:
            raise ValueError("clustering found fewer than two groups of similar photos: there is nothing to adapt to yet")
        table = ClassTable(self.labels[kept], [str(i) for i in range(int(self.labels.max()) + 1)], False)
        self.dataset = AugmentedCrops([LabelledCrop(self.crops[i], "", "") for i in kept], table, self.config)
        classes = len(np.unique(self.labels[kept]))
        self.sampler = PKSampler(table.labels, min(self.recipe.classes_per_batch, classes), self.recipe.images_per_class, seed=self.recipe.seed)
        return len(self.sampler)

    def begin_epoch(self, model: EmbeddingNet, epoch: int, resumed: bool) -> int:
        if not resumed or len(self.memory) == 0:
            self._cluster(model, epoch)
        steps = self._build()
        self.sampler.set_epoch(epoch)
        return steps

    def batches(self, start_step: int) -> DataLoader:
        return DataLoader(self.dataset, batch_sampler=SkipFirst(self.sampler, start_step), num_workers=0)

    def forward(self, model: EmbeddingNet, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return model(images), model(feature_aware_noise(model, images))

    def loss(self, outputs: tuple[torch.Tensor, torch.Tensor], labels: torch.Tensor) -> dict[str, torch.Tensor]:
        original, noised = (F.normalize(x.float(), dim=1) for x in outputs)
        parts = {
            "cluster": F.cross_entropy(original @ self.memory.T / TEMPERATURE, labels),
            "cluster_noised": F.cross_entropy(noised @ self.noised_memory.T / TEMPERATURE, labels),
            "consistency": 2.0 - (original * self.noised_memory[labels]).sum(1).mean() - (original * noised).sum(1).mean(),
        }
        with torch.no_grad():  # eq. 9, one update per sample, on copies: the loss's graph still holds the old memories
            self.memory, self.noised_memory = self.memory.clone(), self.noised_memory.clone()
            for memory, features in ((self.memory, original), (self.noised_memory, noised)):
                for label, feature in zip(labels.tolist(), features.detach(), strict=True):
                    memory[label] = F.normalize(MOMENTUM * memory[label] + (1 - MOMENTUM) * feature, dim=0)
        return parts

    def state_dict(self) -> dict:
        return {"labels": torch.from_numpy(self.labels), "memory": self.memory.cpu(), "noised_memory": self.noised_memory.cpu(),
                "history": self.history}

    def load_state_dict(self, state: dict) -> None:
        self.labels = state["labels"].numpy()
        self.memory, self.noised_memory = state["memory"].to(self.device), state["noised_memory"].to(self.device)
        self.history = list(state["history"])


def unsupervised_split(spec: ev.TrainingSpec) -> Callable[[Project, set[int]], Split]:
    """Train on every animal that is not part of a confirmed individual; hold out the confirmed ones (all of them)."""
    def split(project: Project, trained_on: set[int]) -> Split:
        from sqlalchemy import select

        held = confirmed_samples(project, spec.min_images)
        touched = {s.individual for s in held if s.detection_id in trained_on}  # a start model that trained on them cannot be judged on them
        held = [s for s in held if s.individual in scorable(held) and s.individual not in touched]
        if len({s.individual for s in held}) < 2:
            raise ValueError("unsupervised adaptation is judged on confirmed individuals: confirm matches for at least two "
                             "animals (two photos each, from different sightings) first")
        confirmed = {s.detection_id for s in held}
        with project.sessions() as session:
            animals = [i for i in session.scalars(select(Detection.id).where(Detection.label == "animal", Detection.crop_path.is_not(None))
                                                  .order_by(Detection.id)) if i not in confirmed]
        from pelage.review.individuals import Individual

        train = samples_for(project, [Individual(i, "", (i,)) for i in animals])
        if len(train) < 4:
            raise ValueError(f"only {len(train)} photos are not part of a confirmed individual: there is nothing to adapt to; "
                             "fine-tune on the confirmed individuals instead")
        return Split(train, held)

    return split


def run_unsupervised(spec: ev.TrainingSpec, job_id: str, emit: Emit, should_stop: Callable[[], bool], resume: bool = False) -> object:
    """One adaptation job from start (or checkpoint) to a registered model; returns the terminal event."""
    setup = prepare_job(spec, job_id, emit, resume, unsupervised_split(spec))
    try:
        recipe = replace(recipe_for(spec), mirror_classes=False)
        emit(ev.Stage(job_id, "loading the survey's unconfirmed photos", 0, len(setup.split.train)))
        crops = load_crops(setup.project.artefacts, setup.split.train)
        task = ClusterContrastTask(crops, recipe, setup.model, setup.device,
                                   on_clusters=lambda epoch, clusters, kept: emit(ev.Stage(
                                       job_id, f"pass {epoch}: {clusters} groups of alike photos hold {kept} of {len(crops)}", phase=ev.TRAIN)))
        state, cancelled = run_steps(setup, task, recipe, job_id, emit, should_stop, resume)
        if cancelled:
            setup.record.status = "cancelled"
            setup.record.save(setup.folder)
            return ev.Cancelled(job_id, state.epoch + 1, state.step)
        data = {"unlabelled_images": len(setup.split.train), "clusters": task.history}
        return finish_job(setup, recipe, state, data, job_id, emit)
    finally:
        setup.project.close()

