"""Which embeddings a review reads, and the score calibration that goes with them, without loading torch.

Review only needs the vectors already in the store and the model's calibration (a few numbers in its
``config.json``), so it reads those directly: the CLI answers ``pelage propose`` in a second instead of
waiting for the network to load. The model is, in order: the one asked for (a model folder, a bundled
model's name or a model id in the store), the project's active registered model, the bundled default
when the project holds its embeddings, else the model that embedded the most animals.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import func, select

from pelage.reid.calibration import saved_calibration
from pelage.reid.errors import ModelFolderError
from pelage.reid.folders import DEFAULT_MODEL, bundled_models_dir, read_model_config
from pelage.reid.rerank import DEFAULT_CALIBRATION, FusionCalibration
from pelage.store import Project
from pelage.store.schema import Embedding, RegisteredModel


class ReviewModelError(ValueError):
    """No embeddings to review with; the message says what to run."""


@dataclass(frozen=True)
class ReviewModel:
    model_id: str  # the key of the embeddings in the store
    calibration: FusionCalibration  # turns (cosine, inliers) into P(same animal)
    directory: Path | None = None  # the model folder, when one was found


def _read_config(directory: Path) -> dict | None:
    try:
        return read_model_config(directory)
    except ModelFolderError:
        return None


def _from_folder(directory: Path, model_id: str | None = None) -> ReviewModel | None:
    """The folder's model and calibration; with ``model_id``, only when the folder made that id's vectors: under its own
    id, or under one it lists as its own earlier id (``earlier_model_ids``: the same weights compared another way, as
    before the bundled model's mirror features), so a project identified before an upgrade keeps a fitting calibration
    until it is identified again."""
    return _from_config(_read_config(directory), directory, model_id)


def _from_config(config: dict | None, directory: Path, model_id: str | None = None) -> ReviewModel | None:
    """:func:`_from_folder` for a config already read."""
    if not config or "model_id" not in config:
        return None
    earlier = config.get("earlier_model_ids")
    known = [str(config["model_id"]), *(earlier if isinstance(earlier, list) else [])]
    if model_id is not None and model_id not in known:
        return None
    calibration = FusionCalibration.from_dict(config["calibration"]) if "calibration" in config else DEFAULT_CALIBRATION
    return ReviewModel(model_id or known[0], calibration, directory)


def _registered_places(project: Project, registered_path: str) -> list[Path]:
    return [project.root / registered_path, Path(registered_path), bundled_models_dir() / registered_path]


def _current_model(project: Project, model_id: str, registered_path: str) -> ReviewModel | None:
    """The model a registered folder holds now, when it holds ``model_id``'s weights under a newer id (the bundled model
    after an upgrade: a project that chose it keeps following it, as ``pelage identify`` does)."""
    for place in _registered_places(project, registered_path):
        config = _read_config(place)  # read once: does it know model_id, and what is it now
        if _from_config(config, place, model_id) is not None:
            return _from_config(config, place)
    return None


def _folder_for_id(project: Project, model_id: str, registered_path: str | None) -> ReviewModel:
    """The model folder that produced ``model_id`` (registry path, then bundled models), for its calibration."""
    places = _registered_places(project, registered_path) if registered_path else []
    bundled = bundled_models_dir()
    if bundled.is_dir():
        places += sorted(path for path in bundled.iterdir() if path.is_dir())
    for place in places:
        found = _from_folder(place, model_id)
        if found is not None:
            return found
    return ReviewModel(model_id, DEFAULT_CALIBRATION)


def resolve_review_model(project: Project, model: str | Path | None = None, project_calibration: bool = True) -> ReviewModel:
    """The embeddings and calibration to review ``project`` with (see the module docstring for the order); the
    calibration is the project's own refit (``pelage calibrate``) when it has one for that model, unless
    ``project_calibration`` is False (the model's own: what a refit starts from)."""
    found = _resolve(project, model)
    own = saved_calibration(project.root, found.model_id) if project_calibration else None
    return found if own is None else replace(found, calibration=own)


def _resolve(project: Project, model: str | Path | None) -> ReviewModel:
    with project.sessions() as session:
        counts = dict(session.execute(select(Embedding.model_id, func.count()).group_by(Embedding.model_id)).all())
        registered = {row.id: row for row in session.scalars(select(RegisteredModel))}
    if model is not None:
        for directory in (Path(model), project.root / str(model), bundled_models_dir() / str(model)):
            found = _from_folder(directory)
            if found is not None:
                break
        else:
            if str(model) not in counts:
                raise ReviewModelError(f"{model!s} is neither a model folder, a bundled model nor a model id with embeddings in this project")
            row = registered.get(str(model))
            found = _folder_for_id(project, str(model), row.path if row else None)
        if found.model_id not in counts:
            raise ReviewModelError(f"no animal in {project.root} is embedded with model {found.model_id}: run `pelage identify` with it first")
        return found
    if not counts:
        raise ReviewModelError(f"no animal in {project.root} is embedded yet: run `pelage identify {project.root}` first")
    for row in registered.values():
        current = _current_model(project, row.id, row.path) if row.active else None
        if current is not None and current.model_id in counts:  # identified again since its folder was upgraded
            return current
    active = [row for row in registered.values() if row.active and row.id in counts]
    if active:
        return _folder_for_id(project, active[0].id, active[0].path)
    default = _from_folder(bundled_models_dir() / DEFAULT_MODEL)
    if default is not None and default.model_id in counts:
        return default
    most = max(sorted(counts), key=lambda model_id: counts[model_id])
    row = registered.get(most)
    return _folder_for_id(project, most, row.path if row else None)
