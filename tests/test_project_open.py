"""Opening a project folder is opening untrusted input (issue #12): what the bad-input table cannot show from the
outside. Which error each damage raises, damage found only after opening (a file too big to check page by
page), a project another process holds open, a server database without its schema version, and a creation
that fails halfway leaving nothing behind."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
from pathlib import Path

import pytest
from sqlalchemy import text

from pelage.store import ProjectError, SchemaError, open_project, transaction
from pelage.store import preflight as preflight_module
from pelage.store.errors import DamagedDatabaseError
from pelage.store.project import SETTINGS_FILE, SQLITE_FILE
from pelage.store.queries import project_counts
from pelage.store.schema import Survey
from pelage.store.settings import ProjectSettings
from tests.bad_inputs import store as damage
from tests.test_bad_inputs import snapshot
from tests.test_export_formats import build_export_project


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return build_export_project(tmp_path_factory.mktemp("template") / "leopards")


@pytest.fixture
def project(template, tmp_path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "leopards"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("spoil, error", [
    (damage.cut_in_half, DamagedDatabaseError),
    (damage.random_bytes, DamagedDatabaseError),
    (damage.damage_schema_page, DamagedDatabaseError),
    (damage.damage_images_page, DamagedDatabaseError),
    (damage.drop_schema_version, SchemaError),
    (damage.empty_database, ProjectError),
    (damage.missing_database, ProjectError),
    (damage.settings([1]), ProjectError),
])
def test_each_damage_is_refused_before_anything_is_written(project, spoil, error):
    spoil(project)
    before = snapshot(project)
    with pytest.raises(error):
        open_project(project)
    assert snapshot(project) == before


def test_a_new_project_is_its_settings_file_alone(tmp_path):
    """How ``create=True`` makes one (settings first, then the database), and what an interrupted creation leaves."""
    root = tmp_path / "new"
    root.mkdir()
    ProjectSettings().save(root)
    (root / SQLITE_FILE).write_bytes(b"")
    with open_project(root) as opened, opened.sessions() as session:
        assert project_counts(session)["images"] == 0
    assert (root / SQLITE_FILE).stat().st_size > 0 and (root / "artefacts").is_dir()


def test_damage_in_a_file_too_big_to_check_is_still_reported_as_damage(project, monkeypatch):
    damage.damage_images_page(project)
    monkeypatch.setattr(preflight_module, "QUICK_CHECK_MAX_BYTES", 0)  # as for a multi-gigabyte project
    digest = hashlib.sha256((project / SQLITE_FILE).read_bytes()).hexdigest()
    with open_project(project) as opened, opened.sessions() as session:  # the schema reads fine
        with pytest.raises(DamagedDatabaseError, match=f"{project / SQLITE_FILE} is damaged .*malformed"):
            project_counts(session)
    assert hashlib.sha256((project / SQLITE_FILE).read_bytes()).hexdigest() == digest


def test_a_project_open_in_another_program_opens_and_sees_its_unsaved_pages(project):
    """The WAL of a running import holds pages the main file does not have yet: the probe reads through it."""
    with open_project(project) as first:
        with transaction(first.sessions) as session:
            session.add(Survey(name="season3", root="/data/season3"))
        assert (project / f"{SQLITE_FILE}-wal").stat().st_size > 0
        with open_project(project) as second, second.sessions() as session:
            assert project_counts(session)["surveys"] == 3


def test_tables_without_a_schema_version_are_refused(tmp_path, database_url):
    root = tmp_path / "p"
    with open_project(root, create=True, database_url=database_url) as created:
        with created.engine.begin() as connection:
            connection.execute(text("DROP TABLE alembic_version"))
    with pytest.raises(SchemaError, match="has Pelage's tables but no schema version"):
        open_project(root)
    if database_url is None:
        assert sorted(path.name for path in root.iterdir()) == ["artefacts", SETTINGS_FILE, SQLITE_FILE]


@pytest.mark.parametrize("existing_folder", [False, True])
def test_a_creation_that_cannot_reach_its_server_leaves_nothing(tmp_path, existing_folder):
    root = tmp_path / "new"
    if existing_folder:
        root.mkdir()
    url = f"postgresql+psycopg://pelage@127.0.0.1:{_free_port()}/leopards"
    with pytest.raises(ProjectError, match=r"Cannot reach the project database at .*\(Connection refused\); is the server running\?"):
        open_project(root, create=True, database_url=url)
    assert (list(root.iterdir()) == []) if existing_folder else not root.exists()


@pytest.mark.parametrize("data, fragments", [
    ([1], ["holds a JSON list"]),
    ("leopards", ["holds a JSON string"]),
    ({"format": "one"}, ['"format" must be a whole number', "'one'"]),
    ({"format": True}, ['"format" must be a whole number']),
    ({"format": 99}, ["newer Pelage"]),
    ({"format": 1, "database": 5}, ['"database" must be null', "not 5"]),
    ({"format": 1, "database": ["postgresql://x"]}, ['"database" must be null']),
    ({"format": 1, "database": "mysql://x"}, ["'mysql' database, which Pelage does not support"]),
    ({"format": 1, "database": "not a url"}, ['"database" is not a database URL']),
    ({"format": 1, "database": "sqlite://"}, ["names an SQLite database", "always project.sqlite inside its folder"]),
    ({"format": 1, "database": "sqlite:////home/someone/other.sqlite"}, ["names an SQLite database", "Use none (null)"]),
])
def test_settings_name_the_file_the_key_and_the_fix(tmp_path, data, fragments):
    path = tmp_path / SETTINGS_FILE
    with pytest.raises(ProjectError) as raised:
        ProjectSettings.from_json(data, path)
    message = str(raised.value)
    assert message.startswith(str(path)) and "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_usable_settings(tmp_path):
    path = tmp_path / SETTINGS_FILE
    assert ProjectSettings.from_json({}, path) == ProjectSettings(format=0, database=None)  # the first Pelage wrote no format
    url = "postgresql+psycopg://pelage@db.example.org/leopards"
    assert ProjectSettings.from_json({"format": 1, "database": url, "note": "kept by a newer Pelage"}, path).database == url
    ProjectSettings(database=url).save(tmp_path)
    assert json.loads(path.read_text()) == {"format": 1, "database": url}
