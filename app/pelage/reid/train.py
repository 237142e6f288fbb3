"""Metric learning of the embedding network on labelled crops: the recipe, the loop, checkpoints and resume.

The default recipe is spotID's: P×K batches (K = 4), CosFace with its adaptive margin on
identity-and-view classes, light geometric and colour augmentation, Adam with a linear warm-up and
step decay. PGNet-AL2's extras (batch-hard triplet, label-smoothed cross-entropy, adaptive L2) are
switches. A mirrored photo becomes a class of its own: a flank seen in a mirror is a pattern no animal
has on that side, so calling it the same animal would teach the network to ignore handedness.

The loop works on decoded crops in memory, so it runs the same on a laptop and on a GPU server that
only received a crop cache. The schedule is fixed in advance; validation figures are logged but never
used to pick a checkpoint, so they stay an honest estimate.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from pelage.reid.losses import AdaptiveL2, CosFaceLoss, LabelSmoothedCE, batch_hard_triplet
from pelage.reid.nets import EmbeddingNet, ModelConfig
from pelage.reid.sampler import PKSampler
from pelage.reid.transforms import TRAIN_MARGIN, augment, letterbox, mirror, to_tensor

CHECKPOINT = "checkpoint.pt"


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

    def __init__(self, crops: Sequence[LabelledCrop], table: ClassTable, config: ModelConfig) -> None:
        margin_h, margin_w = round(config.input_height * TRAIN_MARGIN), round(config.input_width * TRAIN_MARGIN)
        # Letterboxed once up front: decoding and resizing every epoch would dominate a small training set.
        self.images = [letterbox(crop.image, margin_h, margin_w) for crop in crops]
        self.labels = table.labels
        self.config = config

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        n = len(self.images)
        image = self.images[index % n]
        if index >= n:
            image = mirror(image)
        # Torch's generator is seeded per worker and epoch by the DataLoader: reproducible, never repeated.
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        out = augment(image, self.config.input_height, self.config.input_width, rng)
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


def pick_device(requested: str | None) -> torch.device:
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class TrainingState:
    """What a checkpoint restores."""

    epoch: int = 0  # epochs finished
    history: list[dict] = field(default_factory=list)


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


def _save_atomic(payload: dict, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def train_embedding(
    crops: Sequence[LabelledCrop],
    out_dir: Path,
    recipe: Recipe = Recipe(),
    config: ModelConfig = ModelConfig(),
    resume: bool = False,
    validate: Callable[[EmbeddingNet], dict[str, float]] | None = None,
    validate_every: int = 10,
    progress: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[EmbeddingNet, TrainingState]:
    """Train from ImageNet weights (or resume ``out_dir``'s checkpoint); returns the network in eval mode.

    ``progress`` receives one dict per epoch (losses, learning rate, seconds, validation figures when
    computed); ``should_stop`` is polled between batches so a GUI can cancel, and the last finished
    epoch stays on disk to resume from.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = pick_device(recipe.device)
    torch.manual_seed(recipe.seed)
    np.random.seed(recipe.seed)
    table = class_table(crops, recipe.mirror_classes)
    dataset = AugmentedCrops(crops, table, config)
    sampler = PKSampler(table.labels, recipe.classes_per_batch, recipe.images_per_class, seed=recipe.seed)
    model = EmbeddingNet(config, pretrained=not resume).to(device)
    frozen = freeze(model, recipe.frozen_blocks)
    objective = Objective(recipe, config, len(table.names), model).to(device)
    optimizer = make_optimizer([*model.parameters(), *objective.parameters()], recipe)
    state = TrainingState()
    checkpoint_path = out_dir / CHECKPOINT
    if resume:
        if not checkpoint_path.is_file():
            raise FileNotFoundError(f"nothing to resume: {checkpoint_path} does not exist")
        saved = torch.load(checkpoint_path, map_location=device, weights_only=False)
        model.load_state_dict(saved["model"])
        objective.load_state_dict(saved["objective"])
        optimizer.load_state_dict(saved["optimizer"])
        state = TrainingState(epoch=saved["epoch"], history=saved["history"])
        torch.set_rng_state(saved["torch_rng"])
    loader = DataLoader(
        dataset, batch_sampler=sampler, num_workers=recipe.workers, pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    steps = len(sampler)
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    for epoch in range(state.epoch, recipe.epochs):
        model.train()
        for module in frozen:
            module.eval()
        sampler.set_epoch(epoch)
        started = time.perf_counter()
        totals: dict[str, float] = {}
        for step, (images, labels) in enumerate(loader):
            if should_stop():
                return model.eval(), state
            for group in optimizer.param_groups:
                group["lr"] = recipe.learning_rate * learning_rate_factor(recipe, epoch + step / steps)
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            with autocast:
                features = model.features(images)
            parts = objective(features, labels)
            loss = sum(parts.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for name, value in parts.items():
                totals[name] = totals.get(name, 0.0) + float(value.detach()) / steps
        record = {"epoch": epoch + 1, "seconds": round(time.perf_counter() - started, 2),
                  "lr": recipe.learning_rate * learning_rate_factor(recipe, epoch), **{k: round(v, 4) for k, v in totals.items()}}
        if validate is not None and ((epoch + 1) % validate_every == 0 or epoch + 1 == recipe.epochs):
            model.eval()
            record["validation"] = validate(model)
        if not all(math.isfinite(v) for v in totals.values()):
            raise FloatingPointError(f"training diverged in epoch {epoch + 1}: {totals}")
        state.epoch = epoch + 1
        state.history.append(record)
        _save_atomic({"model": model.state_dict(), "objective": objective.state_dict(), "optimizer": optimizer.state_dict(),
                      "epoch": state.epoch, "history": state.history, "torch_rng": torch.get_rng_state(),
                      "recipe": recipe.to_dict(), "config": config.to_dict()}, checkpoint_path)
        if progress is not None:
            progress(record)
    return model.eval(), state


def write_training_record(out_dir: Path, recipe: Recipe, state: TrainingState, data: dict) -> None:
    """``training.json`` beside the weights: recipe, data summary and per-epoch history, for the model card."""
    record = {"recipe": recipe.to_dict(), "data": data, "history": state.history}
    (Path(out_dir) / "training.json").write_text(json.dumps(record, indent=1), encoding="utf-8")


def recipe_with(recipe: Recipe, **changes) -> Recipe:
    """The recipe with the given fields changed, ignoring ``None`` (options the user left unset)."""
    return replace(recipe, **{key: value for key, value in changes.items() if value is not None})
