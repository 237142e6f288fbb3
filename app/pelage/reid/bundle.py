"""A trained model as a folder: ``config.json`` + ``model.safetensors`` (+ ``training.json``, model card).

Weights are stored in float16: half the size in the repository and in a user's project, while the
network still runs in float32, so embeddings move by far less than any ranking notices. The model id
is derived from the weights' bytes, so an index or stored embeddings can tell that they came from a
different model and must be rebuilt.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from pelage.reid.errors import ModelFolderError
from pelage.reid.folders import CONFIG_FILE, DEFAULT_MODEL, WEIGHTS_FILE, bundled_models_dir, resolve_model_dir
from pelage.reid.nets import EmbeddingNet, ModelConfig
from pelage.reid.rerank import DEFAULT_CALIBRATION, FusionCalibration

FORMAT_VERSION = 1

__all__ = ["CONFIG_FILE", "DEFAULT_MODEL", "WEIGHTS_FILE", "ModelBundle", "bundled_models_dir", "load_model", "read_bundle",
           "resolve_model_dir", "save_model", "update_calibration"]  # folder facts re-exported from pelage.reid.folders


@dataclass(frozen=True)
class ModelBundle:
    """What a model folder says about itself."""

    directory: Path
    name: str
    model_id: str
    config: ModelConfig
    calibration: FusionCalibration = DEFAULT_CALIBRATION
    extra: dict = field(default_factory=dict)


def _weights_id(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def save_model(model: EmbeddingNet, directory: Path, name: str, calibration: FusionCalibration = DEFAULT_CALIBRATION,
               extra: dict | None = None) -> ModelBundle:
    """Write the network's weights (float16) and configuration; returns the bundle as it will load."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {key: (value.half() if value.is_floating_point() else value).contiguous().cpu()
               for key, value in model.state_dict().items() if not key.endswith("num_batches_tracked")}
    weights = directory / WEIGHTS_FILE
    tmp = weights.with_name(f".{weights.name}.tmp")
    save_file(tensors, str(tmp))
    tmp.replace(weights)
    # Vectors of a mirror-feature model are another kind (twice as wide), so the same weights get another id.
    model_id = f"{name}-{_weights_id(weights)}" + ("-mirror" if model.config.mirror_features else "")
    config = {"format": FORMAT_VERSION, "name": name, "model_id": model_id, "model": model.config.to_dict(),
              "calibration": calibration.to_dict(), **(extra or {})}
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=1), encoding="utf-8")
    return read_bundle(directory)


def read_bundle(directory: Path) -> ModelBundle:
    directory = Path(directory)
    try:
        data = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
        config = ModelConfig.from_dict(data["model"])
        calibration = FusionCalibration.from_dict(data["calibration"]) if "calibration" in data else DEFAULT_CALIBRATION
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFolderError(f"{directory} is not a readable Pelage model folder: {exc}") from exc
    if data.get("format") != FORMAT_VERSION:
        raise ModelFolderError(f"{directory} has model format {data.get('format')!r}; this Pelage reads format {FORMAT_VERSION}")
    known = {"format", "name", "model_id", "model", "calibration"}
    return ModelBundle(directory, data["name"], data["model_id"], config, calibration,
                       {key: value for key, value in data.items() if key not in known})


def load_model(directory: Path, device: torch.device | str = "cpu") -> tuple[EmbeddingNet, ModelBundle]:
    """The network in eval mode, in float32 on ``device``; needs no ImageNet weights and no network."""
    bundle = read_bundle(directory)
    weights = Path(directory) / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelFolderError(f"{directory} has no {WEIGHTS_FILE}")
    model = EmbeddingNet(bundle.config, pretrained=False)
    state = {key: value.float() if value.is_floating_point() else value for key, value in load_file(str(weights)).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [key for key in missing if not key.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ModelFolderError(f"{weights} does not fit {bundle.config.arch}: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return model.to(device).eval(), bundle


def update_calibration(directory: Path, calibration: FusionCalibration, note: dict | None = None) -> None:
    """Store a newly fitted score calibration in a model folder's config (the weights stay as they are)."""
    path = Path(directory) / CONFIG_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    data["calibration"] = calibration.to_dict()
    if note:
        data["calibration_fit"] = note
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
