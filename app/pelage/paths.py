"""Where Pelage keeps per-user files (model weights), resolved once and passed around.

``PELAGE_HOME`` overrides the platform's user data folder, which lets tests and portable installs
keep everything in one place. A frozen build (PyInstaller) ships u2netp inside its bundle, so it needs no
install step; the bundle is only ever read, user files never go there.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

U2NETP_FILE = "u2netp.onnx"


@dataclass(frozen=True)
class UserPaths:
    home: Path

    @property
    def models(self) -> Path:
        """Detector weights the user installed (``pelage models install``)."""
        return self.home / "models"

    @property
    def user_rembg_home(self) -> Path:
        """Where ``pelage models install u2netp`` puts rembg's ONNX models."""
        return self.models / "rembg"

    @property
    def rembg_home(self) -> Path:
        """Folder rembg reads its ONNX models from (its ``U2NET_HOME``): the user's copy when there is one, else a
        frozen build's bundled copy, else the user's folder (where the missing-model message points)."""
        bundled = bundled_rembg_home()
        if bundled is not None and not (self.user_rembg_home / U2NETP_FILE).is_file() and (bundled / U2NETP_FILE).is_file():
            return bundled
        return self.user_rembg_home


def bundle_dir() -> Path | None:
    """The unpacked bundle of a frozen build (PyInstaller's ``sys._MEIPASS``); None when running from Python."""
    bundle = getattr(sys, "_MEIPASS", None)
    return Path(bundle) if bundle else None


def bundled_rembg_home() -> Path | None:
    """rembg's model folder inside a frozen build, where the build script puts u2netp."""
    bundle = bundle_dir()
    return bundle / "rembg" if bundle is not None else None


def resolve_user_paths(env: Mapping[str, str] | None = None) -> UserPaths:
    env = os.environ if env is None else env
    home = env.get("PELAGE_HOME") or platformdirs.user_data_dir("pelage", appauthor=False)
    return UserPaths(Path(home).expanduser())
