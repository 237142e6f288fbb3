"""The bad-input table (``tests/bad_inputs``) as figures: how each input a user can get wrong ends.

Every case runs through the real ``pelage`` command in a fresh folder, and is counted once as the first of:
``lost`` (a file under the case's folder changed), ``traceback`` (Python's traceback was printed),
``silent`` (exit status 0: the mistake went unnoticed), ``unclear`` (non-zero, but not one ``pelage: error:``
line holding the expected words) or ``clear`` (what every case must be).

    python bench/bad_inputs_bench.py [-k SUBSTRING] [--json]

To see how an older version of Pelage fares on the same table, pass that version's ``app`` folder
(``git worktree add /tmp/old COMMIT``, then ``--pelage-source /tmp/old/app``): the cases are still built by
this version, and only the ``pelage`` command under test is the old one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

from _common import REPO_ROOT, print_json

sys.path.insert(0, str(REPO_ROOT))  # the table lives with the tests

from tests.bad_inputs import BadInput  # noqa: E402
from tests.test_bad_inputs import CASES, snapshot  # noqa: E402
from tests.test_cli import pelage  # noqa: E402

OUTCOMES = ("clear", "unclear", "silent", "traceback", "lost", "setup failed")


def classify(case: BadInput, folder: Path, source: Path | None = None) -> tuple[str, str]:
    """Run one case in the empty ``folder``; returns its outcome and the last line it printed."""
    try:
        invocation = case.prepare(folder)
    except Exception as exc:  # an older Pelage may lack what the set-up uses
        return "setup failed", f"{type(exc).__name__}: {exc}"
    args, env = invocation if isinstance(invocation, tuple) else (invocation, {})
    if source is not None:
        env = {**env, "PYTHONPATH": str(source)}
    before = snapshot(folder)
    result = pelage(*args, check=False, env=env)
    after = snapshot(folder)
    changed = [key for key in before.keys() | after.keys()
               if before.get(key) != after.get(key) and not any(Path(key).match(p) for p in case.may_change)]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    printed = lines or result.stdout.strip().splitlines()
    last = printed[-1] if printed else ""
    if changed:
        return "lost", f"changed {sorted(changed)[:3]}"
    if "Traceback" in result.stdout + result.stderr:
        return "traceback", last
    if result.returncode == 0:
        return "silent", last
    clear = len(lines) == 1 and lines[0].startswith("pelage: error: ") and all(f in lines[0] for f in case.fragments)
    return ("clear" if clear else "unclear"), last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default="", help="only the cases whose name contains this")
    parser.add_argument("--json", action="store_true", help="one JSON line per case, then the counts")
    parser.add_argument("--pelage-source", type=Path, default=None, help="run the pelage command from this app/ folder instead")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="pelage-bad-inputs-"))
    user_home = home / "pelage-home" / "models" / "rembg"
    user_home.mkdir(parents=True)
    installed = Path(os.environ.get("PELAGE_HOME", Path.home() / ".local/share/pelage")) / "models/rembg/u2netp.onnx"
    if installed.is_file():
        (user_home / "u2netp.onnx").symlink_to(installed)
    os.environ["PELAGE_HOME"] = str(home / "pelage-home")
    counts: Counter[str] = Counter()
    try:
        for n, case in enumerate(c for c in CASES if args.k in c.name):
            folder = home / f"case-{n}"
            folder.mkdir()
            outcome, line = classify(case, folder, args.pelage_source)
            counts[outcome] += 1
            if args.json:
                print_json("case", {"case": case.name, "outcome": outcome, "line": line})
            else:
                print(f"{outcome:<13} {case.name:<58} {line[:160]}")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    summary = {"tried": sum(counts.values()), **{outcome: counts[outcome] for outcome in OUTCOMES}}
    print_json("bad inputs", summary) if args.json else print("  ".join(f"{key} {value}" for key, value in summary.items()))


if __name__ == "__main__":
    main()
