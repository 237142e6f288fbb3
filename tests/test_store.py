import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from pelage.store import (
    Camera,
    Decision,
    DecisionKind,
    Detection,
    Image,
    ImageStatus,
    ProjectError,
    SchemaError,
    Station,
    Survey,
    open_project,
    transaction,
)
from pelage.store.database import current_revision, head_revision
from pelage.store.project import SETTINGS_FILE
from pelage.store.schema import Base


def test_new_project_is_migrated_to_head(tmp_path, database_url):
    with open_project(tmp_path / "p", create=True, database_url=database_url) as project:
        assert current_revision(project.engine) == head_revision(project.engine)
        assert project.artefacts.is_dir()


def test_models_and_migrations_agree(tmp_path, database_url):
    """What `alembic check` does: autogenerate against a migrated database finds nothing to add."""
    with open_project(tmp_path / "p", create=True, database_url=database_url) as project:
        with project.engine.connect() as connection:
            diffs = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diffs == []


def test_rows_round_trip(tmp_path, database_url):
    with open_project(tmp_path / "p", create=True, database_url=database_url) as project:
        with transaction(project.sessions) as session:
            survey = Survey(name="2024", root="/data/2024")
            camera = Camera(station=Station(name="Station13"), name="Camera1")
            image = Image(survey=survey, path="a/b c.JPG", sha256="ab" * 32, size_bytes=5_000_000_000,
                          camera=camera, status=ImageStatus.DONE)
            image.detections.append(Detection(x0=1, y0=2, x1=30, y1=40, score=0.9, label="animal", detector="t"))
            image.detections.append(Detection(x0=5, y0=5, x1=9, y1=9, score=0.5, label="animal", detector="t"))
            session.add(image)
        with transaction(project.sessions) as session:
            a, b = session.query(Detection.id).order_by(Detection.id).all()
            session.add(Decision(a_id=a.id, b_id=b.id, kind=DecisionKind.MATCH, author="me"))
        with project.sessions() as session:
            stored = session.query(Image).one()
            assert stored.camera.station.name == "Station13"
            assert stored.size_bytes == 5_000_000_000  # bigger than 32 bits
            assert [d.box for d in stored.detections] == [(1, 2, 30, 40), (5, 5, 9, 9)]
            assert session.query(Decision).one().kind is DecisionKind.MATCH


def test_unknown_schema_is_refused_with_the_fix(tmp_path, database_url):
    root = tmp_path / "p"
    with open_project(root, create=True, database_url=database_url) as project:
        with project.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
    with pytest.raises(SchemaError, match="newer Pelage"):
        open_project(root)


def test_missing_and_non_empty_folders(tmp_path):
    with pytest.raises(ProjectError, match="not a Pelage project"):
        open_project(tmp_path / "nowhere")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.docx").write_text("x")
    with pytest.raises(ProjectError, match="not empty"):
        open_project(tmp_path / "busy", create=True)


def test_settings_from_a_newer_pelage_are_refused(tmp_path):
    root = tmp_path / "p"
    open_project(root, create=True).close()
    (root / SETTINGS_FILE).write_text(json.dumps({"format": 99}))
    with pytest.raises(ProjectError, match="newer Pelage"):
        open_project(root)


def test_sqlite_runs_in_wal_mode(tmp_path):
    with open_project(tmp_path / "p", create=True) as project, project.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_a_project_from_before_not_usable_detections_is_upgraded(tmp_path, database_url):
    """A project written at revision 0002 opens at head, its detections kept and usable until set aside."""
    from alembic import command

    from pelage.store.database import alembic_config

    root = tmp_path / "p"
    with open_project(root, create=True, database_url=database_url) as project:
        command.downgrade(alembic_config(project.engine), "0002")
        assert current_revision(project.engine) == "0002"
        with project.engine.begin() as connection:
            connection.execute(text("INSERT INTO surveys (id, name, root, created_at) VALUES (1, 's', '/s', '2024-01-01')"))
            connection.execute(text("INSERT INTO images (id, survey_id, path, size_bytes, status, imported_at) "
                                    "VALUES (1, 1, 'a.jpg', 10, 'done', '2024-01-01')"))
            connection.execute(text("INSERT INTO detections (id, image_id, x0, y0, x1, y1, score, label, detector, created_at) "
                                    "VALUES (1, 1, 0, 0, 10, 10, 0.9, 'animal', 't', '2024-01-01')"))
    with open_project(root) as project:
        assert current_revision(project.engine) == head_revision(project.engine) == "0004"
        with project.sessions() as session:
            assert session.get(Detection, 1).unusable_reason is None
