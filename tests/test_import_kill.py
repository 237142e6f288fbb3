"""An import killed with SIGKILL half-way and re-run ends with exactly the rows of an uninterrupted one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from sqlalchemy import create_engine, text

from pelage.store import open_project
from tests.conftest import wait_for
from tests.test_import import image_rows


def _pelage(*args: str) -> list[str]:
    return [sys.executable, "-m", "pelage", *args]


def _count_images(project_dir) -> int:
    database = project_dir / "project.sqlite"
    if not database.exists():
        return 0
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM images")).scalar()
    except Exception:  # the schema is still being created
        return 0
    finally:
        engine.dispose()


def test_sigkill_half_way_then_rerun_equals_uninterrupted(tmp_path, user_home, demo_survey):
    env = {**os.environ, "PELAGE_HOME": str(user_home.home)}
    common = ["--detector", "saliency", "--threads", "1"]

    reference = tmp_path / "reference"
    subprocess.run(_pelage("import", str(demo_survey), "--project", str(reference), *common), env=env, check=True,
                   capture_output=True)

    killed = tmp_path / "killed"
    process = subprocess.Popen(_pelage("import", str(demo_survey), "--project", str(killed), *common), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: _count_images(killed) >= 8, timeout=120), "the import never got going"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    interrupted_at = _count_images(killed)
    assert 8 <= interrupted_at < 25, "the kill must land half-way for this test to mean anything"

    rerun = subprocess.run(_pelage("import", str(demo_survey), "--project", str(killed), *common, "--json"),
                           env=env, check=True, capture_output=True, text=True)
    assert f'"already_imported": {interrupted_at}' in rerun.stdout

    with open_project(reference) as ref, open_project(killed) as resumed:
        assert image_rows(resumed) == image_rows(ref)
        for row in image_rows(resumed):
            for *_, crop, _source in row[-1]:
                assert (resumed.artefacts / crop).stat().st_size > 0
