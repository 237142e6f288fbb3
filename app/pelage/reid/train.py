"""Metric learning of the embedding network: the recipe, the one training loop, checkpoints and resume.

The default recipe is spotID's: P×K batches (K = 4), CosFace with its adaptive margin on
identity-and-view classes, light geometric and colour augmentation, Adam with a linear warm-up and
step decay. PGNet-AL2's extras (batch-hard triplet, label-smoothed cross-entropy, adaptive L2) are
switches. A mirrored photo becomes a class of its own: a flank seen in a mirror is a pattern no animal
has on that side, so calling it the same animal would teach the network to ignore handedness.

:func:`run_loop` is the only training loop: folder training (:func:`train_embedding`, from ImageNet
weights) and a project's fine-tuning and unsupervised adaptation (:mod:`pelage.training`) differ only in
their :class:`Task`. It works on decoded crops in memory, so it runs the same on a laptop and on a GPU
server that only received a crop cache. The schedule is fixed in advance; held-out figures are logged
but never used to pick a checkpoint.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from pelage.reid.checkpoints import CHECKPOINT, Checkpoint, CheckpointError, read_checkpoint, save_checkpoint
from pelage.reid.devices import resolve_device
from pelage.reid.losses import AdaptiveL2, CosFaceLoss, LabelSmoothedCE, batch_hard_triplet
from pelage.reid.nets import EmbeddingNet, ModelConfig
from pelage.reid.sampler import PKSampler
from pelage.reid.transforms import TRAIN_MARGIN, augment, letterbox, mirror, to_tensor


@dataclass(frozen=True)
class Recipe:
    """How to train; saved with the model so a run can be repeated or resumed."""

    epochs: int = 100
    classes_per_batch: int = 16  # P
    images_per_class: int = 4  # K (spotID)
    learning_rate: float = 3.5e-4
    weight_decay: float = 5e-4  # plain L2; replaced by the adaptive one when that is on
    warmup_epochs: int = 5
    decay_epochs: tuple[int, ...] = (70, 90)
    decay_factor: float = 0.1
    margin_function: str = "adaptive"  # or "constant" for plain CosFace
    cosface_scale: float = 32.0
    cosface_margin: float = 0.28
    triplet_weight: float = 0.0  # > 0 adds batch-hard triplet (PGNet-AL2)
    triplet_margin: float = 0.3
    smoothed_ce_weight: float = 0.0  # > 0 adds label-smoothed cross-entropy (PGNet-AL2)
    adaptive_l2: bool = False  # PGNet-AL2's per-tensor learnt L2 strengths
    adaptive_l2_strength: float = 5e-3  # A
    adaptive_l2_c: float = 1.0
    mirror_classes: bool = True
    random_erasing: float = 0.0  # probability of blacking out one rectangle of a training crop (an occluded flank)
    frozen_blocks: int = 0  # keep the stem and the first N blocks at their ImageNet weights (a CPU's budget)
    frozen_batchnorm: bool = False  # keep every batch-norm layer's running statistics (fine-tuning on a few hundred photos)
    seed: int = 0
    workers: int = 2
    device: str | None = None  # None: CUDA when available, else CPU

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Recipe:
        known = {key: value for key, value in data.items() if key in cls.__dataclass_fields__}
        if "decay_epochs" in known:
            known["decay_epochs"] = tuple(known["decay_epochs"])
        return cls(**known)


@dataclass(frozen=True)
class LabelledCrop:
    """One training photo after the import pipeline: its H×W×4 crop (RGB masked + edge) and labels."""

    image: np.ndarray
    identity: str
    view: str


@dataclass(frozen=True)
class ClassTable:
    """Class index per training sample; samples n..2n−1 are the mirrored copies of 0..n−1."""

    labels: np.ndarray
    names: list[str]
    mirrored: bool


def class_table(crops: Sequence[LabelledCrop], mirror_classes: bool) -> ClassTable:
    """Identity-and-view classes, plus a mirrored class for each when mirroring is on."""
    names = sorted({f"{crop.identity}/{crop.view}" for crop in crops})
    index = {name: i for i, name in enumerate(names)}
    labels = np.array([index[f"{crop.identity}/{crop.view}"] for crop in crops], dtype=np.int64)
    if not mirror_classes:
        return ClassTable(labels, names, False)
    return ClassTable(np.concatenate([labels, labels + len(names)]), names + [f"{name}/mirrored" for name in names], True)


class AugmentedCrops(Dataset):
    """Samples for the P×K sampler: index i < n is crop i, index n + i is crop i mirrored."""

    def __init__(self, crops: Sequence[LabelledCrop], table: ClassTable, config: ModelConfig, erasing: float = 0.0) -> None:
        margin_h, margin_w = round(config.input_height * TRAIN_MARGIN), round(config.input_width * TRAIN_MARGIN)
        # Letterboxed once up front: decoding and resizing every epoch would dominate a small training set.
        self.images = [letterbox(crop.image, margin_h, margin_w) for crop in crops]
        self.labels = table.labels
        self.config, self.erasing = config, erasing

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        n = len(self.images)
        image = self.images[index % n]
        if index >= n:
            image = mirror(image)
        # Torch's generator is seeded per worker and epoch by the DataLoader: reproducible, never repeated.
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        out = augment(image, self.config.input_height, self.config.input_width, rng, erasing=self.erasing)
        return to_tensor([out], self.config.mean, self.config.std)[0], int(self.labels[index])


def learning_rate_factor(recipe: Recipe, epoch: float) -> float:
    """Linear warm-up from 10 % to the full rate, then ×decay_factor at each decay epoch."""
    if epoch < recipe.warmup_epochs:
        return 0.1 + 0.9 * epoch / recipe.warmup_epochs
    return recipe.decay_factor ** sum(epoch >= step for step in recipe.decay_epochs)


def frozen_modules(model: EmbeddingNet, blocks: int) -> list[nn.Module]:
    """The stem and the first ``blocks`` stages: generic edge and texture filters, and most of the compute.

    Not training them (and keeping their batch-norm statistics) cuts a training step on a CPU about
    threefold, which is what makes training on a laptop possible at all.
    """
    if blocks <= 0:
        return []
    backbone = model.backbone
    return [backbone.conv_stem, backbone.bn1, *backbone.blocks[:blocks]]


def freeze(model: EmbeddingNet, blocks: int) -> list[nn.Module]:
    """Stop training :func:`frozen_modules` (call before building the objective: adaptive L2 regularises only
    what learns); returns them, since their batch-norm layers must stay in eval mode."""
    frozen = frozen_modules(model, blocks)
    for module in frozen:
        module.requires_grad_(False)
    return frozen


def hold_batchnorm(model: nn.Module) -> None:
    """Put every batch-norm layer in eval mode: its statistics stay those of the data it was trained on.

    A survey's few hundred confirmed photos, seen in P×K batches of a few individuals, give running
    statistics noisier than the start model's; its affine weights still learn.
    """
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def make_optimizer(parameters: Iterable[nn.Parameter], recipe: Recipe) -> torch.optim.Optimizer:
    """Adam over the parameters that still learn; weight decay is off when adaptive L2 regularises instead."""
    decay = 0.0 if recipe.adaptive_l2 else recipe.weight_decay
    return torch.optim.Adam([p for p in parameters if p.requires_grad], lr=recipe.learning_rate, weight_decay=decay)


class Objective(nn.Module):
    """The sum of the recipe's losses over one batch; owns the class centres and classifier."""

    def __init__(self, recipe: Recipe, config: ModelConfig, classes: int, model: EmbeddingNet) -> None:
        super().__init__()
        self.recipe = recipe
        self.cosface = CosFaceLoss(config.embedding_dim, classes, recipe.cosface_scale, recipe.cosface_margin, recipe.margin_function)
        self.smoothed_ce = LabelSmoothedCE(config.embedding_dim, classes) if recipe.smoothed_ce_weight > 0 else None
        self._regularised = [(name, p) for name, p in model.named_parameters() if p.ndim > 1 and p.requires_grad] if recipe.adaptive_l2 else []
        self.adaptive_l2 = AdaptiveL2(self._regularised, recipe.adaptive_l2_strength, recipe.adaptive_l2_c) if recipe.adaptive_l2 else None

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        features = features.float()
        parts = {"cosface": self.cosface(features, labels)}
        if self.recipe.triplet_weight > 0:
            parts["triplet"] = self.recipe.triplet_weight * batch_hard_triplet(F.normalize(features, dim=1), labels, self.recipe.triplet_margin)
        if self.smoothed_ce is not None:
            parts["smoothed_ce"] = self.recipe.smoothed_ce_weight * self.smoothed_ce(features, labels)
        if self.adaptive_l2 is not None:
            parts["adaptive_l2"] = self.adaptive_l2([p for _, p in self._regularised])
        return parts


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's generators (every device's): a run is repeatable from its recipe.

    DataLoader workers need nothing more: torch seeds each from this generator, and augmentation draws
    its numpy generator from torch's (:class:`AugmentedCrops`).
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Task(Protocol):
    """What to learn: the batches of an epoch and the loss of a batch. The loop (:func:`run_loop`) owns the rest."""

    def trainable(self) -> list[nn.Parameter]: ...  # parameters besides the network's (class centres…)

    def begin_epoch(self, model: EmbeddingNet, epoch: int, resumed: bool) -> int: ...  # returns the epoch's step count

    def batches(self, start_step: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]: ...

    def forward(self, model: EmbeddingNet, images: torch.Tensor) -> object: ...  # the network's part (under autocast on CUDA)

    def loss(self, outputs: object, labels: torch.Tensor) -> dict[str, torch.Tensor]: ...  # in float32

    def state_dict(self) -> dict: ...  # tensors, numbers, strings, lists and dicts only (see reid.checkpoints)

    def load_state_dict(self, state: dict) -> None: ...


