"""The store's errors a user can act on. Each message is one sentence naming the problem, then the fix,
because the command line prints it as one line and the desktop app shows it in a dialog as it is."""

from __future__ import annotations

from pathlib import Path


class ProjectError(RuntimeError):
    """A project folder that cannot be created or opened; the message says why and what to do."""


class DamagedDatabaseError(ProjectError):
    """The project's SQLite file is not a whole, readable database; Pelage leaves it exactly as it found it."""

    def __init__(self, path: Path | str, detail: str) -> None:
        path = Path(path)
        super().__init__(f"The project database {path} is damaged ({detail}). Restore {path.name} from a backup of the project "
                         "folder; Pelage has not changed the damaged file.")
        self.path = path


class SchemaError(RuntimeError):
    """The database holds a schema this version of Pelage does not know."""


def unversioned_schema_error(where: str) -> SchemaError:
    """Tables without an ``alembic_version`` row: running the first migration would fail on them (or worse, half-apply)."""
    return SchemaError(f"The project database {where} has Pelage's tables but no schema version (its alembic_version table is "
                       "missing or empty), so Pelage cannot tell how to upgrade it. Restore the database from a backup; "
                       "Pelage has not changed it.")
