"""Training checkpoints: what a paused job needs to carry on, in a file that may come from anyone's project folder.

A checkpoint is read with torch's weights-only unpickler, which builds tensors, dicts, lists, tuples,
numbers and strings and refuses anything that names code to run; a crafted ``checkpoint.pt`` can
therefore not run anything. Everything is reduced to those types before it is written (:func:`plain`),
so what is saved can always be read back, and what is read is checked field by field, so a file of the
right format with the wrong content is refused with the same clear message as a damaged one.
"""

from __future__ import annotations

import os
import re
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

CHECKPOINT = "checkpoint.pt"
FORMAT = "pelage-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed: not a Pelage checkpoint, damaged, or written for another model."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path} is not a Pelage training checkpoint, or it is damaged ({reason}); "
                         "it cannot be resumed: start the training again")
        self.path, self.reason = path, reason


@dataclass
class Checkpoint:
    """The loop's state after its last finished step (see :func:`pelage.reid.train.run_loop`)."""

    model: dict[str, torch.Tensor]
    task: dict
    optimizer: dict
    torch_rng: torch.Tensor
    epoch: int = 0  # epochs finished
    step: int = 0  # steps finished in the epoch after them
    totals: dict[str, float] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    recipe: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)


def plain(value: object) -> object:
    """``value`` as tensors, dicts, lists, tuples and Python scalars only: what the weights-only unpickler reads.

    Numpy scalars (which validation figures easily are) become Python numbers and arrays become tensors;
    anything else is refused when saving, rather than making a checkpoint that cannot be read back.
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if value is None or isinstance(value, torch.Tensor) or type(value) in (bool, int, float, str):
        return value
    if type(value) in (dict, OrderedDict):  # state dicts are OrderedDicts with per-module version metadata
        out = type(value)((plain(key), plain(item)) for key, item in value.items())
        if hasattr(value, "_metadata"):
            out._metadata = plain(value._metadata)
        return out
    if type(value) in (list, tuple):
        return type(value)(plain(item) for item in value)
    raise TypeError(f"a checkpoint cannot hold a {type(value).__name__}: reduce it to tensors, numbers, strings, lists and dicts")


def save_checkpoint(checkpoint: Checkpoint, path: Path) -> None:
    """Write atomically (a temporary file renamed over the old one): a crash leaves the previous checkpoint whole."""
    payload = plain({"format": FORMAT, **checkpoint.__dict__})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def _load_reason(exc: Exception) -> str:
    refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
    if refused:
        return f"it holds instructions to run code ({refused.group(1)}); nothing was run"
    return "not a torch checkpoint file" if str(exc) else f"not a torch checkpoint file: {exc.__class__.__name__}"


def _require(ok: bool, path: Path, reason: str) -> None:
    if not ok:
        raise CheckpointError(path, reason)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def read_checkpoint(path: Path) -> Checkpoint:
    """The checkpoint at ``path``, on the CPU; :class:`CheckpointError` for anything else, and nothing in it is run."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"nothing to resume: {path} does not exist")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on stderr; the error below says it all
            warnings.simplefilter("ignore")
            saved = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as exc:  # the file is untrusted input: any failure to parse it means "not a checkpoint"
        raise CheckpointError(path, _load_reason(exc)) from None
    _require(isinstance(saved, dict), path, "it holds no dictionary")
    task = saved.get("task", saved.get("objective"))  # "objective": folder training before the loops were one
    parts = {"model": saved.get("model"), "task": task, "optimizer": saved.get("optimizer")}
    for name, part in parts.items():
        _require(isinstance(part, dict), path, f"no {name} state")
    _require(all(isinstance(value, torch.Tensor) for value in parts["model"].values()), path, "the model state holds more than tensors")
    _require({"state", "param_groups"} <= set(parts["optimizer"]), path, "the optimizer state is incomplete")
    rng = saved.get("torch_rng")
    _require(isinstance(rng, torch.Tensor) and rng.dtype == torch.uint8, path, "no random-number state")
    epoch, step = saved.get("epoch"), saved.get("step", 0)
    _require(_is_count(epoch) and _is_count(step), path, "no epoch and step counts")
    totals, history = saved.get("totals", {}), saved.get("history")
    _require(isinstance(totals, dict) and all(isinstance(v, int | float) for v in totals.values()), path, "damaged loss totals")
    _require(isinstance(history, list) and all(isinstance(record, dict) for record in history), path, "damaged history")
    recipe, config = saved.get("recipe", {}), saved.get("config", {})
    _require(isinstance(recipe, dict) and isinstance(config, dict), path, "damaged recipe")
    return Checkpoint(parts["model"], parts["task"], parts["optimizer"], rng, epoch, step, totals, history, recipe, config)
