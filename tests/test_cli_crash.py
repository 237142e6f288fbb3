"""The ``pelage`` command's last resort: an unexpected exception is one line naming the crash log, the traceback
is in that log (under PELAGE_HOME/logs, else the platform's log folder), and the exit status is 1."""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

import platformdirs
import pytest

from pelage.cli.crash import crash_log_dir, report_crash
from pelage.cli.main import main
from tests.bad_inputs.store import rename_a_table
from tests.test_export_formats import build_export_project

LINE = re.compile(r"pelage: error: unexpected (\w+): (.+)\. This is a bug in Pelage; the details are in (\S+) — "
                  r"please send that file with a report\.")


def test_an_unexpected_error_is_one_line_and_a_crash_log(tmp_path, monkeypatch, capsys):
    """A real one: a table renamed behind Pelage's back, which no check looks for."""
    project = build_export_project(tmp_path / "leopards")
    rename_a_table(project)
    monkeypatch.setenv("PELAGE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(sys, "argv", ["pelage", "info", str(project)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    kind, detail, log = LINE.fullmatch(lines[0]).groups()
    assert (kind, "no such table: detections" in detail) == ("OperationalError", True)
    assert Path(log).parent == tmp_path / "home" / "logs"
    details = Path(log).read_text()
    assert f"command: pelage info {project}" in details and "Traceback (most recent call last)" in details
    assert "no such table: detections" in details.splitlines()[-3] + details.splitlines()[-4]


def test_the_log_folder(tmp_path):
    assert crash_log_dir({"PELAGE_HOME": str(tmp_path)}) == tmp_path / "logs"
    assert crash_log_dir({}) == Path(platformdirs.user_log_dir("pelage", appauthor=False))


def test_a_log_folder_that_cannot_be_written_falls_back_to_the_temporary_folder(tmp_path, monkeypatch):
    (tmp_path / "home").write_text("PELAGE_HOME is a file here")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    line = report_crash(KeyError("anchor"), {"PELAGE_HOME": str(tmp_path / "home")}, ["pelage", "propose", "P"])
    kind, detail, log = LINE.fullmatch(line).groups()
    assert (kind, detail, Path(log).parent) == ("KeyError", "'anchor'", tmp_path / "tmp" / "pelage-logs")

    shutil.rmtree(tmp_path / "tmp")
    (tmp_path / "tmp").write_text("and so is the temporary folder")
    line = report_crash(RuntimeError("multi\nline\tmessage."), {"PELAGE_HOME": str(tmp_path / "home")}, ["pelage"])
    assert line.startswith("pelage: error: unexpected RuntimeError: multi line message. This is a bug in Pelage; its details could not")
    assert "\n" not in line
