"""Shared fixtures: real model files, real shared data (skipped with a reason when absent), and both
database back-ends (SQLite always; PostgreSQL started here when its server binaries are installed)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from pelage.paths import UserPaths, resolve_user_paths

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PELAGE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def shared_dataset(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"shared data set {path} is not here (tests read it from ../shared/data beside the repository)")
    return path


@pytest.fixture(scope="session")
def installed_u2netp() -> Path:
    """The background-removal model installed by `make setup` (`pelage models install u2netp`)."""
    source = resolve_user_paths().rembg_home / "u2netp.onnx"
    if not source.is_file():
        pytest.fail(f"{source} is missing: run `make setup` (it installs the model with `pelage models install u2netp`)")
    return source


@pytest.fixture
def user_home(tmp_path_factory, installed_u2netp, monkeypatch) -> UserPaths:
    """A fresh PELAGE_HOME for one test, holding the real U²-Net-p model."""
    home = tmp_path_factory.mktemp("pelage-home")
    paths = UserPaths(home)
    paths.rembg_home.mkdir(parents=True)
    os.symlink(installed_u2netp, paths.rembg_home / "u2netp.onnx")
    monkeypatch.setenv("PELAGE_HOME", str(home))
    return paths


@pytest.fixture(scope="session")
def demo_survey(tmp_path_factory) -> Path:
    from pelage.demo import make_demo_survey

    root = tmp_path_factory.mktemp("demo") / "survey"
    make_demo_survey(root)
    return root


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found and (Path(found).resolve().parent / "initdb").exists():
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster on a loopback port, for the whole session."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        message = "PostgreSQL server binaries are not installed (CI installs them: apt-get install postgresql)"
        if os.environ.get("PELAGE_REQUIRE_POSTGRES"):  # CI sets it: a green run must have tested PostgreSQL
            pytest.fail(message)
        pytest.skip(message)
    # Not under pytest's tmp_path: that is private to the test user, and the server may run as another.
    scratch = Path(tempfile.mkdtemp(prefix="pelage-pg-"))
    data = scratch / "data"
    port = _free_port()
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(scratch, "postgres")
    subprocess.run([*run_as, str(bin_dir / "initdb"), "-D", str(data), "-U", "pelage", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    log = data.parent / "server.log"
    if run_as:
        log.touch()
        shutil.chown(log, "postgres")
    subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o",
                    f"-p {port} -c listen_addresses=127.0.0.1 -k {data.parent}", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://pelage@127.0.0.1:{port}"
    finally:
        subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request) -> str | None:
    """None (SQLite inside the project folder) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return fresh_postgres_database(request.getfixturevalue("postgres_server"))


def fresh_postgres_database(server: str) -> str:
    """The URL of a new, empty database on the test server ``server``."""
    import psycopg

    name = f"pelage_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
