"""The ``pelage`` command's last resort: an exception nobody planned for is a bug, so the user gets one line
saying so and where the details are, and the traceback goes to a crash log they can send, not to the terminal."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import traceback
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import platformdirs

from pelage import __version__

MESSAGE_CHARS = 300  # of the exception's own message, so the line stays one readable line


def crash_log_dir(env: Mapping[str, str] | None = None) -> Path:
    """``PELAGE_HOME/logs`` when PELAGE_HOME is set (portable installs keep everything together), else the platform's
    user log folder."""
    env = os.environ if env is None else env
    home = env.get("PELAGE_HOME")
    return Path(home).expanduser() / "logs" if home else Path(platformdirs.user_log_dir("pelage", appauthor=False))


def write_crash_log(exc: BaseException, folder: Path, argv: list[str]) -> Path:
    """The traceback with what a report needs (version, command, platform) in a new file under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"crash-{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}.log"
    details = (f"Pelage {__version__}\nPython {sys.version.split()[0]} on {platform.platform()}\ncommand: pelage {' '.join(argv[1:])}\n\n"
               + "".join(traceback.format_exception(exc)))
    path.write_text(details, encoding="utf-8")
    return path


def report_crash(exc: BaseException, env: Mapping[str, str] | None = None, argv: list[str] | None = None) -> str:
    """Save the crash log (in the temporary folder if the log folder cannot be written) and return the line to print."""
    argv = sys.argv if argv is None else argv
    detail = " ".join(str(exc).split())[:MESSAGE_CHARS].rstrip(".") or "no message"
    problem = f"pelage: error: unexpected {type(exc).__name__}: {detail}. This is a bug in Pelage"
    failure: OSError | None = None
    for folder in (crash_log_dir(env), Path(tempfile.gettempdir()) / "pelage-logs"):
        try:
            log = write_crash_log(exc, folder, argv)
        except OSError as error:
            failure = error
            continue
        return f"{problem}; the details are in {log} — please send that file with a report."
    return f"{problem}; its details could not be saved ({failure}) — please report the command you ran."
