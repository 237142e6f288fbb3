"""A Pelage project: one folder holding the settings file, the SQLite database (unless the project
points at a PostgreSQL server) and the cached crops, masks and edge images.

The folder is self-contained so a user can copy it to another laptop; survey images stay where they
are and are referred to by path relative to the survey root.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from pelage.store.database import create_db_engine, make_session_factory, sqlite_url, upgrade_schema
from pelage.store.errors import ProjectError
from pelage.store.preflight import check_sqlite_project
from pelage.store.settings import FORMAT_VERSION, SETTINGS_FILE, ProjectSettings, check_database_url

SQLITE_FILE = "project.sqlite"
ARTEFACT_DIR = "artefacts"


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


def is_project(root: Path) -> bool:
    return (Path(root) / SETTINGS_FILE).is_file()


def open_project(root: Path | str, *, create: bool = False, database_url: str | None = None) -> Project:
    """Open (and migrate) the project in ``root``; with ``create``, make it first if it is missing.

    ``database_url`` chooses a server database for a new project (e.g.
    ``postgresql+psycopg://user@host/pelage``); SQLite inside the folder is the default. The folder is
    untrusted input: everything that can be checked without writing is checked before the database
    engine opens, so a refused project is left exactly as it was.
    """
    root = Path(root).expanduser().resolve()
    _refuse_a_file(root, create)
    if database_url is not None:
        check_database_url(database_url, "The new project's database")
    folder_existed = None if is_project(root) else _create_folder(root, create, database_url)
    try:
        return _open_folder(root, database_url)
    except BaseException:
        if folder_existed is not None:
            _remove_new_project(root, folder_existed)
        raise


def _open_folder(root: Path, database_url: str | None) -> Project:
    """Check the settings and the database without writing, then open the engine and migrate."""
    settings = ProjectSettings.load(root)
    if database_url and settings.database not in (None, database_url):
        raise ProjectError(f"{root} already uses the database {settings.database!r}, not {database_url!r}.")
    url = settings.database or sqlite_url(root / SQLITE_FILE)
    if make_url(url).get_backend_name() == "sqlite":
        check_sqlite_project(Path(make_url(url).database), root, SETTINGS_FILE)
    engine = _engine(url, root / SETTINGS_FILE)
    try:
        if engine.dialect.name != "sqlite":
            _connect_once(engine, root / SETTINGS_FILE)
        upgrade_schema(engine)
        (root / ARTEFACT_DIR).mkdir(exist_ok=True)
    except BaseException:
        engine.dispose()  # no pooled connection may keep -wal/-shm files (or a server session) behind a refusal
        raise
    return Project(root=root, database_url=url, engine=engine, sessions=make_session_factory(engine))


def _refuse_a_file(root: Path, create: bool) -> None:
    """A photo or the database file given where the project folder belongs."""
    if not root.exists() or root.is_dir():
        return
    if root.name in (SETTINGS_FILE, SQLITE_FILE) and is_project(root.parent):
        raise ProjectError(f"{root} is a file inside a project, not a project folder. Give the project folder instead: {root.parent}.")
    fix = "Choose a new folder for the project" if create else f"Give the project folder (the one holding {SETTINGS_FILE})"
    raise ProjectError(f"{root} is a file, not a project folder. {fix}.")


def _create_folder(root: Path, create: bool, database_url: str | None) -> bool:
    """Make the folder and its settings file; True if the (empty) folder was there already."""
    if not create:
        hint = "" if root.exists() else " (the folder does not exist)"
        raise ProjectError(f"{root} is not a Pelage project{hint}. Create one with `pelage import SURVEY --project {root}`.")
    if root.exists() and any(root.iterdir()):
        raise ProjectError(f"{root} exists and is not empty; choose a new folder for the project.")
    blocking = next((parent for parent in root.parents if parent.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise ProjectError(f"Cannot create the project folder {root}: {blocking} is a file. Choose a folder for the project elsewhere.")
    existed = root.exists()
    try:
        root.mkdir(parents=True, exist_ok=True)
        ProjectSettings(format=FORMAT_VERSION, database=database_url).save(root)
    except OSError as exc:
        raise ProjectError(f"Cannot create the project folder {root}: {exc.strerror}. Choose a folder you can write to.") from exc
    return existed


def _remove_new_project(root: Path, folder_existed: bool) -> None:
    """Undo a creation that failed (an unreachable server, say): the folder was empty or absent a moment ago, so
    what is in it now is only what this call made, and a half-made project would later open as a real one."""
    if not folder_existed:
        shutil.rmtree(root, ignore_errors=True)
        return
    for entry in root.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _engine(url: str, settings_path: Path) -> Engine:
    """The engine, with a missing database driver named as a settings problem rather than an ImportError."""
    try:
        return create_db_engine(url)
    except (ImportError, NoSuchModuleError) as exc:
        raise ProjectError(f'{settings_path}: "database" needs a database driver that is not installed ({exc}). '
                           "Use a postgresql+psycopg:// URL (its driver comes with Pelage).") from None


def _connect_once(engine: Engine, settings_path: Path) -> None:
    """Reach the server before migrating, so an unreachable one is one sentence, not the driver's traceback."""
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise ProjectError(f"Cannot reach the project database at {where} ({_server_reason(exc)}); is the server running? "
                           f'Start it, or correct the "database" URL in {settings_path}.') from None


def _server_reason(exc: OperationalError) -> str:
    """The driver's reason on one line: psycopg's message repeats the address and adds a hint on further lines."""
    first_line = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
    reason = first_line.rsplit(" failed: ", 1)[-1]
    return " ".join(reason.removeprefix("FATAL:").split()).rstrip(".")
