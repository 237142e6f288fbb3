"""Where model folders are and what their ``config.json`` says, without importing torch.

Review, the registry and the CLI need a model's id and score calibration in milliseconds; loading the
network (``pelage.reid.bundle``) costs seconds of torch import, so the file-level facts live here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pelage.paths import bundle_dir
from pelage.reid.errors import ModelFolderError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
DEFAULT_MODEL = "nyala-lite0"


def bundled_models_dir() -> Path:
    """The models shipped with Pelage: ``$PELAGE_MODELS``, else ``models/`` in a frozen build's bundle, else
    ``models/`` at the top of the source tree."""
    override = os.environ.get("PELAGE_MODELS")
    if override:
        return Path(override)
    bundle = bundle_dir()
    return bundle / "models" if bundle is not None else Path(__file__).resolve().parents[3] / "models"


def resolve_model_dir(name_or_path: str | Path | None = None) -> Path:
    """A model folder from a path, or from the name of a bundled model (default: the nyala model)."""
    candidate = Path(name_or_path) if name_or_path is not None else None
    if candidate is not None and (candidate / CONFIG_FILE).is_file():
        return candidate
    name = str(name_or_path) if name_or_path is not None else DEFAULT_MODEL
    bundled = bundled_models_dir() / name
    if (bundled / CONFIG_FILE).is_file():
        return bundled
    raise ModelFolderError(f"no model at {name_or_path!s} and no bundled model named {name!r} in {bundled_models_dir()}")


def read_model_config(directory: Path | str) -> dict:
    """The parsed ``config.json`` of a model folder (``model_id``, ``calibration``, ``model``…)."""
    path = Path(directory) / CONFIG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFolderError(f"{directory} is not a readable Pelage model folder: {exc}") from exc
    if not isinstance(data, dict) or "model_id" not in data:
        raise ModelFolderError(f"{path} names no model_id; is this a Pelage model folder?")
    return data
