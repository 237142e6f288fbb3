"""Engines, sessions and schema migrations for the project database.

SQLite (one file inside the project folder, WAL journal) is the default; any SQLAlchemy URL for
PostgreSQL works the same. Migrations ship inside the package and run when a project is opened, so
an older project is upgraded in place and a newer one is refused with the fix spelled out.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.orm import Session, sessionmaker

from pelage.store.errors import DamagedDatabaseError, SchemaError, unversioned_schema_error

SERVER_CONNECT_TIMEOUT_S = 10  # an unreachable host answers in seconds, not after the system's TCP timeout of minutes


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve().as_posix()}"


def _set_sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the GUI read while an import writes; NORMAL sync is durable across application
    # crashes (what we guard against), and foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _report_damage(context: ExceptionContext) -> None:
    """Damage the preflight could not see (a big file is not read page by page) still ends as one clear message."""
    error = context.original_exception
    if isinstance(error, sqlite3.DatabaseError) and not isinstance(error, sqlite3.OperationalError):
        name = getattr(error, "sqlite_errorname", "")
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in str(error) or "not a database" in str(error):
            path = context.engine.url.database if context.engine is not None else "project.sqlite"
            raise DamagedDatabaseError(path or "project.sqlite", str(error)) from error


def create_db_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _set_sqlite_pragmas)
        event.listen(engine, "handle_error", _report_damage)
        return engine
    connect_args = {"connect_timeout": SERVER_CONNECT_TIMEOUT_S} if url.startswith("postgresql") else {}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("pelage.store") / "migrations"))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["engine"] = engine
    return config


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _is_known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except CommandError:
        return False


def _has_tables(engine: Engine) -> bool:
    with engine.connect() as connection:
        return bool(set(inspect(connection).get_table_names()) - {"alembic_version"})


def upgrade_schema(engine: Engine) -> None:
    """Bring the database to the newest schema; refuse a database made by a newer Pelage."""
    config = alembic_config(engine)
    scripts = ScriptDirectory.from_config(config)
    current = current_revision(engine)
    if current is not None and not _is_known(scripts, current):
        raise SchemaError(
            f"The project database at {engine.url.render_as_string(hide_password=True)} has schema "
            f"revision {current!r}, which this version of Pelage does not know. It was probably "
            "written by a newer Pelage: upgrade Pelage (pip install -U pelage) to open it."
        )
    if current is None and _has_tables(engine):
        raise unversioned_schema_error(engine.url.render_as_string(hide_password=True))
    if current != scripts.get_current_head():
        command.upgrade(config, "head")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session
