"""Every row of the bad-input table (``tests/bad_inputs``) through the real ``pelage`` command: one clear
line naming the problem and the fix, a non-zero exit, no traceback, and nothing changed on disk."""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
from pathlib import Path

import pytest

import tests.bad_inputs as table
from tests.bad_inputs import BadInput
from tests.test_cli import pelage


def _all_cases() -> list[BadInput]:
    cases: list[BadInput] = []
    for module in pkgutil.iter_modules(table.__path__):
        cases.extend(importlib.import_module(f"{table.__name__}.{module.name}").CASES)
    return cases


CASES = _all_cases()


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` (symlinks not followed) with a digest of its bytes."""
    out = {}
    for path in sorted(folder.rglob("*")):
        key = path.relative_to(folder).as_posix()
        if path.is_symlink():
            out[key] = f"link:{path.readlink()}"
        elif path.is_dir():
            out[key] = "dir"
        else:
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def test_case_names_are_unique():
    names = [case.name for case in CASES]
    assert len(names) == len(set(names)) and len(names) >= 20


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_gives_one_clear_line_and_changes_nothing(case: BadInput, tmp_path, user_home):
    folder = tmp_path / "case"
    folder.mkdir()
    invocation = case.prepare(folder)
    args, env = invocation if isinstance(invocation, tuple) else (invocation, {})
    before = snapshot(folder)

    result = pelage(*args, check=False, env=env)

    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.returncode == case.exit_code, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("pelage: error: "), result.stderr
    for fragment in case.fragments:
        assert fragment in lines[0], (fragment, lines[0])
    after = snapshot(folder)
    changed = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    changed = {key for key in changed if not any(Path(key).match(pattern) for pattern in case.may_change)}
    assert not changed, f"the command changed {sorted(changed)}"
