"""The step loop shared by supervised fine-tuning and unsupervised adaptation.

What differs between the two (the batches and the loss) is a :class:`Task`; the loop owns the rest: the
learning-rate schedule, frozen blocks, the optimiser, progress with an ETA, cancellation between steps,
and a checkpoint that is written after every epoch *and* on cancel, with the step it stopped at. The
batches of an epoch are a pure function of (seed, epoch), so a resumed job skips the steps it had done
and continues the same epoch instead of starting it again: pausing costs no training.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from torch import nn
from torch.utils.data import Sampler

from pelage.reid.nets import EmbeddingNet
from pelage.reid.train import Recipe, freeze, hold_batchnorm, learning_rate_factor, make_optimizer


class Task(Protocol):
    """What to learn: the batches of an epoch and the loss of a batch."""

    def trainable(self) -> list[nn.Parameter]: ...  # parameters besides the network's (class centres…)

    def begin_epoch(self, model: EmbeddingNet, epoch: int, resumed: bool) -> int: ...  # returns the epoch's step count

    def batches(self, start_step: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]: ...

    def forward(self, model: EmbeddingNet, images: torch.Tensor) -> object: ...  # the network's part (under autocast on CUDA)

    def loss(self, outputs: object, labels: torch.Tensor) -> dict[str, torch.Tensor]: ...  # in float32

    def state_dict(self) -> dict: ...

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


@dataclass
class LoopState:
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


def _save_atomic(payload: dict, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def run_loop(model: EmbeddingNet, task: Task, recipe: Recipe, checkpoint: Path, device: torch.device, resume: bool = False,
             on_step: Callable[[StepReport], None] = lambda report: None,
             on_epoch: Callable[[dict], None] = lambda record: None,
             validate: Callable[[EmbeddingNet], dict] | None = None,
             should_stop: Callable[[], bool] = lambda: False) -> tuple[LoopState, bool]:
    """Train ``model`` in place for ``recipe.epochs``; returns the state and whether it was cancelled."""
    frozen = freeze(model, recipe.frozen_blocks)
    optimizer = make_optimizer([*model.parameters(), *task.trainable()], recipe)
    state = LoopState()
    if resume:
        if not checkpoint.is_file():
            raise FileNotFoundError(f"nothing to resume: {checkpoint} does not exist")
        saved = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(saved["model"])
        task.load_state_dict(saved["task"])
        optimizer.load_state_dict(saved["optimizer"])
        state = LoopState(saved["epoch"], saved["step"], saved["totals"], saved["history"])
        torch.set_rng_state(saved["torch_rng"])
    else:
        torch.manual_seed(recipe.seed)

    def save() -> None:
        _save_atomic({"model": model.state_dict(), "task": task.state_dict(), "optimizer": optimizer.state_dict(), "epoch": state.epoch,
                      "step": state.step, "totals": state.totals, "history": state.history, "torch_rng": torch.get_rng_state(),
                      "recipe": recipe.to_dict(), "config": model.config.to_dict()}, checkpoint)

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
        if validate is not None:
            model.eval()
            record["validation"] = validate(model)
        state.epoch, state.step, state.totals = epoch + 1, 0, {}
        state.history.append(record)
        save()
        on_epoch(record)
    model.eval()
    return state, False
