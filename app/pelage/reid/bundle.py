"""A trained model as a folder: ``config.json`` + ``model.safetensors`` (+ ``training.json``, model card).

Weights are stored in float16: half the size in the repository and in a user's project, while the
network still runs in float32, so embeddings move by far less than any ranking notices. The model id
is derived from the weights' bytes, so an index or stored embeddings can tell that they came from a
different model and must be rebuilt. A model whose identification appends spot words keeps its vocabulary beside
the weights (``spot_words.safetensors``, :mod:`pelage.reid.spot_words`), and the vocabulary is part of the id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from pelage.reid.errors import ModelFolderError
from pelage.reid.folders import CONFIG_FILE, DEFAULT_MODEL, WEIGHTS_FILE, bundled_models_dir, resolve_model_dir
from pelage.reid.nets import EmbeddingNet, ModelConfig
from pelage.reid.rerank import DEFAULT_CALIBRATION, FusionCalibration
from pelage.reid.spot_words import VOCABULARY_FILE, SpotVocabulary, load_vocabulary, model_id_suffix, save_vocabulary

FORMAT_VERSION = 1

__all__ = ["CONFIG_FILE", "DEFAULT_MODEL", "WEIGHTS_FILE", "ModelBundle", "bundled_models_dir", "load_model", "read_bundle",
           "resolve_model_dir", "save_model", "update_calibration", "add_spot_words"]  # folder facts re-exported from pelage.reid.folders


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


def _model_id(name: str, weights: Path, config: ModelConfig, vocabulary: SpotVocabulary | None) -> str:
    """Named by the weights' bytes; vectors of the same weights compared otherwise (mirror features, spot words) are
    another kind, so they get another id and never meet the first kind in one index."""
    return (f"{name}-{_weights_id(weights)}" + ("-mirror" if config.mirror_features else "")
            + (model_id_suffix(vocabulary) if vocabulary is not None else ""))


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
    vocabulary = model.spot_words
    model_config = replace(model.config, spot_words=vocabulary.size if vocabulary is not None else 0)
    if vocabulary is not None:
        save_vocabulary(vocabulary, directory)
    config = {"format": FORMAT_VERSION, "name": name, "model_id": _model_id(name, weights, model_config, vocabulary),
              "model": model_config.to_dict(),
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
    if bundle.config.spot_words:
        model.spot_words = load_vocabulary(directory, bundle.config.spot_words)
        if not bundle.model_id.endswith(model_id_suffix(model.spot_words)):
            raise ModelFolderError(f"{directory / VOCABULARY_FILE} is not the vocabulary model {bundle.model_id} was made with: "
                                   "copy the model folder again")
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


def add_spot_words(directory: Path, vocabulary: SpotVocabulary) -> ModelBundle:
    """Give a model folder a spot vocabulary (the weights stay as they are): its vectors become another kind, so it
    gets a new id, and the id it had joins ``earlier_model_ids`` (a project identified with it keeps this folder's
    score calibration in review until it is identified again)."""
    directory = Path(directory)
    bundle = read_bundle(directory)
    path = directory / CONFIG_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    model_config = replace(bundle.config, spot_words=vocabulary.size)
    save_vocabulary(vocabulary, directory)
    data["model"] = model_config.to_dict()
    data["model_id"] = _model_id(bundle.name, directory / WEIGHTS_FILE, model_config, vocabulary)
    earlier = [bundle.model_id, *data.get("earlier_model_ids", [])]
    data["earlier_model_ids"] = [model_id for model_id in dict.fromkeys(earlier) if model_id != data["model_id"]]
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return read_bundle(directory)
