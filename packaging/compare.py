"""The frozen build beside the virtual environment, in one run: sizes, the window's start-up, the demo's steps.

    .venv/bin/python packaging/compare.py [--archive dist/pelage-….tar.gz] [--runs 3] [--screenshot FILE]

Unpacks the archive into an empty folder and runs both builds the same way (`tests/frozen.py`, what the smoke
test runs): a user's environment with no virtual environment on PATH, Qt offscreen (or on Xvfb when installed).
The window's start-up is from starting the launcher to its picture of the main window saved (median of --runs);
the demo is `make demo`'s steps on the bundled demo survey, twice for the frozen build (its first run fills the
user's numba cache). --screenshot keeps the frozen window's picture, on the demo project.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.frozen import (  # noqa: E402
    folder_bytes,
    frozen_build,
    newest_archive,
    plain_environment,
    run_demo,
    unpack,
    venv_build,
    window_startup,
)

MIB = 2**20


def median_startup(build, work: Path, env: dict[str, str], runs: int, picture: Path) -> float:
    return statistics.median(window_startup(build, work, env, picture) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=newest_archive())
    parser.add_argument("--venv", type=Path, default=REPO / ".venv")
    parser.add_argument("--runs", type=int, default=3, help="window start-ups per build (the median is printed)")
    parser.add_argument("--screenshot", type=Path, help="keep the frozen window's picture (on the demo project) here")
    args = parser.parse_args()
    if args.archive is None or not args.archive.is_file():
        sys.exit("no archive: run `make package` first, or pass --archive")

    with tempfile.TemporaryDirectory(prefix="pelage-compare-") as scratch:
        scratch = Path(scratch)
        folder = unpack(args.archive, scratch / "unpacked")
        builds = {"frozen": (frozen_build(folder), {}), "venv": (venv_build(args.venv), {"PELAGE_HOME": str(scratch / "venv-home")})}
        rembg = scratch / "venv-home" / "models" / "rembg"
        rembg.mkdir(parents=True)  # the venv reads u2netp from the user's folder, where `make setup` installs it
        shutil.copy2(folder / "_internal" / "rembg" / "u2netp.onnx", rembg)

        startup, demo = {}, {}
        for name, (build, extra) in builds.items():
            work = scratch / f"work-{name}"
            env = plain_environment(work, **extra)
            startup[name] = median_startup(build, work, env, args.runs, work / "empty-window.png")
            # The frozen build's first run compiles pymatting's numba code into the user's cache; the venv's is warm.
            for run in ("first", "again") if name == "frozen" else ("first",):
                (work / run).mkdir()
                demo[f"{name} {run}"] = run_demo(build, work / run, env)
            if name == "frozen" and args.screenshot:
                window_startup(build, work, env, args.screenshot.resolve(), project=work / "first" / "project")

        print(f"archive   {args.archive.name}: {args.archive.stat().st_size / MIB:,.0f} MiB, unpacked {folder_bytes(folder) / MIB:,.0f} MiB")
        print(f"window start-up (median of {args.runs}): frozen {startup['frozen']:.1f} s, venv {startup['venv']:.1f} s")
        print(f"{'demo step':16}" + "".join(f"{column:>15}" for column in demo))
        for step in demo["frozen first"]:
            print(f"{step:16}" + "".join(f"{times[step]:>14.1f}s" for times in demo.values()))
        print(f"{'total':16}" + "".join(f"{sum(times.values()):>14.1f}s" for times in demo.values()))


if __name__ == "__main__":
    main()
