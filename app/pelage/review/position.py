"""Where the reviewer was: the anchor on screen, kept in the project folder so review resumes there.

A small JSON file beside the project's settings, not the database (it is one reviewer's place, not a
decision, and it must survive a kill mid-review without a schema change) and not QSettings or pickle (a
project folder copied from someone else must never run code when read). Written atomically: a kill leaves
the old file or the new one. An unreadable file only means review starts by the store's own rule.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

POSITION_FILE = "review-position.json"


def load_position(root: Path) -> int | None:
    """The anchor that was on screen when review of the project at ``root`` last showed one, or None."""
    try:
        data = json.loads((Path(root) / POSITION_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    anchor = data.get("anchor") if isinstance(data, dict) else None
    return anchor if isinstance(anchor, int) and not isinstance(anchor, bool) else None


def save_position(root: Path, anchor_id: int) -> bool:
    """Remember ``anchor_id`` as the anchor on screen; False (and nothing changed) when the folder is read-only."""
    path = Path(root) / POSITION_FILE
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"anchor": int(anchor_id)}) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)
        return False
    return True