class SkipFirst(Sampler[list[int]]):
    """A batch sampler without its first ``skip`` batches (the steps a resumed epoch already did)."""

    def __init__(self, batches: Sampler[list[int]], skip: int) -> None:
        self.inner, self.skip = batches, skip

    def __len__(self) -> int:
        return max(0, len(self.inner) - self.skip)

    def __iter__(self) -> Iterator[list[int]]:
        for index, batch in enumerate(self.inner):
            if index >= self.skip:
                yield batch


class SupervisedTask:
    """P×K batches of augmented labelled crops and the recipe's losses (CosFace + optional PGNet-AL2 switches).

    The one supervised task: folder training from ImageNet weights and a project's fine-tune both use it.
    """

    def __init__(self, crops: Sequence[LabelledCrop], recipe: Recipe, model: EmbeddingNet, device: torch.device) -> None:
        self.table = class_table(crops, recipe.mirror_classes)
        self.dataset = AugmentedCrops(crops, self.table, model.config, recipe.random_erasing)
        usable = int((np.bincount(self.table.labels) >= 2).sum())
        if usable < 2:
            raise ValueError("training needs at least two individuals with two or more photos each")
        self.sampler = PKSampler(self.table.labels, min(recipe.classes_per_batch, usable), recipe.images_per_class, seed=recipe.seed)
        freeze(model, recipe.frozen_blocks)  # before the objective: adaptive L2 regularises only what learns
        self.objective = Objective(recipe, model.config, len(self.table.names), model).to(device)
        self.device, self.workers = device, recipe.workers

    def imprint(self, centres: torch.Tensor) -> None:
        """Start the class centres at given unit vectors (each class's mean embedding under a start model)."""
        with torch.no_grad():
            self.objective.cosface.centres.copy_(centres.to(self.device))

    def trainable(self) -> list[nn.Parameter]:
        return list(self.objective.parameters())

    def begin_epoch(self, model: EmbeddingNet, epoch: int, resumed: bool) -> int:
        self.sampler.set_epoch(epoch)
        return len(self.sampler)

    def batches(self, start_step: int) -> DataLoader:
        return DataLoader(self.dataset, batch_sampler=SkipFirst(self.sampler, start_step), num_workers=self.workers,
                          pin_memory=self.device.type == "cuda")

    def forward(self, model: EmbeddingNet, images: torch.Tensor) -> torch.Tensor:
        return model.features(images)

    def loss(self, outputs: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.objective(outputs, labels)

    def state_dict(self) -> dict:
        return self.objective.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.objective.load_state_dict(state)


@dataclass
class LoopState:
    """How far training got; what a checkpoint restores besides the weights."""

    epoch: int = 0  # epochs finished
    step: int = 0  # steps finished in the epoch after them (non-zero only after a cancel)
    totals: dict[str, float] = field(default_factory=dict)  # running loss sums of the unfinished epoch
    history: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class StepReport:
    epoch: int  # 1-based
    step: int
    steps: int
    loss: float
    eta_s: float
    images_per_s: float


def _restore(checkpoint: Path, model: EmbeddingNet, task: Task, optimizer: torch.optim.Optimizer) -> LoopState:
    """Load ``checkpoint`` into the model, task and optimiser; a checkpoint of another model is a :class:`CheckpointError`."""
    saved = read_checkpoint(checkpoint)
    try:
        model.load_state_dict(saved.model)
        task.load_state_dict(saved.task)
        optimizer.load_state_dict(saved.optimizer)
        torch.set_rng_state(saved.torch_rng)
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:
        raise CheckpointError(checkpoint, f"it does not fit this model and recipe: {str(exc).splitlines()[0][:200]}") from None
    return LoopState(saved.epoch, saved.step, dict(saved.totals), list(saved.history))


def run_loop(model: EmbeddingNet, task: Task, recipe: Recipe, checkpoint: Path, device: torch.device, resume: bool = False,
             on_step: Callable[[StepReport], None] = lambda report: None,
             on_epoch: Callable[[dict], None] = lambda record: None,
             validate: Callable[[EmbeddingNet], dict] | None = None,
             should_stop: Callable[[], bool] = lambda: False,
             validate_every: int = 1, held_out_name: str = "validation") -> tuple[LoopState, bool]:
    """Train ``model`` in place for ``recipe.epochs``; returns the state and whether it was cancelled.

    The loop owns the learning-rate schedule, frozen blocks, the optimiser, progress with an ETA,
    cancellation between steps, and a checkpoint written after every epoch *and* on cancel, with the step
    it stopped at. The batches of an epoch are a pure function of (seed, epoch), so a resumed job skips
    the steps it had done and continues the same epoch instead of starting it again: pausing costs no
    training. Held-out figures (every ``validate_every`` epochs and after the last) are logged under
    ``held_out_name``, never used to pick a checkpoint.
    """
    frozen = freeze(model, recipe.frozen_blocks)
    optimizer = make_optimizer([*model.parameters(), *task.trainable()], recipe)
    if resume:
        state = _restore(checkpoint, model, task, optimizer)
    else:
        state = LoopState()
        seed_everything(recipe.seed)

    def save() -> None:
        save_checkpoint(Checkpoint(model.state_dict(), task.state_dict(), optimizer.state_dict(), torch.get_rng_state(), state.epoch,
                                   state.step, state.totals, state.history, recipe.to_dict(), model.config.to_dict()), checkpoint)

    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    step_seconds: float | None = None
    for epoch in range(state.epoch, recipe.epochs):
        model.eval()
        steps = task.begin_epoch(model, epoch, resumed=state.step > 0)
        model.train()
        for module in frozen:
            module.eval()
        if recipe.frozen_batchnorm:
            hold_batchnorm(model)
        started = time.perf_counter()
        tick = time.perf_counter()
        for images, labels in task.batches(state.step):
            if should_stop():
                save()
                return state, True
            for group in optimizer.param_groups:
                group["lr"] = recipe.learning_rate * learning_rate_factor(recipe, epoch + state.step / max(1, steps))
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            with autocast:
                outputs = task.forward(model, images)
            parts = task.loss(outputs, labels)
            loss = sum(parts.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            state.step += 1
            for name, value in parts.items():
                state.totals[name] = state.totals.get(name, 0.0) + float(value.detach())
            now = time.perf_counter()
            seconds, tick = now - tick, now
            step_seconds = seconds if step_seconds is None else 0.8 * step_seconds + 0.2 * seconds
            remaining = (steps - state.step) + steps * (recipe.epochs - epoch - 1)
            on_step(StepReport(epoch + 1, state.step, steps, float(loss.detach()), remaining * step_seconds, len(images) / max(seconds, 1e-9)))
        means = {name: round(total / max(1, state.step), 4) for name, total in state.totals.items()}
        if not all(math.isfinite(v) for v in means.values()):
            raise FloatingPointError(f"training diverged in epoch {epoch + 1}: {means}")
        record = {"epoch": epoch + 1, "seconds": round(time.perf_counter() - started, 2),
                  "lr": recipe.learning_rate * learning_rate_factor(recipe, epoch), "loss": round(sum(means.values()), 4), **means}
        if validate is not None and ((epoch + 1) % validate_every == 0 or epoch + 1 == recipe.epochs):
            model.eval()
            record[held_out_name] = validate(model)
        state.epoch, state.step, state.totals = epoch + 1, 0, {}
        state.history.append(record)
        save()
        on_epoch(record)
    model.eval()
    return state, False


def train_embedding(
    crops: Sequence[LabelledCrop],
    out_dir: Path,
    recipe: Recipe = Recipe(),
    config: ModelConfig = ModelConfig(),
    resume: bool = False,
    validate: Callable[[EmbeddingNet], dict[str, float]] | None = None,
    validate_every: int = 10,
    held_out_name: str = "validation",
    progress: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[EmbeddingNet, LoopState]:
    """Train from ImageNet weights (or resume ``out_dir``'s checkpoint); returns the network in eval mode.

    ``progress`` receives one dict per epoch (losses, learning rate, seconds, ``validate``'s figures under
    ``held_out_name`` when computed); ``should_stop`` is polled between batches, and a cancelled run keeps a checkpoint of
    every finished step in ``out_dir`` to resume from.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(recipe.device)
    seed_everything(recipe.seed)  # the projection head and class centres start from the recipe's seed
    model = EmbeddingNet(config, pretrained=not resume).to(device)
    task = SupervisedTask(crops, recipe, model, device)
    state, _ = run_loop(model, task, recipe, out_dir / CHECKPOINT, device, resume=resume, on_epoch=progress or (lambda record: None),
                        validate=validate, should_stop=should_stop, validate_every=validate_every, held_out_name=held_out_name)
    return model.eval(), state


def write_training_record(out_dir: Path, recipe: Recipe, state: LoopState, data: dict) -> None:
    """``training.json`` beside the weights: recipe, data summary and per-epoch history, for the model card."""
    record = {"recipe": recipe.to_dict(), "data": data, "history": state.history}
    (Path(out_dir) / "training.json").write_text(json.dumps(record, indent=1), encoding="utf-8")


def recipe_with(recipe: Recipe, **changes) -> Recipe:
    """The recipe with the given fields changed, ignoring ``None`` (options the user left unset)."""
    return replace(recipe, **{key: value for key, value in changes.items() if value is not None})
