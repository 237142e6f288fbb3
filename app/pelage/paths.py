"""Where Pelage keeps per-user files (model weights), resolved once and passed around.

``PELAGE_HOME`` overrides the platform's user data folder, which lets tests and portable installs
keep everything in one place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs


@dataclass(frozen=True)
class UserPaths:
    home: Path

    @property
    def models(self) -> Path:
        """Detector weights the user installed (``pelage models install``)."""
        return self.home / "models"

    @property
    def rembg_home(self) -> Path:
        """Folder rembg reads its ONNX models from (its ``U2NET_HOME``)."""
        return self.models / "rembg"


def resolve_user_paths(env: Mapping[str, str] | None = None) -> UserPaths:
    env = os.environ if env is None else env
    home = env.get("PELAGE_HOME") or platformdirs.user_data_dir("pelage", appauthor=False)
    return UserPaths(Path(home).expanduser())
