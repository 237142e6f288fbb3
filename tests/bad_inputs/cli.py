"""Mistyped command lines: click's own errors, on one line with where to read more."""

from __future__ import annotations

from pathlib import Path

from tests.bad_inputs import BadInput


def _argv(*args: str):
    def prepare(folder: Path) -> list[str]:
        return [part.replace("{folder}", str(folder)) for part in args]

    return prepare


CASES = [
    BadInput("cli-unknown-command", _argv("imprt", "{folder}"), ("No such command 'imprt'", "See `pelage --help`")),
    BadInput("cli-bad-time-priority", _argv("import", "{folder}", "--project", "{folder}/p", "--time-priority", "gps"),
             ("'gps'", "filename, exif, file_time", "See `pelage import --help`")),
    BadInput("cli-missing-required-option", _argv("export", "{folder}"), ("Missing option '--format'", "See `pelage export --help`")),
    BadInput("cli-json-without-project", _argv("models", "list", "--json"), ("--json needs a PROJECT", "See `pelage models list --help`")),
    BadInput("cli-number-expected", _argv("decide", "{folder}", "one", "2", "match"),
             ("'one' is not a valid integer", "See `pelage decide --help`")),
]
