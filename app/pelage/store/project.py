"""A Pelage project: one folder holding the settings file, the SQLite database (unless the project
points at a PostgreSQL server) and the cached crops, masks and edge images.

The folder is self-contained so a user can copy it to another laptop; survey images stay where they
are and are referred to by path relative to the survey root.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from pelage.store.database import create_db_engine, make_session_factory, sqlite_url, upgrade_schema

SETTINGS_FILE = "pelage-project.json"
SQLITE_FILE = "project.sqlite"
ARTEFACT_DIR = "artefacts"
FORMAT_VERSION = 1


class ProjectError(RuntimeError):
    """A project folder that cannot be created or opened; the message says why and what to do."""


@dataclass
class Project:
    root: Path
    database_url: str
    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def artefacts(self) -> Path:
        return self.root / ARTEFACT_DIR

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _read_settings(root: Path) -> dict:
    path = root / SETTINGS_FILE
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ProjectError(f"{path} is not valid JSON ({exc}); restore it from a backup.") from exc
    if settings.get("format", 0) > FORMAT_VERSION:
        raise ProjectError(f"{path} was written by a newer Pelage; upgrade Pelage to open it.")
    return settings


def _write_settings(root: Path, settings: dict) -> None:
    path = root / SETTINGS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def is_project(root: Path) -> bool:
    return (Path(root) / SETTINGS_FILE).is_file()


def open_project(root: Path | str, *, create: bool = False, database_url: str | None = None) -> Project:
    """Open (and migrate) the project in ``root``; with ``create``, make it first if it is missing.

    ``database_url`` chooses a server database for a new project (e.g.
    ``postgresql+psycopg://user@host/pelage``); SQLite inside the folder is the default.
    """
    root = Path(root).expanduser().resolve()
    if not is_project(root):
        if not create:
            hint = "" if root.exists() else " (the folder does not exist)"
            raise ProjectError(f"{root} is not a Pelage project{hint}. Create one with `pelage import SURVEY --project {root}`.")
        if root.exists() and any(root.iterdir()):
            raise ProjectError(f"{root} exists and is not empty; choose a new folder for the project.")
        try:
            root.mkdir(parents=True, exist_ok=True)
            _write_settings(root, {"format": FORMAT_VERSION, "database": database_url})
        except OSError as exc:
            raise ProjectError(f"Cannot create the project folder {root}: {exc.strerror}. Choose a folder you can write to.") from exc
    settings = _read_settings(root)
    if database_url and settings.get("database") not in (None, database_url):
        raise ProjectError(f"{root} already uses the database {settings['database']!r}, not {database_url!r}.")
    url = settings.get("database") or sqlite_url(root / SQLITE_FILE)
    engine = create_db_engine(url)
    upgrade_schema(engine)
    (root / ARTEFACT_DIR).mkdir(exist_ok=True)
    return Project(root=root, database_url=url, engine=engine, sessions=make_session_factory(engine))
