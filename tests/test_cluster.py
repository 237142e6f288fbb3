"""A season past one machine: `pelage import` and `pelage identify` with `--cluster` on a real Dask cluster
(a LocalCluster of two worker processes) and a project on PostgreSQL give the project a single machine gives;
a worker killed in the middle loses nothing."""

from __future__ import annotations

import json
import os
import signal
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pelage.cli.main import cli
from pelage.ingest import DetectorConfig, ImportOptions, build_pipeline, import_survey, run_import
from pelage.reid.candidates import stored_vectors
from pelage.reid.feature_store import features_path
from pelage.store import open_project
from tests.conftest import fresh_postgres_database
from tests.test_import import image_rows

distributed = pytest.importorskip("distributed", reason="Dask is not installed: `pip install -e '.[dev]'` installs it")

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture(scope="module")
def local_cluster():
    """Two worker processes with one thread each, as two small machines would be."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster


def pelage(*args: str) -> dict:
    result = CliRunner().invoke(cli, [*args, "--json"] if args[0] == "import" else list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if args[0] == "import" else {}


def crop_bytes(root: Path, rows: list[tuple]) -> dict[str, bytes]:
    return {d[4]: (root / "artefacts" / d[4]).read_bytes() for row in rows for d in row[-1]}


def test_a_cluster_import_and_identify_on_postgres_equal_a_single_machines(tmp_path, user_home, demo_survey, postgres_server,
                                                                          local_cluster):
    team, single = tmp_path / "team", tmp_path / "single"
    database = fresh_postgres_database(postgres_server)
    remote = pelage("import", str(demo_survey), "--project", str(team), "--database", database, "--detector", "saliency",
                    "--cluster", local_cluster.scheduler_address)
    alone = pelage("import", str(demo_survey), "--project", str(single), "--detector", "saliency", "--workers", "1")
    assert remote["imported"] == alone["imported"] == 24 and remote["failed"] == alone["failed"] == 1
    assert remote["stage_seconds"] == {} and alone["stage_seconds"]  # the team's photos were analysed on the workers
    pelage("identify", str(team), "--cluster", local_cluster.scheduler_address)
    pelage("identify", str(single))

    with open_project(team) as team_project, open_project(single) as single_project:
        assert team_project.database_url.startswith("postgresql")
        team_rows, single_rows = image_rows(team_project), image_rows(single_project)
        assert team_rows == single_rows and sum(len(row[-1]) for row in team_rows) >= 16
        assert crop_bytes(team, team_rows) == crop_bytes(single, single_rows)  # the workers wrote the same cached files
        model_id = pelage_model_id(single_project)
        team_ids, team_vectors = stored_vectors(team_project, model_id)
        single_ids, single_vectors = stored_vectors(single_project, model_id)
    detections = {d[4]: None for row in team_rows for d in row[-1]}
    assert len(team_ids) == len(single_ids) == len(detections)
    np.testing.assert_allclose(team_vectors, single_vectors, atol=1e-4)
    for crop in detections:  # the workers stored each animal's pattern features where a single machine does, the same ones
        with np.load(team / "artefacts" / features_path(crop), allow_pickle=False) as mine, \
             np.load(single / "artefacts" / features_path(crop), allow_pickle=False) as theirs:
            assert len(mine["sift"]) and all(np.array_equal(mine[k], theirs[k]) for k in theirs.files)


def saliency_pipeline(user_home, project):
    return partial(build_pipeline, user_home, project.artefacts, DetectorConfig(name="saliency"), threads=1)


def pelage_model_id(project) -> str:
    from pelage.store.schema import Embedding

    with project.sessions() as session:
        return session.query(Embedding.model_id).distinct().one()[0]


def test_a_worker_killed_mid_import_loses_no_photo(tmp_path, user_home, demo_survey, postgres_server, local_cluster):
    from pelage.cluster import Cluster

    with (Cluster.connect(local_cluster.scheduler_address) as cluster,
          open_project(tmp_path / "team", create=True, database_url=fresh_postgres_database(postgres_server)) as project):
        factory = saliency_pipeline(user_home, project)
        importing = run_import(project, demo_survey, factory, ImportOptions(), remote=cluster.photo_workers(factory))
        events, killed = [], None
        try:
            while True:
                events.append(next(importing))
                if len(events) == 3:  # photos are in flight on both workers: take one of them away
                    killed = next(iter(cluster.client.run(os.getpid).values()))
                    os.kill(killed, signal.SIGKILL)
        except StopIteration as stop:
            summary = stop.value
        assert killed is not None and killed not in cluster.client.run(os.getpid).values()
        assert summary.imported == 24 and summary.failed == 1 and not summary.cancelled
        assert [e.done for e in events] == list(range(1, 26))
        rows = image_rows(project)
    with open_project(tmp_path / "single", create=True) as project:
        import_survey(project, demo_survey, saliency_pipeline(user_home, project), ImportOptions(workers=1))
        assert image_rows(project) == rows
