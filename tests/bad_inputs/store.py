"""Project folders that cannot be opened (issue #12): a file given as the folder, a damaged, cut-short or
foreign database, tables without a schema version, unusable settings, a lost database beside the project's
crops, and an unreachable server. Each is made from a real populated project (rows written through the
store, no models), built once per session and copied into the case's folder."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import sqlite3
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

from tests.bad_inputs import BadInput, Invocation

PROJECT = "leopards"
DATABASE = "project.sqlite"
SETTINGS = "pelage-project.json"
RESTORE = "Restore project.sqlite from a backup"


@cache
def _template() -> Path:
    """A populated project as an import leaves it: database rows, cached crops and a candidate index."""
    from tests.test_export_formats import build_export_project

    scratch = Path(tempfile.mkdtemp(prefix="pelage-store-cases-"))
    atexit.register(shutil.rmtree, scratch, True)
    root = build_export_project(scratch / PROJECT)
    crop = root / "artefacts" / "3f" / f"3f{'0' * 62}_0_crop.jpg"
    crop.parent.mkdir(parents=True)
    crop.write_bytes(b"\xff\xd8\xff\xe0 a cached crop")
    (root / "index").mkdir()
    (root / "index" / "nyala-lite0.faiss").write_bytes(b"a candidate index")
    return root


def _copy_project(folder: Path) -> Path:
    return Path(shutil.copytree(_template(), folder / PROJECT))


def _survey(folder: Path) -> Path:
    """A survey folder the import would accept, so only the project can be what is refused."""
    (folder / "survey" / "ST01").mkdir(parents=True, exist_ok=True)
    (folder / "survey" / "ST01" / "IMG_0001.JPG").write_bytes(b"\xff\xd8\xff\xe0 a photo")
    return folder / "survey"


def _commands(project: Path, folder: Path) -> dict[str, list[str]]:
    """Every kind of command that opens a project: read, write (import), export, review."""
    _survey(folder)
    return {
        "info": ["info", str(project)],
        "animals": ["animals", str(project), "--json"],
        "import": ["import", str(folder / "survey"), "--project", str(project)],
        "export": ["export", str(project), "--format", "individuals", "--out", str(folder / "export")],
        "propose": ["propose", str(project), "--json"],
    }


def _cases(name: str, damage: Callable[[Path], None], fragments: tuple[str, ...], commands: tuple[str, ...],
           exit_code: int = 2) -> list[BadInput]:
    """One row per command, each on its own copy of the template damaged by ``damage(project)``."""
    def prepare_for(command: str) -> Callable[[Path], Invocation]:
        def prepare(folder: Path) -> Invocation:
            project = _copy_project(folder)
            damage(project)
            return _commands(project, folder)[command]
        return prepare
    return [BadInput(f"store-{name}-{command}", prepare_for(command), fragments, exit_code) for command in commands]


# -- the damage ---------------------------------------------------------------------------------------

def cut_in_half(project: Path) -> None:
    data = (project / DATABASE).read_bytes()
    (project / DATABASE).write_bytes(data[: len(data) // 2])


def random_bytes(project: Path) -> None:
    (project / DATABASE).write_bytes(os.urandom((project / DATABASE).stat().st_size))


def _zero_page(project: Path, page: int) -> None:
    path = project / DATABASE
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    start = (page - 1) * page_size + (100 if page == 1 else 0)  # page 1 keeps the file header: only the schema goes
    data[start: page * page_size] = bytes(page * page_size - start)
    path.write_bytes(bytes(data))


def damage_schema_page(project: Path) -> None:
    _zero_page(project, 1)


def damage_images_page(project: Path) -> None:
    """The ``images`` table's page: the schema still reads, so only SQLite's page check finds it."""
    with sqlite3.connect(project / DATABASE) as connection:
        page = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = 'images'").fetchone()[0]
    connection.close()
    _zero_page(project, page)


def drop_schema_version(project: Path) -> None:
    with sqlite3.connect(project / DATABASE) as connection:
        connection.execute("DROP TABLE alembic_version")
    connection.close()


def empty_schema_version(project: Path) -> None:
    with sqlite3.connect(project / DATABASE) as connection:
        connection.execute("DELETE FROM alembic_version")
    connection.close()


def rename_a_table(project: Path) -> None:
    """Tables changed behind Pelage's back under a valid schema version: nothing checks for it, so it ends in the
    last-resort handler (one line and a crash log under PELAGE_HOME/logs, outside the case's folder)."""
    with sqlite3.connect(project / DATABASE) as connection:
        connection.execute("ALTER TABLE detections RENAME TO detections_old")
    connection.close()


def empty_database(project: Path) -> None:
    (project / DATABASE).write_bytes(b"")


def missing_database(project: Path) -> None:
    (project / DATABASE).unlink()


def settings(value: object) -> Callable[[Path], None]:
    def write(project: Path) -> None:
        (project / SETTINGS).write_text(value if isinstance(value, str) else json.dumps(value))
    return write


def database_elsewhere(project: Path) -> None:
    """Settings that point the project at another SQLite file of this laptop (made and left untouched here)."""
    other = project.parent / "someone-else.sqlite"
    other.write_bytes(b"")
    settings({"format": 1, "database": f"sqlite:///{other.as_posix()}"})(project)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unreachable_server(project: Path) -> None:
    """A PostgreSQL URL on a loopback port nobody listens on."""
    settings({"format": 1, "database": f"postgresql+psycopg://pelage@127.0.0.1:{_free_port()}/leopards"})(project)


# -- a file where the project folder belongs ---------------------------------------------------------

def info_on_a_photo(folder: Path) -> Invocation:
    (folder / "IMG_0001.JPG").write_bytes(b"\xff\xd8\xff\xe0 a photo")
    return ["info", str(folder / "IMG_0001.JPG")]


def import_into_a_file(folder: Path) -> Invocation:
    _survey(folder)
    (folder / "notes.txt").write_text("station notes\n")
    return ["import", str(folder / "survey"), "--project", str(folder / "notes.txt")]


def import_below_a_file(folder: Path) -> Invocation:
    _survey(folder)
    (folder / "notes.txt").write_text("station notes\n")
    return ["import", str(folder / "survey"), "--project", str(folder / "notes.txt" / "leopards")]


def info_on_the_database_file(folder: Path) -> Invocation:
    return ["info", str(_copy_project(folder) / DATABASE)]


ALL = ("info", "animals", "import", "export", "propose")
DAMAGED = ("is damaged", RESTORE, "has not changed")
LOST = ("still holds the project's files", "artefacts/", "index/", RESTORE, "move the folder away")
URL_FIX = ("pelage-project.json", '"database"', "postgresql+psycopg://")

CASES = [
    BadInput("store-info-on-a-photo", info_on_a_photo, ("IMG_0001.JPG is a file, not a project folder", "Give the project folder")),
    BadInput("store-import-into-a-file", import_into_a_file, ("notes.txt is a file, not a project folder", "Choose a new folder")),
    BadInput("store-import-below-a-file", import_below_a_file, ("notes.txt is a file", "Choose a folder for the project elsewhere")),
    BadInput("store-info-on-the-database-file", info_on_the_database_file,
             ("project.sqlite is a file inside a project", f"Give the project folder instead: {os.sep}")),
    *_cases("database-cut-in-half", cut_in_half, (*DAMAGED, "cut short"), ALL),
    *_cases("database-random-bytes", random_bytes, (*DAMAGED, "not a SQLite database file"), ("info", "import")),
    *_cases("database-schema-page-malformed", damage_schema_page, (*DAMAGED, "malformed"), ("info", "import", "propose")),
    *_cases("database-data-page-malformed", damage_images_page, (*DAMAGED, "malformed"), ALL),
    *_cases("schema-version-dropped", drop_schema_version, ("has Pelage's tables but no schema version", "Restore the database from a backup"),
            ALL),
    *_cases("schema-version-emptied", empty_schema_version, ("no schema version",), ("info",)),
    *_cases("database-empty-beside-crops", empty_database, ("project.sqlite is empty (0 bytes)", *LOST), ALL),
    *_cases("database-missing-beside-crops", missing_database, ("project.sqlite is missing", *LOST), ALL),
    *_cases("settings-a-list", settings([1]), ("pelage-project.json holds a JSON list", "Restore it from a backup"), ("info", "import")),
    *_cases("settings-database-a-number", settings({"format": 1, "database": 5}),
            ('pelage-project.json: "database" must be null', 'Set "database": null'), ("info", "export")),
    *_cases("settings-format-a-word", settings({"format": "one", "database": None}),
            ('pelage-project.json: "format" must be a whole number', 'Set "format": 1'), ("info", "propose")),
    *_cases("settings-mysql-url", settings({"format": 1, "database": "mysql://x"}),
            (*URL_FIX, "'mysql' database, which Pelage does not support"), ("info", "import")),
    *_cases("settings-sqlite-file-elsewhere", database_elsewhere, ("names an SQLite database", "always project.sqlite inside its folder"),
            ("info", "import")),
    *_cases("settings-not-a-url", settings({"format": 1, "database": "not a url"}), (*URL_FIX, "is not a database URL"), ("info", "animals")),
    *_cases("table-renamed-behind-pelages-back", rename_a_table,
            ("unexpected OperationalError", "no such table: detections", "This is a bug in Pelage; the details are in",
             f"{os.sep}logs{os.sep}crash-", "please send that file with a report"), ("info",), exit_code=1),
    *_cases("postgres-unreachable", unreachable_server,
            ("Cannot reach the project database at postgresql+psycopg://pelage@127.0.0.1:", "is the server running?", "pelage-project.json"),
            ("info", "import", "propose")),
]
