"""One import at a time per project: real concurrent `pelage import` processes on SQLite and PostgreSQL. The
second waits (or, with --no-wait, refuses in one line), both finish, and every image is recorded once; an import
that dies frees the project for the one waiting."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from pelage.ingest.lock import AdvisoryImportLock, FileImportLock, LockHolder
from pelage.store import Image, open_project
from tests.conftest import wait_for
from tests.images import pattern_rgb, save_jpeg

IMAGES = 12
COMMON = ["--detector", "saliency", "--no-background-removal", "--threads", "1"]


@pytest.fixture
def small_survey(tmp_path) -> Path:
    survey = tmp_path / "survey"
    for number in range(IMAGES):
        save_jpeg(survey / f"ST{number % 3}" / "C1" / f"IMG_{number:04d}.JPG", pattern_rgb(seed=number))
    return survey


def _command(survey: Path, project: Path, database_url: str | None, *extra: str) -> list[str]:
    database = ["--database", database_url] if database_url else []
    return [sys.executable, "-m", "pelage", "import", str(survey), "--project", str(project), *database, *COMMON, *extra]


def _holder(project: Path, database_url: str | None) -> LockHolder:
    """Who holds the project's import lock, read the way a waiting import reads it."""
    if database_url is None:
        return FileImportLock(project).holder()
    engine = create_engine(database_url)
    try:
        return AdvisoryImportLock(engine).holder()
    finally:
        engine.dispose()


def _image_rows(project: Path) -> tuple[int, int]:
    """(image rows, distinct paths): equal when no image was recorded twice."""
    with open_project(project) as opened, Session(opened.engine) as session:
        return session.scalar(select(func.count(Image.id))), session.scalar(select(func.count(func.distinct(Image.path))))


def _start_and_pause(survey: Path, project: Path, database_url: str | None, env: dict[str, str]) -> subprocess.Popen:
    """An import stopped (SIGSTOP) while it holds the project's lock."""
    first = subprocess.Popen(_command(survey, project, database_url), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: _holder(project, database_url).pid == first.pid or first.poll() is not None, timeout=120, interval=0.05)
    first.send_signal(signal.SIGSTOP)
    assert first.poll() is None, "the first import finished before it could be paused"
    return first


def _wait_until_waiting(process: subprocess.Popen, log: Path) -> str:
    assert wait_for(lambda: "waiting" in log.read_text() or process.poll() is not None, timeout=120), "never said it waits"
    return log.read_text()


@pytest.mark.slow
def test_second_import_waits_or_refuses_and_both_finish(tmp_path, user_home, small_survey, database_url):
    project = tmp_path / "project"
    env = {**os.environ, "PELAGE_HOME": str(user_home.home)}
    first = _start_and_pause(small_survey, project, database_url, env)
    try:
        busy = (f"another import into this project is running (pid {first.pid} on host {socket.gethostname()[:20]}")
        refused = subprocess.run(_command(small_survey, project, None, "--no-wait"), env=env, capture_output=True, text=True)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        [line] = refused.stderr.splitlines()
        assert line.startswith(f"pelage: error: {busy}") and line.endswith("Wait for it to finish, or run the import without --no-wait.")

        log = tmp_path / "second.log"
        with open(log, "w") as stderr:
            second = subprocess.Popen(_command(small_survey, project, None, "--json"), env=env, stdout=subprocess.PIPE,
                                      stderr=stderr, text=True)
        said = _wait_until_waiting(second, log)
        assert busy in said and said.rstrip().endswith("; waiting…")
    finally:
        first.send_signal(signal.SIGCONT)
    first_out, first_err = first.communicate(timeout=300)
    second_out, _ = second.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, first_err
    assert f"imported now:      {IMAGES}" in first_out and f'"already_imported": {IMAGES}' in second_out
    assert _image_rows(project) == (IMAGES, IMAGES)


@pytest.mark.slow
def test_an_import_that_dies_frees_the_project_for_the_one_waiting(tmp_path, user_home, small_survey, database_url):
    project = tmp_path / "project"
    env = {**os.environ, "PELAGE_HOME": str(user_home.home)}
    first = _start_and_pause(small_survey, project, database_url, env)
    log = tmp_path / "second.log"
    with open(log, "w") as stderr:
        second = subprocess.Popen(_command(small_survey, project, None, "--json"), env=env, stdout=subprocess.PIPE,
                                  stderr=stderr, text=True)
    try:
        _wait_until_waiting(second, log)
    finally:
        first.kill()
        first.wait(timeout=30)
    second_out, _ = second.communicate(timeout=300)
    assert second.returncode == 0, log.read_text()
    assert '"imported": ' in second_out and _image_rows(project) == (IMAGES, IMAGES)


def test_file_lock_is_exclusive_names_its_holder_and_is_released(tmp_path):
    first, second = FileImportLock(tmp_path), FileImportLock(tmp_path)
    assert first.try_acquire() and not second.try_acquire()
    holder = second.holder()
    assert (holder.pid, holder.host) == (os.getpid(), socket.gethostname()) and holder.since
    first.release()
    assert second.try_acquire()
    second.release()
    assert FileImportLock(tmp_path).holder() == LockHolder()  # nobody: the record went with the lock


def test_a_dead_holders_lock_is_taken_over_at_once(tmp_path):
    """A process that took the lock and was killed (no chance to clean up) leaves its record, never its lock."""
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from pelage.ingest.lock import FileImportLock; "
        "assert FileImportLock(Path(sys.argv[1])).try_acquire(); print('held', flush=True); time.sleep(600)"
    ), str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert not FileImportLock(tmp_path).try_acquire()
        assert FileImportLock(tmp_path).holder().pid == holder.pid
    finally:
        holder.kill()
        holder.wait(timeout=30)
    started = time.monotonic()
    taker = FileImportLock(tmp_path)
    assert taker.try_acquire() and time.monotonic() - started < 1
    assert taker.holder().pid == os.getpid()
    taker.release()
