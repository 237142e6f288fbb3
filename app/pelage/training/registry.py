"""The project's model registry: which identification models it has, where they came from, which one is in use.

Rows live in the ``models`` table. The bundled model is the implicit default: a project with no active
row uses it, and it is written to the table (as the root of the family tree) the first time a fine-tune
names it as parent or the user selects it. Paths of fine-tunes are relative to the project folder, so a
copied project keeps its models. Nothing here imports torch: the GUI lists models without loading one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pelage.reid.folders import DEFAULT_MODEL, bundled_models_dir
from pelage.store import Project, RegisteredModel, transaction

MODELS_FOLDER = "models"  # fine-tuned models and training jobs, inside the project folder


class RegistryError(ValueError):
    """A model id the project does not know, or a model folder that has gone missing."""


@dataclass(frozen=True)
class ModelEntry:
    """One registered model, as ``pelage models list --json`` prints it."""

    id: str
    name: str
    path: str  # relative to the project folder, or a bundled model's name
    parent: str | None
    created: datetime | None
    recipe: dict | None
    data: dict | None
    metrics: dict | None
    active: bool
    bundled: bool

    def as_json(self) -> dict:
        return {"id": self.id, "parent": self.parent, "created": self.created.isoformat() if self.created else None,
                "recipe": self.recipe, "data": self.data, "metrics": self.metrics, "active": self.active, "name": self.name,
                "path": self.path}


def _bundle_config(name: str | None = None) -> tuple[str, Path]:
    """(model id, folder) of a bundled model, read from its config.json without loading weights."""
    folder = bundled_models_dir() / (name or DEFAULT_MODEL)
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))["model_id"], folder
    except (OSError, ValueError, KeyError) as exc:
        raise RegistryError(f"the bundled model {name or DEFAULT_MODEL!r} is missing or unreadable in {folder}: {exc}") from exc


def _replaced_bundled_ids() -> set[str]:
    """Ids the bundled model had before an upgrade compared its weights another way (``earlier_model_ids``)."""
    try:
        earlier = json.loads((bundled_models_dir() / DEFAULT_MODEL / "config.json").read_text(encoding="utf-8")).get("earlier_model_ids")
    except (OSError, ValueError, AttributeError):
        return set()
    return {str(model_id) for model_id in earlier} if isinstance(earlier, list) else set()


def _loads(text: str | None) -> dict | None:
    return json.loads(text) if text else None


def _entry(row: RegisteredModel, bundled: bool, active: bool | None = None) -> ModelEntry:
    return ModelEntry(row.id, row.name, row.path, row.parent_id, row.created_at, _loads(row.recipe), _loads(row.data),
                      _loads(row.metrics), row.active if active is None else active, bundled)


def _is_bundled_path(path: str) -> bool:
    return "/" not in path and not path.startswith(".")


def bundled_entry() -> ModelEntry:
    """The default model as an (unsaved) registry entry."""
    model_id, _ = _bundle_config()
    return ModelEntry(model_id, DEFAULT_MODEL, DEFAULT_MODEL, None, None, None, {"source": "bundled with Pelage"}, None, False, True)


def ensure_bundled(session: Session) -> RegisteredModel:
    """The bundled model's row, written on first need (the caller commits)."""
    entry = bundled_entry()
    row = session.get(RegisteredModel, entry.id)
    if row is None:
        row = RegisteredModel(id=entry.id, name=entry.name, path=entry.path, parent_id=None, data=json.dumps(entry.data), active=False)
        session.add(row)
        session.flush()
    return row


def list_models(session: Session) -> list[ModelEntry]:
    """Every model the project can use, oldest first; exactly one is active (the bundled one by default)."""
    rows = list(session.scalars(select(RegisteredModel).order_by(RegisteredModel.created_at, RegisteredModel.id)))
    # A row naming the bundled folder by an id it has since replaced is the bundled model: listed (and active) as it is now.
    replaced = _replaced_bundled_ids()
    rows = [row for row in rows if not (row.id in replaced and _is_bundled_path(row.path))]
    bundled = bundled_entry()
    any_active = any(row.active for row in rows)
    entries = [_entry(row, _is_bundled_path(row.path), active=row.active or (row.id == bundled.id and not any_active)) for row in rows]
    entries = [replace(entry, parent=bundled.id) if entry.parent in replaced else entry for entry in entries]  # a fine-tune's root
    if bundled.id not in {row.id for row in rows}:
        entries.insert(0, ModelEntry(**{**bundled.__dict__, "active": not any_active}))
    return entries


def get_model(session: Session, model_id: str) -> ModelEntry:
    for entry in list_models(session):
        if entry.id == model_id:
            return entry
    known = ", ".join(entry.id for entry in list_models(session))
    raise RegistryError(f"no model {model_id!r} in this project; known: {known}")


def active_entry(session: Session) -> ModelEntry:
    return next(entry for entry in list_models(session) if entry.active)


def model_dir(project_root: Path, entry: ModelEntry) -> Path:
    """The folder holding ``entry``'s config.json and weights."""
    if entry.bundled:
        folder = bundled_models_dir() / entry.path
    else:
        folder = Path(project_root) / entry.path
    if not (folder / "config.json").is_file():
        raise RegistryError(f"model {entry.id} should be in {folder}, but that folder holds no config.json")
    return folder


def active_model_dir(project: Project) -> Path:
    """The folder of the model this project identifies with: what ``pelage identify`` and candidates should load."""
    with project.sessions() as session:
        entry = active_entry(session)
    return model_dir(project.root, entry)


def register_model(project: Project, model_id: str, name: str, folder: Path, parent_id: str | None, recipe: dict, data: dict,
                   metrics: dict) -> ModelEntry:
    """Record a finished fine-tune (inactive: adopting it is the user's decision)."""
    folder = Path(folder).resolve()
    try:
        relative = folder.relative_to(project.root.resolve()).as_posix()
    except ValueError as exc:
        raise RegistryError(f"a project's model must live inside the project folder, not in {folder}") from exc
    with transaction(project.sessions) as session:
        if parent_id is not None and parent_id == bundled_entry().id:
            ensure_bundled(session)
        row = session.get(RegisteredModel, model_id)
        if row is None:
            row = RegisteredModel(id=model_id, active=False)
            session.add(row)
        row.name, row.path, row.parent_id = name, relative, parent_id
        row.recipe, row.data, row.metrics = json.dumps(recipe), json.dumps(data), json.dumps(metrics)
        session.flush()
        return _entry(row, False)


def set_active(project: Project, model_id: str) -> ModelEntry:
    """Make ``model_id`` the project's model; the previous one stays registered and selectable."""
    with transaction(project.sessions) as session:
        entry = get_model(session, model_id)
        model_dir(project.root, entry)  # refuse a model whose folder has gone
        if entry.bundled:
            ensure_bundled(session)
        session.execute(update(RegisteredModel).values(active=False))
        session.execute(update(RegisteredModel).where(RegisteredModel.id == model_id).values(active=True))
    with project.sessions() as session:
        return get_model(session, model_id)


def lineage(session: Session, model_id: str) -> list[ModelEntry]:
    """``model_id`` and its ancestors, newest first."""
    by_id = {entry.id: entry for entry in list_models(session)}
    chain: list[ModelEntry] = []
    current: str | None = model_id
    while current is not None and current in by_id and all(entry.id != current for entry in chain):
        chain.append(by_id[current])
        current = by_id[current].parent
    return chain
