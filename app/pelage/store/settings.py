"""The project's settings file, ``pelage-project.json``: read as untrusted input (projects are copied
between laptops and edited by hand), checked key by key, and refused with the key and the fix named."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from pelage.store.errors import ProjectError

SETTINGS_FILE = "pelage-project.json"
FORMAT_VERSION = 1
SUPPORTED_BACKENDS = ("sqlite", "postgresql")  # SQLite only as project.sqlite in the folder, never by URL (see below)
URL_EXAMPLE = "postgresql+psycopg://user@host/dbname"


def check_database_url(value: str, where: str) -> str:
    """``value`` if SQLAlchemy can parse it and Pelage supports its back-end; ``where`` names its source in the message."""
    try:
        url = make_url(value)
    except ArgumentError:
        raise ProjectError(f"{where} is not a database URL ({value!r}). Use a URL such as {URL_EXAMPLE}, or none (null) for "
                           "SQLite inside the project folder.") from None
    backend = url.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise ProjectError(f"{where} uses the {backend!r} database, which Pelage does not support ({value!r}). Use a PostgreSQL "
                           f"URL such as {URL_EXAMPLE}, or none (null) for SQLite inside the project folder.")
    if backend == "sqlite":  # a settings file from someone else must not point Pelage at another file of this laptop
        raise ProjectError(f"{where} names an SQLite database ({value!r}); a project's SQLite database is always project.sqlite "
                           f"inside its folder. Use none (null) for that, or a PostgreSQL URL such as {URL_EXAMPLE}.")
    return value


@dataclass(frozen=True)
class ProjectSettings:
    """What ``pelage-project.json`` holds: the file format and the database URL (None: ``project.sqlite`` in the folder)."""

    format: int = FORMAT_VERSION
    database: str | None = None

    @classmethod
    def from_json(cls, data: Any, path: Path) -> ProjectSettings:
        """Check each key's type and value; a file from a newer Pelage is refused rather than half-understood."""
        if not isinstance(data, dict):
            raise ProjectError(f"{path} holds a JSON {_json_type(data)}, not Pelage's settings object. Restore it from a backup "
                               f'(a project with its database in the folder holds {{"format": {FORMAT_VERSION}, "database": null}}).')
        version = data.get("format", 0)  # the first Pelage wrote no format
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise ProjectError(f'{path}: "format" must be a whole number such as {FORMAT_VERSION}, not {version!r}. '
                               f'Set "format": {FORMAT_VERSION} or restore the file from a backup.')
        if version > FORMAT_VERSION:
            raise ProjectError(f"{path} was written by a newer Pelage (format {version}); upgrade Pelage to open it.")
        database = data.get("database")
        if database is not None and not isinstance(database, str):
            raise ProjectError(f'{path}: "database" must be null (SQLite inside the project folder) or a database URL, not '
                               f'{database!r}. Set "database": null, or the URL of the project\'s server database such as {URL_EXAMPLE}.')
        if database is not None:
            check_database_url(database, f'{path}: "database"')
        return cls(format=version, database=database or None)

    @classmethod
    def load(cls, root: Path) -> ProjectSettings:
        path = root / SETTINGS_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ProjectError(f"{path} is not valid JSON ({exc}); restore it from a backup.") from exc
        except UnicodeDecodeError:
            raise ProjectError(f"{path} is not a text file; restore it from a backup.") from None
        except OSError as exc:
            raise ProjectError(f"Cannot read {path}: {exc.strerror}. Check that you may read it.") from exc
        return cls.from_json(data, path)

    def save(self, root: Path) -> None:
        """Write atomically, so a crash leaves the old file or the new one, never half of one."""
        path = root / SETTINGS_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"format": self.format, "database": self.database}, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)


def _json_type(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}.get(type(value), "value")
