"""The window's icon and stylesheet, read from the repository's ``resources/`` folder when it is there.

Both are optional: an installed wheel without them still runs, in Qt's default look.
"""

from __future__ import annotations

import os
from pathlib import Path

RESOURCES = Path(os.environ.get("PELAGE_RESOURCES", Path(__file__).resolve().parents[3] / "resources"))


def icon_path() -> Path | None:
    path = RESOURCES / "icons" / "pelage.svg"
    return path if path.is_file() else None


def stylesheet() -> str:
    path = RESOURCES / "styles" / "pelage.qss"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""
