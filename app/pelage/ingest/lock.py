"""One import at a time per project, on SQLite and on PostgreSQL.

Two imports writing one project at once race on the same rows (the second one's insert of an image the
first is recording fails), so each import holds a per-project lock for its whole run. SQLite projects
lock a file in the project folder with an OS lock; PostgreSQL projects, which several laptops may share,
take a session-level advisory lock in the database. Both are released by the operating system or the
server when the holding process dies, so a crashed import never blocks the next one: its lock is simply
free. Who holds the lock (pid, host, since when) is published beside it, so a waiting import can say.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from filelock import lock_descriptor, unlock_descriptor
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from pelage.store import Project

LOCK_FILE = "import.lock"
HOLDER_FILE = "import.lock.json"
ADVISORY_KEY = 0x50454C41  # "PELA": the database is the project's, so one constant key is per project
APPLICATION_PREFIX = "pelage-import"
POSTGRES_NAME_LIMIT = 63  # application_name is cut to NAMEDATALEN - 1 bytes


@dataclass(frozen=True)
class LockHolder:
    """The import that holds a project's lock; fields are None when it could not be told."""

    pid: int | None = None
    host: str | None = None
    since: str | None = None

    @classmethod
    def this_process(cls) -> LockHolder:
        return cls(pid=os.getpid(), host=socket.gethostname(), since=datetime.now().strftime("%Y-%m-%d %H:%M:%S"))

    def describe(self) -> str:
        """"another import into this project is running (pid N on host H since T)"."""
        if self.pid is None:
            return "another import into this project is running"
        return f"another import into this project is running (pid {self.pid} on host {self.host or '?'} since {self.since or '?'})"


class ImportLock(Protocol):
    def try_acquire(self) -> bool:
        """Take the lock if it is free; never waits."""

    def holder(self) -> LockHolder:
        """Who holds the lock now (as far as can be told)."""

    def release(self) -> None:
        """Give the lock back; safe to call when it is not held."""


class FileImportLock:
    """An OS lock (flock / LockFileEx, through ``filelock``) on ``import.lock`` in the project folder.

    The holder is written to a separate JSON file because Windows locks are mandatory: a waiter could not
    read the locked file itself.
    """

    def __init__(self, folder: Path) -> None:
        self.lock_path = folder / LOCK_FILE
        self.holder_path = folder / HOLDER_FILE
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        if not lock_descriptor(fd, blocking=False):
            os.close(fd)
            return False
        self._fd = fd
        tmp = self.holder_path.with_name(f".{HOLDER_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(LockHolder.this_process())) + "\n", encoding="utf-8")
        tmp.replace(self.holder_path)  # a dead holder's record is simply overwritten
        return True

    def holder(self) -> LockHolder:
        try:
            record = json.loads(self.holder_path.read_text(encoding="utf-8"))
            return LockHolder(pid=int(record["pid"]), host=str(record["host"]), since=str(record["since"]))
        except (OSError, ValueError, KeyError, TypeError):
            return LockHolder()  # between a holder's lock and its record, or a damaged record

    def release(self) -> None:
        if self._fd is None:
            return
        self.holder_path.unlink(missing_ok=True)
        try:
            unlock_descriptor(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None


def _application_name(holder: LockHolder) -> str:
    """The holder as a PostgreSQL application_name, the host last so that the length limit only trims the host."""
    return f"{APPLICATION_PREFIX} {holder.pid} {holder.since} {holder.host}"[:POSTGRES_NAME_LIMIT]


def _holder_from_application_name(name: str | None) -> LockHolder:
    parts = (name or "").split(" ", 4)
    if len(parts) != 5 or parts[0] != APPLICATION_PREFIX or not parts[1].isdigit():
        return LockHolder()
    return LockHolder(pid=int(parts[1]), host=parts[4], since=f"{parts[2]} {parts[3]}")


class AdvisoryImportLock:
    """A session-level ``pg_try_advisory_lock`` held on a connection of its own for the whole import.

    The holder is published as that connection's ``application_name``, which other sessions read from
    ``pg_stat_activity`` joined with ``pg_locks``.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock_engine: Engine | None = None
        self._connection: Connection | None = None
        self._held = False

    def _connect(self) -> Connection:
        if self._connection is None:
            self._lock_engine = create_engine(self._engine.url, poolclass=NullPool)  # closing really ends the session
            self._connection = self._lock_engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._connection

    def try_acquire(self) -> bool:
        if self._held:
            return True
        connection = self._connect()
        if not connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}):
            return False
        self._held = True
        connection.execute(text("SELECT set_config('application_name', :name, false)"),
                           {"name": _application_name(LockHolder.this_process())})
        return True

    def holder(self) -> LockHolder:
        with self._engine.connect() as connection:
            name = connection.scalar(text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid::bigint = 0 "
                "AND l.objid::bigint = :key AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ), {"key": ADVISORY_KEY})
        return _holder_from_application_name(name)

    def release(self) -> None:
        try:
            if self._held and self._connection is not None:
                self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
        finally:
            self._held = False
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            if self._lock_engine is not None:
                self._lock_engine.dispose()
                self._lock_engine = None


def import_lock(project: Project) -> ImportLock:
    """The lock that keeps a second import out of ``project`` while one runs."""
    if project.engine.dialect.name == "postgresql":
        return AdvisoryImportLock(project.engine)
    return FileImportLock(project.root)
