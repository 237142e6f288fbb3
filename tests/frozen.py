"""Running a Pelage build as a user would: the demo survey end to end and the window's start-up, timed.

Shared by the package's smoke test (``tests/test_package.py``) and ``packaging/compare.py``, which runs the
same steps on the frozen build and on the virtual environment side by side.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DIST = REPO / "dist"
# What a missing module, package file, Qt plugin or model says on its way out.
MISSING_SIGNS = ("No module named", "ModuleNotFoundError", "PackageNotFoundError", "No package metadata",
                 "Qt platform plugin", "model is missing", "does not exist", "cannot open shared object file")


class StepFailed(AssertionError):
    """A command of the run ended badly, or printed a sign of a missing file; the message holds its output."""


@dataclass(frozen=True)
class Build:
    """How to start one build: its command line and its window launcher."""
    name: str
    cli: tuple[str, ...]
    gui: tuple[str, ...]


def venv_build(venv: Path = REPO / ".venv") -> Build:
    return Build("venv", (str(venv / "bin" / "pelage"),), (str(venv / "bin" / "python"), str(REPO / "packaging" / "pelage_gui.py")))


def frozen_build(folder: Path) -> Build:
    return Build("frozen", (str(folder / "pelage"),), (str(folder / "pelage-gui"),))


def newest_archive(dist: Path = DIST) -> Path | None:
    archives = sorted(dist.glob("pelage-*.tar.gz"), key=lambda path: path.stat().st_mtime)
    return archives[-1] if archives else None


def plain_environment(work: Path, **extra: str) -> dict[str, str]:
    """A user's environment: no virtual environment on PATH, no Python or Pelage variables, home folders in ``work``."""
    inherited = {key: value for key, value in os.environ.items()
                 if not key.startswith(("PYTHON", "PELAGE_", "VIRTUAL_ENV", "CONDA", "QT_", "XDG_", "LD_LIBRARY_PATH"))}
    path = [entry for entry in os.environ.get("PATH", "").split(os.pathsep)
            if entry and not (Path(entry).parent / "pyvenv.cfg").exists() and "pyenv" not in entry]
    home = work / "home"
    env = {**inherited, "PATH": os.pathsep.join(path or ["/usr/bin", "/bin"]), "HOME": str(home),
           "XDG_DATA_HOME": str(home / ".local" / "share"), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_CACHE_HOME": str(home / ".cache"), "XDG_STATE_HOME": str(home / ".local" / "state"),
           "QT_QPA_PLATFORM": "offscreen"}
    home.mkdir(parents=True, exist_ok=True)
    return {**env, **extra}


def run_step(command: list[str], env: dict[str, str], cwd: Path, timeout: float = 900) -> tuple[float, str]:
    """Run one command; its wall time and stdout. :class:`StepFailed` on a bad exit or a sign of a missing file."""
    start = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    output = result.stdout + result.stderr
    missing = [sign for sign in MISSING_SIGNS if sign in output]
    if result.returncode != 0 or missing:
        raise StepFailed(f"`{' '.join(command)}` exited {result.returncode}{' and printed ' + ', '.join(missing) if missing else ''}:\n"
                         f"{output[-4000:]}")
    return seconds, result.stdout


def run_demo(build: Build, work: Path, env: dict[str, str]) -> dict[str, float]:
    """``make demo``'s steps on the bundled demo survey in ``work``; seconds per step. Exports secr into work/export-secr."""
    pelage = list(build.cli)
    steps = {
        "demo-survey": [*pelage, "demo-survey", "survey"],
        "import": [*pelage, "import", "survey", "--project", "project"],
        "identify": [*pelage, "identify", "project"],
        "propose": [*pelage, "propose", "project", "--json"],
        "stations": [*pelage, "stations", "project", "--import", "survey/stations.csv"],
        "export secr": [*pelage, "export", "project", "--format", "secr", "--out", "export-secr"],
    }
    return {name: run_step(command, env, work)[0] for name, command in steps.items()}


def window_startup(build: Build, work: Path, env: dict[str, str], picture: Path, project: Path | None = None) -> float:
    """Seconds from starting the window launcher until it saved ``picture`` of the main window and quit."""
    command = [*build.gui, *([str(project)] if project else [])]
    if shutil.which("xvfb-run"):  # the desktop platform plugin (xcb) on a virtual X server, when there is one
        env = {**env, "QT_QPA_PLATFORM": "xcb"}
        command = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", *command]
    seconds, _ = run_step(command, {**env, "PELAGE_SCREENSHOT": str(picture)}, work, timeout=300)
    if not picture.is_file():
        raise StepFailed(f"{build.name}: the window launcher exited without saving {picture}")
    return seconds


def unpack(archive: Path, into: Path) -> Path:
    """Unpack the archive with the system's tar (as a user would) into an empty folder; the build's folder."""
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(into)], check=True)
    folders = [path for path in into.iterdir() if path.is_dir()]
    if len(folders) != 1:
        raise StepFailed(f"{archive.name} should hold one top folder, not {[path.name for path in folders]}")
    return folders[0]


def tree_listing(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())
