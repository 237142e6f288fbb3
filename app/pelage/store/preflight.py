"""Checks on a project's SQLite file before SQLAlchemy touches it.

Opening the engine switches the file to WAL (creating ``-wal``/``-shm`` files) and runs migrations, so a
damaged, foreign or lost database must be refused first, without writing a byte: the header is read
as plain bytes, then SQLite opens the file read-only (``immutable`` when no WAL holds newer pages, since
even a ``mode=ro`` connection leaves ``-wal``/``-shm`` files behind).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from pelage.store.errors import DamagedDatabaseError, ProjectError, unversioned_schema_error

SQLITE_MAGIC = b"SQLite format 3\x00"
HEADER_BYTES = 100
# PRAGMA quick_check reads every page: about 0.15 s for 150 MB from the page cache. Larger files get only
# the cheap probe; damage found later is still reported as damage (see database.py's error hook).
QUICK_CHECK_MAX_BYTES = 256 * 2**20
VERSION_TABLE = "alembic_version"


@dataclass(frozen=True)
class SqliteContents:
    tables: frozenset[str]  # user tables, alembic_version included
    revision: str | None


def check_sqlite_project(path: Path, root: Path, settings_file: str) -> None:
    """Refuse ``path`` if it is damaged, has tables but no schema version, or is missing/empty while ``root``
    still holds the project's files (opening it would make a new, empty project over the old crops)."""
    contents = read_sqlite_contents(path)
    if contents is None or not contents.tables:
        state = "missing" if not path.exists() else "empty (0 bytes)" if contents is None else "an empty database"
        leftovers = project_files(root, path, settings_file)
        if leftovers:
            shown = ", ".join(leftovers[:4]) + (", …" if len(leftovers) > 4 else "")
            raise ProjectError(f"The project database {path} is {state} but {root} still holds the project's files ({shown}), "
                               f"so it is not a new project. Restore {path.name} from a backup of the project folder; to start "
                               "over instead, move the folder away and create a new project.")
        return
    if contents.revision is None and contents.tables - {VERSION_TABLE}:
        raise unversioned_schema_error(str(path))


def read_sqlite_contents(path: Path) -> SqliteContents | None:
    """The tables and schema revision of the SQLite file at ``path``; None when it is missing or 0 bytes."""
    try:
        size = path.stat().st_size if path.exists() else 0
        if size == 0 and not path.is_dir():
            return None
        with path.open("rb") as file:
            header = file.read(HEADER_BYTES)
    except OSError as exc:
        raise ProjectError(f"Cannot read the project database {path}: {exc.strerror}. Check that it is a file you may read.") from exc
    check_header(path, header, size)
    uri = read_only_uri(path)
    try:
        return _probe(path, uri, quick_check=size <= QUICK_CHECK_MAX_BYTES)
    except DamagedDatabaseError:
        if read_only_uri(path) == uri:
            raise
        return _probe(path, read_only_uri(path), quick_check=size <= QUICK_CHECK_MAX_BYTES)  # a writer started meanwhile


def check_header(path: Path, header: bytes, size: int) -> None:
    """The first 100 bytes: SQLite's magic string, a valid page size, and (when the header vouches for it) a file
    as long as the page count says, which is how a copy cut short shows."""
    if len(header) < HEADER_BYTES or not header.startswith(SQLITE_MAGIC):
        raise DamagedDatabaseError(path, "it is not a SQLite database file")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise DamagedDatabaseError(path, "its header is garbled")
    pages = int.from_bytes(header[28:32], "big")
    count_is_valid = header[24:28] == header[92:96]  # SQLite's rule: the page count holds if the change counters agree
    if pages and count_is_valid and not _has_wal_frames(path) and size < pages * page_size:
        raise DamagedDatabaseError(path, f"it is cut short: {size:,} of {pages * page_size:,} bytes")


def read_only_uri(path: Path) -> str:
    """``immutable`` when no WAL file holds pages newer than the main file, so nothing is created on disk."""
    mode = "mode=ro" if _has_wal_frames(path) else "mode=ro&immutable=1"
    return f"{path.resolve().as_uri()}?{mode}"


def _has_wal_frames(path: Path) -> bool:
    wal = path.with_name(path.name + "-wal")
    return wal.is_file() and wal.stat().st_size > 0


def _probe(path: Path, uri: str, *, quick_check: bool) -> SqliteContents:
    """Read the table list and the schema revision (where corruption usually shows first); ``quick_check`` also reads
    every page."""
    try:
        with closing(sqlite3.connect(uri, uri=True, timeout=30)) as connection:
            tables = frozenset(row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
            tables = frozenset(name for name in tables if not name.startswith("sqlite_"))
            revision = None
            if VERSION_TABLE in tables:
                row = connection.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
                revision = row[0] if row else None
            if quick_check:
                problems = [row[0] for row in connection.execute("PRAGMA quick_check(3)")]
                if problems != ["ok"]:
                    raise DamagedDatabaseError(path, f"SQLite's check found: {' '.join(' '.join(problems).split())[:200]}")
    except sqlite3.OperationalError as exc:
        raise ProjectError(f"Cannot read the project database {path} ({exc}). Check that you may read it and that no other "
                           "program holds it locked.") from exc
    except sqlite3.DatabaseError as exc:
        raise DamagedDatabaseError(path, str(exc)) from exc
    return SqliteContents(tables, revision)


def project_files(root: Path, database: Path, settings_file: str) -> list[str]:
    """What ``root`` holds besides the settings and an empty database. ``open_project`` makes the artefacts folder
    only once the database is migrated, so any folder (even an empty one) or file shows a database existed; a
    non-empty WAL or journal holds database pages."""
    ignored = {settings_file, f"{Path(settings_file).stem}.tmp", database.name, database.name + "-shm"}
    sidecars = {database.name + "-wal", database.name + "-journal"}
    found = []
    for entry in sorted(root.iterdir()) if root.is_dir() else []:
        if entry.name in ignored or (entry.name in sidecars and entry.stat().st_size == 0):
            continue
        found.append(entry.name + "/" if entry.is_dir() else entry.name)
    return found
