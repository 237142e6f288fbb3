"""Helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PELAGE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def shared_dataset(name: str) -> Path | None:
    path = SHARED_DATA / name
    if not path.is_dir():
        print(f"skipping {name}: {path} is not here", file=sys.stderr)
        return None
    return path


def print_json(label: str, payload: dict) -> None:
    print(f"{label} JSON: {json.dumps(payload, sort_keys=True)}")
